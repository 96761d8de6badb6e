"""The Raspberry Pi boot service: the unit's sandbox, the installer, sd_notify and the watchdog, a camera
that goes away and comes back, and a clean stop on SIGTERM. Nothing here needs root or a real camera."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import edge.sources as sources
from benchmarks import clips
from edge import config as configs
from edge.cli import main
from edge.loop import run
from edge.sources import Resilient, Source, SourceError
from edge.systemd import Notifier, ServiceHooks
from edge.types import Frame
from tests.rig import NotifySocket, exposure, mode, unit_settings

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "moodplayer.service"
SONGS = ROOT / "songs"
MAX_EXPOSURE = 1.5


# -- helpers -----------------------------------------------------------------------------------------

@pytest.fixture
def notify_socket():
    ns = NotifySocket()
    yield ns
    ns.close()


class World:
    """A fake USB camera's world: after ``fail_at`` frames it is unplugged (reads fail), and it refuses
    ``down_tries`` opens before it is back; ``hang`` makes a read block until ``release``."""

    def __init__(self, fail_at: int | None = None, down_tries: int = 0, delay: float = 0.005) -> None:
        self.fail_at, self.down_tries, self.delay = fail_at, down_tries, delay
        self.frames = 0
        self.opens = 0
        self.refused = 0
        self.gen = 0  # bumped on unplug: cameras opened before it only fail
        self.unplugged = False
        self.hang, self.hung, self.release = threading.Event(), threading.Event(), threading.Event()
        self.image = clips.background(kind="texture", seed=4)[:120, :160].copy()

    def camera_class(self) -> type:
        world = self

        class FakeCamera(Source):
            live = True

            def __init__(self, device, cfg=None):
                super().__init__()
                if world.unplugged:
                    if world.refused < world.down_tries:
                        world.refused += 1
                        raise SourceError(f"camera {device} did not open")
                    world.unplugged = False
                self.device, self.name, self.fps = device, f"camera {device}", 30.0
                self.gen, self.n = world.gen, 0
                world.opens += 1

            def read(self):
                if self._closed:
                    return None
                if world.hang.is_set():
                    world.hung.set()
                    world.release.wait(10)
                if world.fail_at is not None and world.frames >= world.fail_at and world.gen == 0:
                    world.unplugged, world.gen = True, 1
                if self.gen != world.gen or world.unplugged:
                    return None
                time.sleep(world.delay)
                frame = Frame(world.image, self.n / 30.0, self.n)  # every camera starts its own clock at 0
                self.n += 1
                world.frames += 1
                return frame

        return FakeCamera


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(Resilient, "FIRST_BACKOFF_S", 0.01)
    monkeypatch.setattr(Resilient, "MAX_BACKOFF_S", 0.05)
    monkeypatch.setattr(Resilient, "TICK_S", 0.02)


def fake_camera(monkeypatch, world: World) -> None:
    """``--source 3`` opens the world's fake camera (through open_source, so it comes wrapped)."""
    monkeypatch.setattr(sources, "CameraSource", world.camera_class())


def camera_cfg(**overrides) -> configs.Config:
    return configs.load(None, {"source.spec": "3", "music.enabled": False, "output.log_every": 0, **overrides})


# -- the unit ----------------------------------------------------------------------------------------

