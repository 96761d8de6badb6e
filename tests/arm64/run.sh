#!/usr/bin/env bash
# The device loop on the Pi's own platform: arm64 Debian bookworm (Raspberry Pi OS Bookworm 64-bit's
# base, Python 3.11), emulated with qemu-user on this x86_64 host.
#
#   sudo tests/arm64/run.sh                  # both Pi CPUs: cortex-a72 (Pi 4) and cortex-a76 (Pi 5)
#   sudo tests/arm64/run.sh --break bundle   # must FAIL: the arm64 side gets a subtly wrong bundle
#   sudo tests/arm64/run.sh --break cpu      # must FAIL: QEMU_CPU=max (XNNPACK returns wrong numbers)
#
# What it does (see docs/arm64.md):
#   1. host: installs debootstrap + qemu-user-static if missing, registers qemu's aarch64 binfmt handler
#      (qemu-user-static only does that where PID 1 is systemd);
#   2. builds an arm64 bookworm rootfs with debootstrap (minbase + PACKAGES), cached as a tarball keyed
#      by its package list under $MOODPLAYER_ARM64_CACHE (default ~/.cache/moodplayer/arm64);
#   3. host: makes a short video of a real FER2013 face (benchmarks.clips) and the x86 reference: a
#      classifier probe on the clip's faces and the headless loop's events with per-frame probabilities;
#   4. a fresh copy of the rootfs: the host's extra CA certificates, a venv, `pip install
#      --only-binary=:all:` of the project (the Pi's dependencies, as aarch64 wheels, from the index;
#      versions pinned to the host's unless --latest), in a clean environment (env -i);
#   5. for each CPU: the same probe and loop under QEMU_CPU=<cpu>, with an arm64 /proc/cpuinfo of that
#      CPU bind-mounted (qemu 7.2 passes the host's x86 one through and LiteRT then crashes);
#   6. host: tests/arm64/compare.py: same mood and song events, same faces, |Δprob| <= 0.01.
# One summary line at the end; exit 0 pass, 1 a difference or a failed step, 2 usage, 77 cannot run here
# (not root, no binfmt_misc, no FER2013, ...): the reason is on the summary line.
#
# Emulation is 75-200x slower than a real Pi: this proves installability and numbers, never speed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

SUITE=bookworm
ARCH=arm64
VARIANT=minbase
PACKAGES="python3 python3-venv libgl1 libglib2.0-0 libsdl2-2.0-0 ca-certificates"
MIRROR="${MOODPLAYER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${MOODPLAYER_ARM64_CACHE:-${MOODPLAYER_CACHE:-${HOME:-/root}/.cache/moodplayer}/arm64}"
HOST_PYTHON="${HOST_PYTHON:-$ROOT/.venv/bin/python}"
CPUS="cortex-a72 cortex-a76"
SECONDS_PER_CLIP=4
FPS=8
TOLERANCE=0.01
BREAK=""
LATEST=0
KEEP=0
PREPARE_ONLY=0

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF
options:
  --cpus "A B"       QEMU CPUs to run (default: "$CPUS"; each gets its own /proc/cpuinfo)
  --break bundle     give the arm64 side a bundle with a wrong input zero point (loads, runs, differs)
  --break cpu        run under QEMU_CPU=max (qemu's default CPU) instead: XNNPACK goes wrong
  --latest           install the newest wheels instead of the host venv's versions
  --prepare          only install host tools, register binfmt and build/cache the rootfs
  --keep             keep the work folder (rootfs copy, clip, events) and print where it is
environment: MOODPLAYER_ARM64_CACHE (rootfs + pip cache), MOODPLAYER_DEBIAN_MIRROR, HOST_PYTHON,
  FER2013_DIR
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --cpus) CPUS="$2"; shift 2 ;;
        --break) BREAK="$2"; shift 2
                 case "$BREAK" in bundle|cpu) ;; *) echo "--break takes bundle or cpu" >&2; exit 2 ;; esac ;;
        --latest) LATEST=1; shift ;;
        --prepare) PREPARE_ONLY=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

