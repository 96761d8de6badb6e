#!/usr/bin/env bash
# The device loop on the Pi's own platform: arm64 Debian bookworm (Raspberry Pi OS Bookworm 64-bit's
# base, Python 3.11) or, with --suite trixie, Debian 13 (Trixie's, Python 3.13), emulated with
# qemu-user on this x86_64 host. Root required.
#
#   sudo tests/arm64/run.sh                  # both Pi CPUs: cortex-a72 (Pi 4) and cortex-a76 (Pi 5)
#   sudo tests/arm64/run.sh --break bundle   # must FAIL: the arm64 side gets a subtly wrong bundle
#   sudo tests/arm64/run.sh --break cpu      # must FAIL: QEMU_CPU=max, where XNNPACK goes wrong
#   sudo tests/arm64/run.sh --suite trixie   # Debian 13 (Raspberry Pi OS Trixie's base, Python 3.13)
#
# Steps (docs/arm64.md has the why of each):
#   1. host: installs debootstrap + qemu-user-static if missing and registers qemu's aarch64 binfmt
#      handler (qemu-user-static's postinst only does that where PID 1 is systemd);
#   2. an arm64 bookworm (or trixie) rootfs (debootstrap minbase + PACKAGES, and an empty venv), cached as a tarball
#      keyed by its package list under $MOODPLAYER_ARM64_CACHE (default ~/.cache/moodplayer/arm64);
#   3. host: a short clip of a real FER2013 face, written twice (FFV1 lossless .mkv, mp4v .mp4), and
#      the x86 reference: a classifier probe on 14 faces and the headless loop's events on both clips;
#   4. a fresh copy of the rootfs: the host's extra CA certificates, then `pip install
#      --only-binary=:all:` of the working tree (the Pi's dependencies as aarch64 wheels, from the
#      index; the host venv's versions unless --latest), in a clean environment (env -i);
#   5. for each CPU: the same probe and loops under QEMU_CPU=<cpu>, with an arm64 /proc/cpuinfo of that
#      CPU bind-mounted (qemu 7.2 passes the host's x86 one through, and LiteRT then crashes);
#   6. host: tests/arm64/compare.py: same mood and song events; on the lossless clip also the same faces
#      and every class probability within 0.01; the probe within 0.01.
# Prints one summary line. Exit 0 pass; 1 a difference or a failed step; 2 usage; 77 cannot run here
# (not root, no binfmt_misc, no FER2013, ...), the reason on the summary line.
#
# Emulation is 75-200x slower than a real Pi: this proves installability and numbers, never speed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

SUITE=bookworm
ARCH=arm64
VARIANT=minbase
# packages_for SUITE: the rootfs's packages. Debian 13 renamed the libraries of its 64-bit time_t
# transition (libglib2.0-0 is libglib2.0-0t64 there; a virtual name cannot go to debootstrap --include).
packages_for() {
    case "$1" in
        bookworm) echo "python3 python3-venv libgl1 libglib2.0-0 libsdl2-2.0-0 ca-certificates" ;;
        trixie) echo "python3 python3-venv libgl1 libglib2.0-0t64 libsdl2-2.0-0 ca-certificates" ;;
        *) return 1 ;;
    esac
}
MIRROR="${MOODPLAYER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${MOODPLAYER_ARM64_CACHE:-${MOODPLAYER_CACHE:-${HOME:-/root}/.cache/moodplayer}/arm64}"
HOST_PYTHON="${HOST_PYTHON:-$ROOT/.venv/bin/python}"
CPUS="cortex-a72 cortex-a76"
CLIP_SECONDS=4
CLIP_FPS=8
TOLERANCE=0.01
BREAK=""
LATEST=0
KEEP=0
PREPARE_ONLY=0
PIP_EXTRA=()

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF
options:
  --suite NAME       the Debian release of the rootfs: bookworm (default; Pi OS Bookworm, Python 3.11)
                     or trixie (Pi OS Trixie, Python 3.13)
  --cpus "A B"       QEMU CPUs to run (default: "$CPUS"); each gets its own /proc/cpuinfo
  --break bundle     the arm64 side loads a copy of the bundle whose preprocessing std is 240, not 255
  --break cpu        run under QEMU_CPU=max (qemu's default CPU) instead of the Pi CPUs
  --latest           install the newest wheels instead of the host venv's versions
  --pip-extra SPEC   also pip install SPEC in the rootfs (repeatable): to try a dependency fix before
                     it is in pyproject.toml; the summary line names it
  --prepare          only install the host tools, register binfmt and build/cache the rootfs
  --keep             keep the work folder (rootfs copy, clips, events, logs) and say where it is
environment: MOODPLAYER_ARM64_CACHE (rootfs tarball + pip cache), MOODPLAYER_DEBIAN_MIRROR,
  HOST_PYTHON (default .venv/bin/python), FER2013_DIR (default ../shared/datasets/fer2013),
  TMPDIR (the work folder's parent; default /dev/shm if it has 2 GB free, else /var/tmp)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --suite) SUITE="$2"; shift 2
                 packages_for "$SUITE" >/dev/null || { echo "--suite takes bookworm or trixie" >&2; exit 2; } ;;
        --cpus) CPUS="$2"; shift 2 ;;
        --break) BREAK="$2"; shift 2
                 case "$BREAK" in bundle|cpu) ;; *) echo "--break takes bundle or cpu" >&2; exit 2 ;; esac ;;
        --latest) LATEST=1; shift ;;
        --pip-extra) PIP_EXTRA+=("$2"); shift 2 ;;
        --prepare) PREPARE_ONLY=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