def test_unit_is_hardened_and_scores_an_exposure_of_1_5_or_lower(tmp_path):
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"] and s["WatchdogSec"] and s["Restart"] == ["on-failure"]
    assert s["StartLimitIntervalSec"] and s["StartLimitBurst"]
    assert s["PrivateNetwork"] == ["yes"] and s["IPAddressDeny"] == ["any"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX"] and s["DevicePolicy"] == ["closed"]
    assert s["ProtectSystem"] == ["strict"] and s["ProtectHome"] == ["yes"] and s["NoNewPrivileges"] == ["yes"]
    assert s["StateDirectory"] == ["moodplayer"] and "SDL_AUDIODRIVER=alsa" in s["Environment"]
    allowed = {entry.split()[0] for entry in s["DeviceAllow"]}
    assert allowed == {"char-video4linux", "char-media", "char-dma_heap", "char-drm", "char-alsa"}
    assert "--headless" in s["ExecStart"][0] and "/etc/moodplayer/config.toml" in s["ExecStart"][0]
    score = exposure(UNIT)
    print(f"systemd-analyze security: overall exposure {score}")
    assert score <= MAX_EXPOSURE
    # The unit the installer writes (its own venv and user) scores the same.
    assert main(["install", "--root", str(tmp_path), "--venv", "/srv/mp/venv", "--user", "mp"]) == 0
    assert exposure(tmp_path / "etc/systemd/system/moodplayer.service") == score


def syscall_set(group: str, analyze: str) -> set[str]:
    """The system calls of ``@group`` (nested groups expanded), as systemd-analyze lists them."""
    out = subprocess.run([analyze, "syscall-filter", group], capture_output=True, text=True, timeout=30).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line.startswith("@"):
            names |= syscall_set(line, analyze)
        elif line and not line.startswith("#"):
            names.add(line)
    return names


def unit_syscalls(filters: list[str], analyze: str) -> set[str]:
    """What a unit's ``SystemCallFilter=`` lines allow, read as systemd does: the first line (an allow-
    list here) sets the set, each later ``~`` line takes its calls out, each plain line puts them back."""
    allowed: set[str] = set()
    for i, line in enumerate(filters):
        deny = line.startswith("~")
        names = set().union(*(syscall_set(w, analyze) if w.startswith("@") else {w} for w in line.lstrip("~").split()))
        assert i or not deny, "the unit's first SystemCallFilter= is an allow-list"
        allowed = allowed - names if deny else allowed | names
    return allowed


UNDER_FILTER = r"""
import ctypes, errno, json, sys, threading
lib = ctypes.CDLL("libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
from edge.music.analysis import lower_thread_priority  # imported before the filter, as the service has it
ctx = lib.seccomp_init(0x00050000 | errno.EPERM)  # SystemCallErrorNumber=EPERM for everything else
for name in json.loads(sys.argv[1]):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0:
        assert lib.seccomp_rule_add(ctx, 0x7FFF0000, nr, 0) == 0, name
assert lib.seccomp_load(ctx) == 0
result = {}
thread = threading.Thread(target=lambda: result.update(nice=lower_thread_priority()))
thread.start()
thread.join()
print(json.dumps(result))
"""


def test_the_song_analysis_thread_is_niced_under_the_units_syscall_filter():
    """The unit's own SystemCallFilter=, applied with libseccomp to a real process: the analysis thread's
    setpriority works (its nice value goes up by 10). Without the unit's setpriority line it is refused."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: it lists the calls behind the unit's @groups")
    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp.so.2 is not installed (apt install libseccomp2)")
    filters = unit_settings(UNIT.read_text())["SystemCallFilter"]
    assert unit_settings(UNIT.read_text())["SystemCallErrorNumber"] == ["EPERM"]

    def nice_under(lines: list[str]) -> int | None:
        allowed = sorted(unit_syscalls(lines, analyze))
        out = subprocess.run([sys.executable, "-c", UNDER_FILTER, json.dumps(allowed)], capture_output=True,
                             text=True, timeout=60, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])["nice"]

    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert nice_under(filters) == min(19, base + 10)
    assert nice_under([f for f in filters if f != "setpriority"]) is None  # how the unit was before


# -- the installer -----------------------------------------------------------------------------------

def test_installer_writes_unit_user_and_config_into_a_root(tmp_path, capsys):
    venv = Path(sys.prefix)
    assert main(["install", "--root", str(tmp_path), "--venv", str(venv)]) == 0
    out = capsys.readouterr().out
    unit = tmp_path / "etc/systemd/system/moodplayer.service"
    users = tmp_path / "etc/sysusers.d/moodplayer.conf"
    config = tmp_path / "etc/moodplayer/config.toml"
    for path in (unit, users, config):
        assert mode(path) == 0o644, path
    for folder in (unit.parent, users.parent, config.parent):
        assert mode(folder) == 0o755, folder
    s = unit_settings(unit.read_text())
    assert s["ExecStart"] == [f"{venv}/bin/python -m edge --headless --config /etc/moodplayer/config.toml "
                              "--control-socket /run/moodplayer/control.sock"]
    assert s["User"] == ["moodplayer"] and s["Group"] == ["moodplayer"]
    assert s["Documentation"] == [f"file://{ROOT}/docs/raspberry-pi.md"]
    lines = users.read_text().splitlines()
    assert 'u moodplayer - "moodplayer service" /var/lib/moodplayer -' in lines
    assert {"m moodplayer video", "m moodplayer audio", "m moodplayer render"} <= set(lines)
    cfg = configs.load(config)  # the commented config is valid and says where the songs are
    assert cfg.source.spec == "auto" and cfg.music.songs == str(ROOT / "songs") and cfg.output.headless
    assert getattr(cfg.music, "state_dir", "/var/lib/moodplayer") == "/var/lib/moodplayer"
    assert "# audio_device" in config.read_text() and "audio-devices" in config.read_text()
    # No root and no systemctl for real: the commands are only shown.
    assert "would run" in out and "systemctl enable moodplayer.service" in out and "systemd-sysusers" in out

    # Again, with a config the owner changed: that one is kept, the unit is rewritten for another user.
    config.write_text('[music]\nvolume = 0.3\n')
    assert main(["install", "--root", str(tmp_path), "--venv", str(venv), "--user", "mood"]) == 0
    assert "kept" in capsys.readouterr().out
    assert config.read_text() == '[music]\nvolume = 0.3\n'
    assert unit_settings(unit.read_text())["User"] == ["mood"]
    assert "m mood video" in users.read_text()


def test_installer_checks_a_kept_config_and_names_its_bad_key(tmp_path, capsys):
    config = tmp_path / "etc/moodplayer/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[detect]\nevrey = 3\n")
    args = ["install", "--root", str(tmp_path), "--venv", sys.prefix]
    assert main(args) == 0  # a warning: the files are written, the config kept as it is
    err = capsys.readouterr().err
    assert "warning: the kept config would stop the service" in err and "'detect.evrey'" in err
    assert "did you mean 'every'" in err and config.read_text() == "[detect]\nevrey = 3\n"
    unit = tmp_path / "etc/systemd/system/moodplayer.service"
    unit.unlink()
    assert main([*args, "--check"]) == 2  # --check: an error, and nothing written
    assert "error: the kept config would stop the service" in capsys.readouterr().err and not unit.exists()
    config.write_text("[detect]\nevery = 3\n")
    assert main([*args, "--check"]) == 0 and unit.is_file()
    assert not [p for p in unit.parent.iterdir() if p.name.startswith(".")]  # no temporary files left behind


def test_installer_dry_run_bad_user_and_shell_wrapper(tmp_path, capsys):
    assert main(["install", "--root", str(tmp_path), "--dry-run"]) == 0
    assert "would write" in capsys.readouterr().out and not any(tmp_path.iterdir())
    assert main(["install", "--root", str(tmp_path), "--user", "Root; rm"]) == 2
    assert "not a valid user name" in capsys.readouterr().err
    out = subprocess.run(["sh", str(ROOT / "systemd/install.sh"), "--root", str(tmp_path / "r"), "--no-start"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "MOODPLAYER_VENV": sys.prefix})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r/etc/systemd/system/moodplayer.service").is_file()
    assert "systemctl restart" not in out.stdout and "systemctl enable" in out.stdout
    assert os.access(ROOT / "systemd/install.sh", os.X_OK)


# -- sd_notify ---------------------------------------------------------------------------------------

def test_notifier_speaks_to_path_and_abstract_sockets_and_is_silent_elsewhere(tmp_path, notify_socket):
    assert not Notifier({}).enabled and Notifier({}).send("READY=1") is False
    n = Notifier({"NOTIFY_SOCKET": notify_socket.env, "WATCHDOG_USEC": "4000000"})
    assert n.enabled and n.watchdog_s == 4.0
    assert n.send("READY=1", "STATUS=multi\nline")
    assert notify_socket.recv(1) == "READY=1\nSTATUS=multi line"
    path_socket = NotifySocket(tmp_path / "notify")
    try:
        assert Notifier({"NOTIFY_SOCKET": path_socket.env}).send("WATCHDOG=1")
        assert path_socket.recv(1) == "WATCHDOG=1"
    finally:
        path_socket.close()
    # The watchdog is someone else's (WATCHDOG_PID names another process): no pings from us.
    other = Notifier({"NOTIFY_SOCKET": notify_socket.env, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None
    # A socket that is gone: send says False, nothing raises.
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")}).send("READY=1") is False
    # A socket nobody reads fills up: messages are dropped, the camera loop never blocks on it.
    start = time.monotonic()
    sent = [n.send("WATCHDOG=1") for _ in range(2000)]
    assert False in sent and time.monotonic() - start < 5


def test_watchdog_pings_are_throttled_and_stop_when_frames_stop(monkeypatch, notify_socket):
    world = World(delay=0.01)
    fake_camera(monkeypatch, world)
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.env)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # 0.2 s: pings at most every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    hooks = ServiceHooks()
    stop = threading.Event()
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(stats=run(camera_cfg(), stop, hooks.on_frame,
                                                                     hooks.on_source)))
    thread.start()
    try:
        first = notify_socket.wait_for("READY=1", timeout=30)
        assert "WATCHDOG=1" not in "".join(first[:-1])  # no pings before the first frame went through
        flowing = time.monotonic()
        pings = 0
        while pings < 3:
            pings += "WATCHDOG=1" in "".join(notify_socket.wait_for("WATCHDOG=1", timeout=10))
        elapsed = time.monotonic() - flowing
        assert hooks.pings <= elapsed / 0.1 + 2, (hooks.pings, elapsed)  # throttled to WATCHDOG_USEC / 2
        assert hooks.frames > hooks.pings
        # The camera hangs in read(): frames stop, and so do the pings.
        world.hang.set()
        assert world.hung.wait(10)
        notify_socket.drain()
        frames = hooks.frames
        time.sleep(0.6)  # three ping intervals
        late = notify_socket.drain()
        assert not [m for m in late if "WATCHDOG=1" in m], late
        assert hooks.frames == frames
    finally:
        stop.set()
        world.release.set()
        thread.join(10)
    assert not thread.is_alive() and result["stats"].frames >= frames


# -- a camera that goes away -------------------------------------------------------------------------

def test_loop_resumes_when_the_camera_comes_back(monkeypatch, tmp_path, fast_retries, caplog):
    world = World(fail_at=15, down_tries=3)
    fake_camera(monkeypatch, world)
    ns = NotifySocket(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", ns.env)
    monkeypatch.setenv("WATCHDOG_USEC", "20000")  # pings at most every 10 ms
    hooks = ServiceHooks()
    seen: list[Frame] = []
    events: list[str] = []

    def on_frame(frame: Frame) -> None:
        seen.append(frame)
        hooks.on_frame(frame)

    def on_source(event: str, message: str) -> None:
        events.append(event)
        hooks.on_source(event, message)

    caplog.set_level("INFO", logger="edge.sources.resilient")
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(
        stats=run(camera_cfg(**{"output.max_frames": 40}), threading.Event(), on_frame, on_source)))
    try:
        thread.start()
        while thread.is_alive():  # read as systemd would: a full socket drops messages
            ns.recv(0.05)
        messages = ns.messages + ns.drain()
    finally:
        thread.join(10)
        ns.close()
    stats = result["stats"]
    assert stats.frames == 40 and world.opens == 2 and world.refused == 3
    assert [f.index for f in seen] == list(range(40))
    ts = [f.t for f in seen]
    assert all(b > a for a, b in zip(ts, ts[1:])), ts  # the reopened camera's clock restarts; t does not
    assert [e for e in events if e != "waiting"] == ["lost", "back"]
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    back = [r for r in caplog.records if "back after" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelname == "WARNING" and "camera 3" in lost[0].getMessage()
    assert len(back) == 1 and back[0].levelname == "INFO" and "(4 tries)" in back[0].getMessage()
    # systemd hears about it, and the watchdog is fed while the camera is being retried (no restart).
    lost_at = next(i for i, m in enumerate(messages) if m.startswith("STATUS=waiting for a camera (camera 3 lost"))
    back_at = next(i for i, m in enumerate(messages) if m.startswith("STATUS=running: camera 3 back after"))
    assert lost_at < back_at and "WATCHDOG=1" in messages[lost_at + 1:back_at], messages


def test_stop_ends_a_camera_outage_at_once(monkeypatch, fast_retries):
    world = World(fail_at=5, down_tries=10**9)  # it never comes back
    fake_camera(monkeypatch, world)
    monkeypatch.setattr(Resilient, "FIRST_BACKOFF_S", 5.0)  # in a long wait when stop comes
    monkeypatch.setattr(Resilient, "TICK_S", 1.0)
    stop, events = threading.Event(), []
    thread = threading.Thread(target=run, args=(camera_cfg(), stop, None, lambda e, m: events.append(e)))
    thread.start()
    deadline = time.monotonic() + 30
    while "lost" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    sent = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - sent < 2.0
    assert events.count("lost") == 1 and "back" not in events and world.refused == 0


def test_a_camera_gone_for_good_gives_up_with_a_source_error(fast_retries, monkeypatch):
    world = World(fail_at=2, down_tries=10**9)
    camera = world.camera_class()
    source = Resilient(lambda: camera(0), give_up_s=0.2)
    with pytest.raises(SourceError, match=r"camera 0: lost for .* giving up .*did not open"):
        list(source)
    assert world.refused > 2
    source.close()
    assert source.inner is None and source.read() is None


class FakeClock:
    """Seconds that pass only when the code under test sleeps: a simulated hour takes no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1e-3)