T0=$(date +%s)
log() { printf '[arm64 %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
skip() { echo "arm64: SKIP ($*)"; exit 77; }
fail() { echo "arm64: FAIL ($*) after $(( $(date +%s) - T0 )) s"; exit 1; }

# -- 1. the host ----------------------------------------------------------------------------------

[ "$(uname -m)" = x86_64 ] || skip "the host is $(uname -m), not x86_64"
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, binfmt_misc, mounts): run it with sudo"
for tool in unshare chroot mount tar; do
    command -v "$tool" >/dev/null || skip "no $tool on the host"
done

if ! command -v debootstrap >/dev/null || [ ! -x /usr/bin/qemu-aarch64-static ]; then
    command -v apt-get >/dev/null || skip "no debootstrap/qemu-user-static and no apt-get to install them"
    log "installing debootstrap qemu-user-static binfmt-support on the host"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        debootstrap qemu-user-static binfmt-support; } >"${TMPDIR:-/tmp}/moodplayer-arm64-apt.log" 2>&1 \
        || skip "could not install debootstrap qemu-user-static (see ${TMPDIR:-/tmp}/moodplayer-arm64-apt.log)"
fi

# qemu-user-static's postinst registers the handler through systemd-binfmt (or update-binfmts); where
# PID 1 is not systemd neither has run. Register it by hand; harmless if it already is.
BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
        || skip "binfmt_misc is not mounted and cannot be (a container without CAP_SYS_ADMIN?)"
fi
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [ -r "$conf" ] || skip "no $conf from qemu-user-static"
    log "registering the qemu-aarch64 binfmt handler"
    grep -v '^#' "$conf" | head -n1 >"$BINFMT/register" 2>/dev/null \
        || skip "cannot register qemu-aarch64 with binfmt_misc"
fi
grep -q '^enabled' "$BINFMT/qemu-aarch64" || skip "the qemu-aarch64 binfmt handler is disabled"
grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" \
    || skip "qemu-aarch64 is registered without the F flag: the chroot cannot find the interpreter"

# -- 2. the rootfs, cached ------------------------------------------------------------------------