PACKAGES="$(packages_for "$SUITE")"

T0=$(date +%s)
log() { printf '[arm64 %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
skip() { echo "arm64: SKIP ($*)"; exit 77; }
fail() { echo "arm64: FAIL ($*) after $(( $(date +%s) - T0 )) s"; exit 1; }

# -- 1. the host ----------------------------------------------------------------------------------

[ "$(uname -m)" = x86_64 ] || skip "the host is $(uname -m), not x86_64"
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, binfmt_misc, mounts): run it with sudo"
for tool in unshare chroot mount tar git; do
    command -v "$tool" >/dev/null || skip "no $tool on the host"
done

if [ "$PREPARE_ONLY" = 0 ]; then   # the x86 reference needs these; check before minutes of debootstrap
    PYGAME_HIDE_SUPPORT_PROMPT=1 "$HOST_PYTHON" -c "import edge, cv2, numpy, pygame" >/dev/null 2>&1 \
        || skip "no host Python with the project's deps at $HOST_PYTHON (set HOST_PYTHON, or make .venv)"
    FER="${FER2013_DIR:-$ROOT/../shared/datasets/fer2013}"
    [ -d "$FER/val" ] || skip "FER2013 not found at $FER (set FER2013_DIR): the clip needs real faces"
fi

if ! command -v debootstrap >/dev/null || [ ! -x /usr/bin/qemu-aarch64-static ]; then
    command -v apt-get >/dev/null || skip "no debootstrap/qemu-user-static and no apt-get to install them"
    log "installing debootstrap qemu-user-static binfmt-support on the host"
    aptlog="${TMPDIR:-/tmp}/moodplayer-arm64-apt.log"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        debootstrap qemu-user-static binfmt-support; } >"$aptlog" 2>&1 \
        || skip "could not install debootstrap qemu-user-static (see $aptlog)"
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
    log "registering the qemu-aarch64 binfmt handler ($conf)"
    grep -v '^#' "$conf" | head -n1 >"$BINFMT/register" 2>/dev/null \
        || skip "cannot register qemu-aarch64 with binfmt_misc"
fi
grep -q '^enabled' "$BINFMT/qemu-aarch64" || skip "the qemu-aarch64 binfmt handler is disabled"
# F: the kernel opens qemu at registration, so the chroot needs no copy of it.
grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" \
    || skip "qemu-aarch64 is registered without the F flag: a chroot cannot find the interpreter"

# -- helpers ----------------------------------------------------------------------------------------