def test_a_service_waits_out_a_camera_lost_for_an_hour_and_feeds_the_watchdog():
    """Camera lost for a simulated hour: never gives up (a service), pings the watchdog all along, frames
    come back. Run by hand (the default give-up) the same outage ends with a SourceError after 600 s."""
    clock, sent = FakeClock(), []
    world = World(fail_at=3, down_tries=10**9)
    camera = world.camera_class()

    def factory():
        if clock.now >= 3600:
            world.refused = world.down_tries  # plugged back in
        return camera(0)

    class Recorder(Notifier):
        def send(self, *lines):
            sent.extend(f"{clock.now:.0f} {line}" for line in lines)
            return True

    notifier = Recorder({"NOTIFY_SOCKET": "@t", "WATCHDOG_USEC": "30000000"})
    hooks = ServiceHooks(notifier, clock=clock)
    with Resilient(factory, stop=None, on_state=hooks.on_source, clock=clock, sleep=clock.sleep,
                   give_up_s=None) as source:
        frames = [source.read() for _ in range(6)]
    assert [f.index for f in frames] == list(range(6)) and source.outages == 1
    assert frames[3].t - frames[2].t >= 3600 - 1  # the gap shows in frame time
    pings = [float(m.split()[0]) for m in sent if m.endswith("WATCHDOG=1")]
    assert pings[0] < 20 and pings[-1] > 3580 and max(b - a for a, b in zip(pings, pings[1:])) <= 15 + 1
    assert any("STATUS=waiting for a camera (camera 0 lost" in m for m in sent)
    assert any("STATUS=running: camera 0 back after" in m for m in sent)

    clock, world = FakeClock(), World(fail_at=3, down_tries=10**9)
    camera = world.camera_class()
    by_hand = Resilient(lambda: camera(0), clock=clock, sleep=clock.sleep)
    with pytest.raises(SourceError, match="giving up"):
        list(by_hand)
    assert 600 <= clock.now < 620