mkdir -p "$CACHE"
if command -v zstd >/dev/null; then TAR_Z=--zstd; EXT=tar.zst; else TAR_Z=--gzip; EXT=tar.gz; fi
KEY=$(printf '%s\n' "v1" "$SUITE" "$ARCH" "$VARIANT" $(printf '%s\n' $PACKAGES | sort) | sha256sum | cut -c1-16)
TARBALL="$CACHE/rootfs-$SUITE-$ARCH-$KEY.$EXT"
CACHED=1
if [ ! -s "$TARBALL" ]; then
    CACHED=0
    build="$CACHE/build-$KEY.$$"
    log "debootstrap $SUITE $ARCH $VARIANT (+ $PACKAGES) from $MIRROR: a few minutes, once"
    rm -rf "$build"
    if ! debootstrap --arch="$ARCH" --variant="$VARIANT" --include="${PACKAGES// /,}" \
            "$SUITE" "$build" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        if mountpoint -q "$build/proc" 2>/dev/null; then umount -l "$build/proc" || true; fi
        fail "debootstrap failed: see $CACHE/debootstrap.log"
    fi
    for m in proc sys dev/pts dev; do   # debootstrap unmounts its own; be sure before tar and rm
        if mountpoint -q "$build/$m" 2>/dev/null; then umount -l "$build/$m"; fi
    done
    rm -rf "$build"/var/cache/apt/archives/*.deb "$build"/var/lib/apt/lists/*_Packages
    printf '%s\n' $PACKAGES >"$build/etc/moodplayer-arm64-packages"
    tar -C "$build" --numeric-owner -cpf "$TARBALL.tmp" $TAR_Z .
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf --one-file-system "$build"
    log "cached $TARBALL ($(du -h "$TARBALL" | cut -f1))"
else
    log "rootfs from cache: $TARBALL"
fi
if [ "$PREPARE_ONLY" = 1 ]; then
    echo "arm64: PREPARED rootfs $TARBALL ($( [ $CACHED = 1 ] && echo cached || echo built )) in $(( $(date +%s) - T0 )) s"
    exit 0
fi

# -- 3. the x86 reference -------------------------------------------------------------------------

"$HOST_PYTHON" -c "import edge, cv2, numpy" 2>/dev/null \
    || skip "no host Python with the project's deps at $HOST_PYTHON (set HOST_PYTHON, or make .venv)"
FER="${FER2013_DIR:-$ROOT/../shared/datasets/fer2013}"
[ -d "$FER/val" ] || skip "FER2013 not found at $FER (set FER2013_DIR): the clip needs real faces"

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/moodplayer-arm64.XXXXXX")"
RFS="$WORK/rootfs"
cleanup() {
    local rc=$?
    # Every mount was made in a private mount namespace (unshare) that is gone by now; refuse to delete
    # anything that still has a mount under it all the same.
    if grep -q " $WORK/" /proc/self/mounts; then
        echo "arm64: left $WORK in place: something is still mounted under it" >&2
    elif [ "$KEEP" = 1 ]; then
        echo "arm64: kept $WORK" >&2
    else
        rm -rf --one-file-system "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/share/out" "$RFS"

log "x86 reference: a ${SECONDS_PER_CLIP} s clip at $FPS fps of a real face, the probe and the loop"
SDL_AUDIODRIVER=dummy SDL_VIDEODRIVER=dummy PYGAME_HIDE_SUPPORT_PROMPT=1 TF_CPP_MIN_LOG_LEVEL=3 \
    "$HOST_PYTHON" -u "$HERE/reference.py" --fer "$FER" --out "$WORK/share" \
    --seconds "$SECONDS_PER_CLIP" --fps "$FPS" >"$WORK/host.log" 2>&1 \
    || { tail -n 30 "$WORK/host.log" >&2; fail "the x86 reference failed (host.log above)"; }

# -- 4. a fresh rootfs with the project installed -------------------------------------------------

log "unpacking the rootfs"
tar -C "$RFS" --numeric-owner -xpf "$TARBALL" $TAR_Z
# The project as it is in the working tree (tracked and untracked, not ignored), never git history.
mkdir -p "$RFS/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard 2>/dev/null \
    | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -C "$RFS/src" -xf -
[ -f "$RFS/src/pyproject.toml" ] || fail "could not copy the project into the rootfs"
cp "$HERE/probe.py" "$RFS/src/.arm64-probe.py"
MODEL=/src/models/default
if [ "$BREAK" = bundle ]; then
    # A bundle that loads and runs but is wrong: its int8 input zero point is off by 10 (a converter
    # bug or a stale model.json); only the numbers can tell.
    cp -r "$RFS/src/models/default" "$RFS/src/models/broken"
    "$HOST_PYTHON" - "$RFS/src/models/broken/model.json" <<'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
meta["quantization"]["input_zero_point"] += 10
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF
    MODEL=/src/models/broken
    log "--break bundle: the arm64 side loads $MODEL (input zero point +10)"
fi
cp /etc/resolv.conf "$RFS/etc/resolv.conf"
mkdir -p "$RFS/usr/local/share/ca-certificates/host"
extra_certs=0
for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
    [ -f "$crt" ] || continue
    cp "$crt" "$RFS/usr/local/share/ca-certificates/host/"
    extra_certs=$((extra_certs + 1))
done
# Versions: the host venv's, so that a difference is the platform's, not a release's.
: >"$WORK/share/constraints.txt"
if [ "$LATEST" = 0 ]; then
    "$HOST_PYTHON" - >"$WORK/share/constraints.txt" <<'EOF'
from importlib.metadata import PackageNotFoundError, version
for name in ("numpy", "opencv-python-headless", "ai-edge-litert", "pygame"):
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        pass
EOF
fi
mkdir -p "$CACHE/pip" "$RFS/root/.cache/pip" "$RFS/share"

# arm64 /proc/cpuinfo for the emulated CPU: 4 cores, as on a Pi 4 / Pi 5.
cpuinfo() {  # cpu -> the file's text
    local features part variant rev model
    case "$1" in
        cortex-a72) features="fp asimd evtstrm crc32 cpuid"; part=0xd08; variant=0x0; rev=3
                    model="Raspberry Pi 4 Model B Rev 1.5" ;;
        cortex-a76|max) features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
                    part=0xd0b; variant=0x4; rev=1; model="Raspberry Pi 5 Model B Rev 1.0" ;;
        *) return 1 ;;
    esac
    for i in 0 1 2 3; do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$features"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$rev"
    done
    printf 'Model\t\t: %s\n' "$model"
}

# Run a command in the rootfs under QEMU_CPU=$1, with a private mount namespace (the mounts vanish with
# it), an arm64 cpuinfo for that CPU and a clean environment: nothing of the host's leaks in.
in_rootfs() {
    local cpu=$1; shift
    cpuinfo "$cpu" >"$WORK/cpuinfo.$cpu" || fail "no cpuinfo for QEMU CPU $cpu (cortex-a72, cortex-a76, max)"
    unshare --mount --propagation private -- /bin/sh -eu -c '
        rfs=$1 cpuinfo=$2 share=$3 pipcache=$4; shift 4
        mount -t proc proc "$rfs/proc"
        mount --bind "$cpuinfo" "$rfs/proc/cpuinfo"
        mount --bind /dev "$rfs/dev"
        mount -t tmpfs -o size=64m tmpfs "$rfs/dev/shm" 2>/dev/null || true
        mount --bind "$share" "$rfs/share"
        mount --bind "$pipcache" "$rfs/root/.cache/pip"
        exec chroot "$rfs" "$@"' sh "$RFS" "$WORK/cpuinfo.$cpu" "$WORK/share" "$CACHE/pip" \
        /usr/bin/env -i PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$cpu" \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off PIP_ROOT_USER_ACTION=ignore \
        SDL_AUDIODRIVER=dummy SDL_VIDEODRIVER=dummy PYGAME_HIDE_SUPPORT_PROMPT=1 "$@"
}

INSTALL_CPU=cortex-a72
log "in the rootfs: $extra_certs extra CA certificate(s), a venv, pip install --only-binary=:all: /src"
T_INSTALL=$(date +%s)
if ! in_rootfs "$INSTALL_CPU" /bin/sh -euc '
        update-ca-certificates >/dev/null 2>&1
        python3 -m venv /opt/venv
        cd /share
        /opt/venv/bin/python -u -m pip install -q --only-binary=:all: -c /share/constraints.txt /src
        /opt/venv/bin/python -u -m pip list --format=freeze' >"$WORK/install.log" 2>&1; then
    tail -n 30 "$WORK/install.log" >&2
    fail "pip install in the arm64 rootfs failed (install.log above)"
fi
T_INSTALL=$(( $(date +%s) - T_INSTALL ))
log "installed in $T_INSTALL s: $(grep -E '^(numpy|opencv-python-headless|ai-edge-litert|pygame)==' "$WORK/install.log" | tr '\n' ' ')"

# -- 5. the checks, per CPU ------------------------------------------------------------------------

if [ "$BREAK" = cpu ]; then
    log "--break cpu: running under QEMU_CPU=max instead of $CPUS"
    CPUS=max
fi
RUNS=()
for cpu in $CPUS; do
    log "$cpu: probe + loop under QEMU_CPU=$cpu (emulated: slow)"
    t=$(date +%s)
    # The installed package, run from outside the source tree; the bundle and songs by path.
    if ! in_rootfs "$cpu" /bin/sh -euc '
            cd /share/out
            python -u /src/.arm64-probe.py --model "$1" --faces /share/faces.npy --out "probe.$2.json"
            python -u -m edge --source /share/clip.mp4 --model "$1" --songs /src/songs \
                --events "events.$2.jsonl" --events-frames' sh "$MODEL" "$cpu" >"$WORK/$cpu.log" 2>&1; then
        tail -n 30 "$WORK/$cpu.log" >&2
        fail "$cpu: the probe or the loop failed under emulation ($cpu.log above)"
    fi
    RUNS+=("$cpu=$(( $(date +%s) - t ))")
done

# -- 6. compare -------------------------------------------------------------------------------------

set +e
summary=$("$HOST_PYTHON" "$HERE/compare.py" --dir "$WORK/share" --tolerance "$TOLERANCE" $CPUS)
rc=$?
set -e
total=$(( $(date +%s) - T0 ))
state="rootfs $( [ $CACHED = 1 ] && echo cached || echo built ), install ${T_INSTALL}s, ${RUNS[*]/%/s}"
if [ $rc = 0 ]; then
    echo "arm64: PASS $summary; ${total} s ($state)"
else
    echo "arm64: FAIL $summary; ${total} s ($state)${BREAK:+ [--break $BREAK]}"
fi
exit $(( rc == 0 ? 0 : 1 ))