mkdir -p "$CACHE/pip"
# The work folder (a ~0.7 GB rootfs copy) goes to /dev/shm when it is an exec-able tmpfs with 2 GB free:
# unpacking is faster there, and deleting 15k fresh files from a disk mounted with `discard` took 45 s.
# TMPDIR overrides.
work_parent() {
    if [ -n "${TMPDIR:-}" ]; then echo "$TMPDIR"; return; fi
    local opts
    opts=$(awk '$2 == "/dev/shm" && $3 == "tmpfs" {print $4}' /proc/mounts | tail -n1)
    if [ -n "$opts" ] && [[ ",$opts," != *,noexec,* ]] \
            && [ "$(df -Pk /dev/shm | awk 'NR == 2 {print $4}')" -ge 2097152 ]; then
        echo /dev/shm
    else
        echo /var/tmp
    fi
}
WORK="$(mktemp -d "$(work_parent)/moodplayer-arm64.XXXXXX")"
cleanup() {
    local rc=$?
    # Every mount is made in a private mount namespace (unshare) that is gone by now; refuse to delete
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
mkdir -p "$WORK/share/out"

# An arm64 /proc/cpuinfo for the emulated CPU, as on a Pi 4 (cortex-a72) or Pi 5 (cortex-a76): LiteRT's
# cpuinfo reads it to pick kernels, so its features must be the emulated CPU's.
cpuinfo() {
    local features part variant rev model
    case "$1" in
        cortex-a72) features="fp asimd evtstrm crc32 cpuid"; part=0xd08; variant=0x0; rev=3
                    model="Raspberry Pi 4 Model B Rev 1.5" ;;
        cortex-a76|max)
                    features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
                    part=0xd0b; variant=0x4; rev=1; model="Raspberry Pi 5 Model B Rev 1.0" ;;
        *) return 1 ;;
    esac
    for i in 0 1 2 3; do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$features"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$rev"
    done
    printf 'Model\t\t: %s\n' "$model"
}

# in_rootfs ROOTFS CPU CMD...: CMD in ROOTFS under QEMU_CPU=CPU, in a private mount namespace (every
# mount vanishes with it), with that CPU's cpuinfo, $WORK/share at /share, the pip cache, and a clean
# environment: none of the host's settings (PIP_*, proxies, PYTHON*) leak in.
in_rootfs() {
    local rfs=$1 cpu=$2; shift 2
    cpuinfo "$cpu" >"$WORK/cpuinfo.$cpu" || fail "no cpuinfo for QEMU CPU $cpu (cortex-a72, cortex-a76, max)"
    mkdir -p "$rfs/share" "$rfs/root/.cache/pip"
    unshare --mount --propagation private -- /bin/sh -eu -c '
        rfs=$1 cpuinfo=$2 share=$3 pipcache=$4; shift 4
        mount -t proc proc "$rfs/proc"
        mount --bind "$cpuinfo" "$rfs/proc/cpuinfo"
        # cpuinfo (in LiteRT) also reads the CPU lists in /sys: the same 4 cores, not the host'"'"'s.
        mount -t tmpfs -o size=1m tmpfs "$rfs/sys"
        mkdir -p "$rfs/sys/devices/system/cpu"
        for f in possible present online; do echo 0-3 >"$rfs/sys/devices/system/cpu/$f"; done
        mount --bind /dev "$rfs/dev"
        mount -t tmpfs -o size=64m tmpfs "$rfs/dev/shm"
        mount --bind "$share" "$rfs/share"
        mount --bind "$pipcache" "$rfs/root/.cache/pip"
        exec chroot "$rfs" "$@"' sh "$rfs" "$WORK/cpuinfo.$cpu" "$WORK/share" "$CACHE/pip" \
        /usr/bin/env -i PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$cpu" \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off PIP_ROOT_USER_ACTION=ignore \
        SDL_AUDIODRIVER=dummy SDL_VIDEODRIVER=dummy PYGAME_HIDE_SUPPORT_PROMPT=1 "$@"
}

# -- 2. the rootfs, cached ------------------------------------------------------------------------

if command -v zstd >/dev/null; then TAR_Z=--zstd; EXT=tar.zst; else TAR_Z=--gzip; EXT=tar.gz; fi
KEY=$(printf '%s\n' "v2 venv" "$SUITE" "$ARCH" "$VARIANT" $(printf '%s\n' $PACKAGES | sort) \
      | sha256sum | cut -c1-16)