def test_a_camera_absent_at_boot_is_waited_for_under_systemd(monkeypatch, tmp_path, fast_retries):
    world = World(down_tries=4)
    world.unplugged = True  # not there when the service starts
    fake_camera(monkeypatch, world)
    ns = NotifySocket(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", ns.env)
    monkeypatch.setenv("WATCHDOG_USEC", "20000")
    hooks = ServiceHooks()
    with pytest.raises(SourceError, match="did not open"):  # by hand: a clear error, as before
        run(camera_cfg(), threading.Event())
    world.refused = 0
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(stats=run(
        camera_cfg(**{"output.max_frames": 10}), threading.Event(), hooks.on_frame, hooks.on_source,
        wait_for_camera=True)))
    try:
        thread.start()
        while thread.is_alive():
            ns.recv(0.05)
        messages = ns.messages + ns.drain()
    finally:
        thread.join(10)
        ns.close()
    assert result["stats"].frames == 10 and world.refused == 4
    assert messages[0].startswith("READY=1\nSTATUS=waiting for a camera (camera 3")
    back = next(i for i, m in enumerate(messages) if "STATUS=running: camera 3 back" in m)
    assert "WATCHDOG=1" in messages[1:back] and messages.count("READY=1") == 0


def test_a_service_process_without_a_camera_stays_up_ready_and_fed(notify_socket, tmp_path):
    """A real ``python -m edge`` under a notify socket, with no camera at all: it does not exit, says
    READY=1 and why it waits, and keeps pinging the watchdog; SIGTERM stops it cleanly."""
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy", "NOTIFY_SOCKET": notify_socket.env, "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "edge", "--source", "/dev/video97", "--songs", str(SONGS)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        got = notify_socket.wait_for("READY=1", timeout=60)
        assert "STATUS=waiting for a camera (camera /dev/video97" in got[-1] and "no camera at" in got[-1]
        for _ in range(3):  # pings keep coming while it waits (every WATCHDOG_USEC / 2)
            notify_socket.wait_for("WATCHDOG=1", timeout=10)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "no camera at /dev/video97" in out  # the journal says what is wrong