TARBALL="$CACHE/rootfs-$SUITE-$ARCH-$KEY.$EXT"
CACHED=1
if [ ! -s "$TARBALL" ]; then
    CACHED=0
    build="$WORK/build"
    log "debootstrap $SUITE $ARCH $VARIANT + $PACKAGES from $MIRROR (minutes; cached after)"
    # In a private mount namespace too: the /proc and /sys debootstrap mounts cannot outlive it.
    if ! unshare --mount --propagation private -- debootstrap --arch="$ARCH" --variant="$VARIANT" \
            --include="${PACKAGES// /,}" "$SUITE" "$build" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        if grep -qE "Failed getting release file|Couldn't download|Temporary failure resolving|Could not resolve" \
                "$CACHE/debootstrap.log"; then
            skip "cannot reach $MIRROR to build the rootfs (offline?): see $CACHE/debootstrap.log"
        fi
        fail "debootstrap failed: see $CACHE/debootstrap.log"
    fi
    log "an empty venv in the rootfs (/opt/venv, Debian's pip)"
    in_rootfs "$build" cortex-a72 python3 -m venv /opt/venv >"$WORK/venv.log" 2>&1 \
        || { cat "$WORK/venv.log" >&2; fail "python3 -m venv failed in the rootfs"; }
    rm -rf "$build"/var/cache/apt/archives/*.deb "$build"/var/lib/apt/lists/*_Packages \
        "$build/share" "$build/root/.cache/pip"
    printf '%s\n' $PACKAGES >"$build/etc/moodplayer-arm64-packages"
    tar -C "$build" --numeric-owner -cpf "$TARBALL.$$" $TAR_Z .
    mv "$TARBALL.$$" "$TARBALL"
    rm -rf --one-file-system "$build"
    log "cached $TARBALL ($(du -h "$TARBALL" | cut -f1))"
else
    log "rootfs from the cache: $TARBALL"
fi
T_ROOTFS=$(( $(date +%s) - T0 ))
if [ "$PREPARE_ONLY" = 1 ]; then
    echo "arm64: PREPARED $TARBALL ($( [ $CACHED = 1 ] && echo cached || echo built )) in $T_ROOTFS s"
    exit 0
fi

# -- 3. the x86 reference -------------------------------------------------------------------------

log "x86 reference: a ${CLIP_SECONDS} s clip at $CLIP_FPS fps of a real face (mkv + mp4), probe, loops"
SDL_AUDIODRIVER=dummy SDL_VIDEODRIVER=dummy PYGAME_HIDE_SUPPORT_PROMPT=1 \
    "$HOST_PYTHON" -u "$HERE/reference.py" --fer "$FER" --out "$WORK/share" \
    --seconds "$CLIP_SECONDS" --fps "$CLIP_FPS" >"$WORK/host.log" 2>&1 \
    || { tail -n 30 "$WORK/host.log" >&2; fail "the x86 reference failed (host.log above)"; }

# -- 4. a fresh rootfs with the project installed -------------------------------------------------

RFS="$WORK/rootfs"
mkdir -p "$RFS"
log "unpacking the rootfs"
tar -C "$RFS" --numeric-owner -xpf "$TARBALL" $TAR_Z
# The working tree as it is (tracked and untracked files, not ignored ones), not git history.
mkdir -p "$RFS/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -C "$RFS/src" -xf -
[ -f "$RFS/src/pyproject.toml" ] || fail "could not copy the project into the rootfs"
MODEL=/src/models/default
if [ "$BREAK" = bundle ]; then
    # A bundle that loads and runs but is wrong: its model.json scales pixels by 1/240 instead of the 1/255
    # the model was trained with (a hand-edited or stale model.json; edge.bundle cannot check
    # preprocessing against the model, as it does the quantization and the file's SHA-256). Top labels
    # barely move; only the numbers can tell.
    cp -r "$RFS/src/models/default" "$RFS/src/models/broken"
    "$HOST_PYTHON" - "$RFS/src/models/broken/model.json" <<'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
meta["preprocessing"].update(mode="mean_std", std=[240.0] * len(meta["preprocessing"]["std"]))
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF
    MODEL=/src/models/broken
    log "--break bundle: the arm64 side loads $MODEL (preprocessing std 240, not 255)"
fi
cp /etc/resolv.conf "$RFS/etc/resolv.conf"
# The host's extra CA certificates (a TLS-intercepting proxy's, say): without them pip cannot reach the
# index. They go where update-ca-certificates looks, and into the bundle that Debian's pip reads (what
# update-ca-certificates would append; running it under emulation costs a minute or more).
mkdir -p "$RFS/usr/local/share/ca-certificates/host"
extra_certs=0
for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
    [ -f "$crt" ] || continue
    cp "$crt" "$RFS/usr/local/share/ca-certificates/host/"
    { cat "$crt"; echo; } >>"$RFS/etc/ssl/certs/ca-certificates.crt"
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

log "pip install --only-binary=:all: /src in the rootfs ($extra_certs extra CA certificate(s))"
T_INSTALL=$(date +%s)
# --no-compile: byte-compiling every installed module under emulation costs ~30 s; the runs compile
# what they import.
if ! in_rootfs "$RFS" cortex-a72 /bin/sh -euc '
        cd /share
        python -u -m pip install -q --no-compile --only-binary=:all: -c /share/constraints.txt /src "$@"
        python -u -m pip list --format=freeze' sh ${PIP_EXTRA[@]+"${PIP_EXTRA[@]}"} \
        >"$WORK/install.log" 2>&1; then
    tail -n 30 "$WORK/install.log" >&2
    # No route to the index at all is "cannot run here"; a TLS error (the CA trap) or a missing wheel is not.
    if ! grep -qE "SSLError|CERTIFICATE_VERIFY_FAILED" "$WORK/install.log" && grep -qE \
            "NewConnectionError|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused" \
            "$WORK/install.log"; then
        skip "the arm64 rootfs cannot reach the package index (offline?): see the pip output above"
    fi
    fail "pip install in the arm64 rootfs failed (install.log above)"
fi
T_INSTALL=$(( $(date +%s) - T_INSTALL ))
log "installed in $T_INSTALL s: $(grep -E '^(numpy|opencv-python-headless|ai-edge-litert|pygame|soundfile)==' \
    "$WORK/install.log" | tr '\n' ' ')"

# -- 5. the checks, per CPU ------------------------------------------------------------------------

if [ "$BREAK" = cpu ]; then
    log "--break cpu: QEMU_CPU=max (with a cortex-a76 cpuinfo) instead of $CPUS"
    CPUS=max
fi
RUNS=()
for cpu in $CPUS; do
    log "$cpu: the probe and the loop on both clips under QEMU_CPU=$cpu"
    t=$(date +%s)
    # The installed package (run from an empty folder, never the source tree); the bundle and songs
    # by path, because `pip install .` does not ship them.
    if ! in_rootfs "$RFS" "$cpu" /bin/sh -euc '
            cd /share/out
            python -u /share/probe.py --model "$1" --faces /share/faces.npy --out "/share/probe.$2.json"
            for kind in mkv mp4; do
                python -u -m edge --source "/share/clip.$kind" --model "$1" --songs /src/songs \
                    --events "/share/events.$2.$kind.jsonl" --events-frames
            done' sh "$MODEL" "$cpu" >"$WORK/$cpu.log" 2>&1; then
        tail -n 30 "$WORK/$cpu.log" >&2
        fail "$cpu: the probe or the loop failed under emulation ($cpu.log above)"
    fi
    RUNS+=("$cpu $(( $(date +%s) - t )) s")
done

# -- 6. compare -------------------------------------------------------------------------------------

set +e
summary=$("$HOST_PYTHON" "$HERE/compare.py" --dir "$WORK/share" --tolerance "$TOLERANCE" $CPUS)
rc=$?
set -e
total=$(( $(date +%s) - T0 ))
IFS=, ; runs="${RUNS[*]}"; unset IFS
state="rootfs $( [ $CACHED = 1 ] && echo "cached ${T_ROOTFS} s" || echo "built ${T_ROOTFS} s"), install ${T_INSTALL} s, ${runs//,/, }"
[ ${#PIP_EXTRA[@]} = 0 ] || state="$state; --pip-extra ${PIP_EXTRA[*]}"
if [ $rc = 0 ]; then
    echo "arm64: PASS [$SUITE] in ${total} s ($state): $summary"
else
    for cpu in $CPUS; do   # what the device said: its warnings and errors, once each
        grep -E ' (WARNING|ERROR) |Traceback|Error' "$WORK/$cpu.log" | grep -v '^Error in cpuinfo' \
            | sed -E 's/^[0-9:]+ //' | sort | uniq -c | sort -rn | head -n 6 | sed "s/^/$cpu log: /" >&2 || true
    done
    echo "arm64: FAIL [$SUITE] in ${total} s ($state)${BREAK:+ [--break $BREAK]}: $summary"
fi
exit $(( rc == 0 ? 0 : 1 ))