def test_a_read_that_raises_counts_as_a_failed_read(fast_retries):
    class Boom(Source):
        live, name = True, "picamera2 0"

        def __init__(self):
            super().__init__()
            self.n = 0

        def read(self):
            self.n += 1
            if self.n == 3:
                raise RuntimeError("Camera frontend has timed out!")
            return Frame(np.zeros((2, 2, 3), np.uint8), self.n / 30, self.n - 1)

    with Resilient(Boom) as source:
        frames = [source.read() for _ in range(4)]
    assert [f.index for f in frames] == [0, 1, 2, 3] and source.outages == 0  # one bad read is no outage


# -- SIGTERM -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def looping_video(tmp_path_factory) -> Path:
    return clips.empty_video(tmp_path_factory.mktemp("clips") / "empty.mp4", 30)


def test_sigterm_stops_within_two_seconds_says_stopping_and_releases_the_audio(looping_video, notify_socket):
    probe = ("import sys, threading, pygame, edge.cli; rc = edge.cli.main(sys.argv[1:]); "
             "print('MIXER', pygame.mixer.get_init(), 'PLAYER', "
             "any(t.name == 'music-player' for t in threading.enumerate()), flush=True); sys.exit(rc)")
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1",
           "NOTIFY_SOCKET": notify_socket.env, "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-u", "-c", probe, "--songs", str(SONGS), "--source", str(looping_video),
                             "--realtime", "--loop"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("audio output open" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any("audio output open" in line for line in lines), "".join(lines)
        notify_socket.wait_for("READY=1", timeout=30)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(lines) + rest
    assert took < 2.0, took
    assert "MIXER None PLAYER False" in rest, rest  # the audio device is closed, the player thread gone
    assert any("STOPPING=1" in m for m in notify_socket.drain() + notify_socket.messages)


def test_audio_devices_lists_sdl_outputs():
    out = subprocess.run([sys.executable, "-m", "edge", "audio-devices", "--driver", "dummy"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYGAME_HIDE_SUPPORT_PROMPT": "1"})
    assert out.returncode == 0, out.stderr
    assert "audio outputs (dummy driver)" in out.stdout and "audio_device" in out.stdout
