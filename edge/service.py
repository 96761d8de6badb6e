"""Running on a Raspberry Pi as a systemd service.

- ``Notifier``: the sd_notify protocol in a few lines (one datagram to ``$NOTIFY_SOCKET``; a leading
  ``@`` is the abstract namespace). Outside systemd it does nothing.
- ``ServiceHooks``: what the device loop tells systemd. ``READY=1`` once the first frame went through
  the whole pipeline; ``WATCHDOG=1`` (at most every ``WATCHDOG_USEC / 2``) only while frames are
  processed, or while a lost camera is being retried (``edge.sources.resilient``, which gives up and
  ends the run after a while): a camera read or a stage that hangs sends nothing and systemd restarts
  the service; ``STATUS=`` lines for ``systemctl status``; ``STOPPING=1`` on SIGTERM.
- ``install_main``: ``python -m edge install`` writes the unit, the service user (a sysusers.d file)
  and a commented config, then enables the service; ``--root DIR`` writes into a folder instead and
  runs nothing, ``--dry-run`` only says what it would do.
- ``audio_devices_main``: ``python -m edge audio-devices`` lists SDL's output names for
  ``music.audio_device``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from edge.arch import require_64bit
from edge.statefile import write_text_atomic

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parent.parent
UNIT_NAME = "moodplayer.service"
CONFIG_PATH = "/etc/moodplayer/config.toml"
STATE_DIR = "/var/lib/moodplayer"
#: The camera process's control socket (RuntimeDirectory=moodplayer), for the companion.
CONTROL_SOCKET = "/run/moodplayer/control.sock"
DEFAULT_USER = "moodplayer"
DEFAULT_VENV = "/opt/moodplayer/.venv"
#: The service user's groups: cameras and /dev/dma_heap (video), ALSA (audio), /dev/dri/renderD* (render).
GROUPS = ("video", "audio", "render")


# -- sd_notify ---------------------------------------------------------------------------------------

class Notifier:
    """Sends sd_notify messages to systemd; ``enabled`` is False (and every call a no-op) outside it."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            self.address: str | bytes | None = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        else:
            self.address = None  # unset, or a kind this module does not speak (vsock:)
        self.watchdog_s: float | None = None  # the watchdog timeout, when systemd expects pings from us
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if self.address and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines as one message; False when not under systemd or it failed."""
        if self.address is None:
            return False
        data = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(data, socket.MSG_DONTWAIT, self.address)  # never block the camera loop
        except OSError as e:
            if not self._failed:  # once: a broken notify socket must not flood the journal
                self._failed = True
                log.warning("sd_notify to %s failed: %s", os.environ.get("NOTIFY_SOCKET"), e)
            return False
        return True


class ServiceHooks:
    """The loop's hooks for systemd: pass ``on_frame`` and ``on_source`` to ``edge.loop.run``.

    Every method is cheap and never raises; without ``$NOTIFY_SOCKET`` they do nothing.
    """

    STATUS_EVERY_S = 10.0

    def __init__(self, notifier: Notifier | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier if notifier is not None else Notifier()
        self._clock = clock
        self.ready = False
        self.frames = 0
        self.pings = 0
        self._last_ping: float | None = None
        self._last_status = 0.0
        self._status_frames = 0
        interval = self.notifier.watchdog_s
        self.ping_every_s = interval / 2 if interval else None

    def on_frame(self, frame: object) -> None:
        """After each processed frame: READY=1 the first time, then throttled watchdog pings and status."""
        now = self._clock()
        self.frames += 1
        if not self.ready:
            self.ready = True
            self._last_status, self._status_frames = now, self.frames
            self.notifier.send("READY=1", "STATUS=running: first frame processed")
            self._ping(now, force=True)
            return
        self._ping(now)
        if now - self._last_status >= self.STATUS_EVERY_S:
            fps = (self.frames - self._status_frames) / (now - self._last_status)
            self._status(now, f"running: {self.frames} frames, {fps:.1f} FPS")

    def on_source(self, event: str, message: str) -> None:
        """From the camera's retry layer: "lost", "waiting" (alive, retrying) or "back".

        A service waiting for a camera (absent at boot, or lost) is up and working: ``READY=1`` goes out
        with the first "lost" if no frame did it yet, and the retries feed the watchdog."""
        now = self._clock()
        if event == "lost":
            text = f"STATUS=waiting for a camera ({message})"
            self._last_status, self._status_frames = now, self.frames
            if not self.ready:
                self.ready = True
                self.notifier.send("READY=1", text)
                self._ping(now, force=True)
            else:
                self.notifier.send(text)
        elif event == "waiting":
            self._ping(now)  # retrying is progress; a hung read never gets here
        elif event == "back":
            self._status(now, f"running: {message}")

    def status(self, text: str) -> None:
        self._status(self._clock(), text)

    def stopping(self) -> None:
        self.notifier.send("STOPPING=1", "STATUS=stopping")

    def _status(self, now: float, text: str) -> None:
        self._last_status, self._status_frames = now, self.frames
        self.notifier.send(f"STATUS={text}")

    def _ping(self, now: float, force: bool = False) -> None:
        if self.ping_every_s is None:
            return
        if force or self._last_ping is None or now - self._last_ping >= self.ping_every_s:
            self._last_ping = now
            if self.notifier.send("WATCHDOG=1"):
                self.pings += 1


# -- install -----------------------------------------------------------------------------------------

#: Comments for the keys of the default config (keys not here are listed without one).
CONFIG_COMMENTS: dict[str, str] = {
    "source.spec": "auto: the Pi camera (picamera2), else /dev/video0; or picamera2:1, 0, /dev/video2",
    "classify.model": "model bundle folder; empty: the one that ships (models/default)",
    "music.songs": "songs: a subfolder per mood (happy/, sad/ ...), see docs/music.md; readable by the "
                   "service, so not in /home",
    "music.state_dir": "likes, skips and the song feature cache (the service can write only here)",
    "music.audio_device": "SDL output name from `python -m edge audio-devices` (HDMI, headphones jack, "
                          "USB DAC); empty: ALSA's default. See docs/raspberry-pi.md",
    "output.headless": "the service passes --headless, or --display after `install --display`: the HDMI overlay, "
                       "docs/raspberry-pi.md §6",
    "output.log_every": "seconds between progress lines in the journal (0: never)",
    "output.events": "mood and song events as JSON lines, e.g. /var/lib/moodplayer/events.jsonl",
}


def default_config_text(project: Path, display: bool = False) -> str:
    """The commented config the installer writes: the service's own settings set, every other key
    shown commented out with its default. It is checked with ``edge.config.load`` before it is written.
    ``display``: the HDMI overlay shows the now-playing view (no camera image on the TV)."""
    from edge import config as configs

    service_values = {"source.spec": "auto", "music.songs": str(project / "songs"), "output.log_every": 60.0}
    if display:
        service_values["overlay.view"] = "now-playing"
    if "state_dir" in configs.fields_of("music"):  # likes/skips and the feature cache: the StateDirectory
        service_values["music.state_dir"] = STATE_DIR
    cfg = configs.load(None, service_values)
    lines = [
        "# moodplayer's config, read by the service at start: sudo systemctl restart moodplayer after a change.",
        "# Lines starting with # are defaults; remove the # to change one. Every key is also a flag:",
        "# python -m edge --help. An unknown or ill-typed key stops the service with its name",
        "# (journalctl -u moodplayer).",
        "",
    ]
    for section in configs.SECTIONS:
        lines.append(f"[{section}]")
        for key, value in dataclasses.asdict(getattr(cfg, section)).items():
            name = f"{section}.{key}"
            if name in CONFIG_COMMENTS:
                lines.append(f"# {CONFIG_COMMENTS[name]}")
            prefix = "" if name in service_values else "# "
            lines.append(f"{prefix}{key} = {configs._toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def sysusers_text(user: str) -> str:
    lines = ["# moodplayer's service user, made by systemd-sysusers (python -m edge install runs it).",
             "# video: cameras, /dev/media*, /dev/dma_heap; audio: ALSA; render: /dev/dri/renderD*.",
             f'u {user} - "moodplayer service" {STATE_DIR} -']
    lines += [f"m {user} {group}" for group in GROUPS]
    return "\n".join(lines) + "\n"


def render_unit(template: str, python: str, user: str, project: Path, display: bool = False) -> str:
    """The repository's unit with ExecStart=, User=, Group= and Documentation= for this install;
    ``display``: the overlay full screen on HDMI instead of headless."""
    output = "--display --fullscreen" if display else "--headless"
    values = {
        "ExecStart": f"{python} -m edge {output} --config {CONFIG_PATH} --control-socket {CONTROL_SOCKET}",
        "User": user,
        "Group": user,
        "Documentation": f"file://{project}/docs/raspberry-pi.md",
    }
    return set_unit_keys(template, values)


def set_unit_keys(template: str, values: dict[str, str]) -> str:
    """``template`` (a unit file) with the value of each ``Key=`` line in ``values`` replaced."""
    out = []
    for line in template.splitlines():
        key = line.split("=", 1)[0]
        if "=" in line and key in values:
            line = f"{key}={values[key]}"
        out.append(line)
    return "\n".join(out) + "\n"


@dataclasses.dataclass
class _Plan:
    root: Path
    files: list[tuple[Path, str, int]] = dataclasses.field(default_factory=list)  # path under root, text, mode
    kept: list[Path] = dataclasses.field(default_factory=list)
    commands: list[list[str]] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    bad_config: str = ""  # the kept config does not load: why

    def add_unit(self, project: Path, name: str, render: Callable[[str], str], users_name: str, users: str) -> str:
        """Plan ``name`` (the checkout's ``systemd/<name>`` through ``render``) and its sysusers file
        ``etc/sysusers.d/<users_name>``; returns the sysusers path for ``systemd-sysusers``."""
        template = project / "systemd" / name
        if not template.is_file():
            raise ValueError(f"no {template}: run the installer from a moodplayer checkout (pip install -e .)")
        self.files.append((Path("etc/systemd/system") / name, render(template.read_text()), 0o644))
        self.files.append((Path("etc/sysusers.d") / users_name, users, 0o644))
        return f"/etc/sysusers.d/{users_name}"


def _install_parser() -> argparse.ArgumentParser:
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    parser = argparse.ArgumentParser(
        prog="python -m edge install",
        description="Install moodplayer as a systemd service: the unit, its user (in the video, audio and render\n"
                    f"groups), a commented {CONFIG_PATH} (an existing one is kept); then enable and start it.",
        epilog="examples:\n  sudo .venv/bin/python -m edge install\n"
               "  python -m edge install --root /tmp/pi --dry-run   # what it would write and run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/", help="write into this folder instead of / and run no commands "
                                                    "(packaging, tests); default: /")
    parser.add_argument("--user", default=DEFAULT_USER, help=f"service user (default: {DEFAULT_USER})")
    parser.add_argument("--venv", default=sys.prefix if in_venv else DEFAULT_VENV,
                        help="the venv that runs the service (default: this Python's venv, else "
                             f"{DEFAULT_VENV})")
    parser.add_argument("--project", default=str(PROJECT), help="the checkout (songs/, systemd/); default: "
                                                                "this one")
    parser.add_argument("--no-start", action="store_true", help="enable the service (it starts at boot), but "
                                                                "do not start it now")
    parser.add_argument("--dry-run", action="store_true", help="say what would be written and run; change nothing")
    parser.add_argument("--check", action="store_true", help="stop (exit 2, nothing written) if the existing config "
                                                            "would not load; without it that is a warning")
    parser.add_argument("--display", action="store_true", help="show the overlay full screen on HDMI (a Pi console, "
                        "kmsdrm): checks that the screen opens first; docs/raspberry-pi.md §6")
    parser.add_argument("--web", action="store_true", help="also install the companion (python -m edge web: phone page, "
                                                          "API, MQTT) as moodplayer-web.service; docs/web.md")
    return parser


def plan_install(root: Path, user: str, venv: Path, project: Path, start: bool = True,
                 display: bool = False) -> _Plan:
    """What an install writes and runs; raises ``ValueError`` for a setup that cannot work."""
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise ValueError(f"--user {user!r} is not a valid user name (lower case letters, digits, _ and -)")
    real = root == Path("/")
    plan = _Plan(root)
    for what, path in (("venv", venv), ("checkout", project)):
        if path == Path("/home") or Path("/home") in path.parents or path == Path("/root") \
                or Path("/root") in path.parents:
            message = (f"the {what} {path} is under /home or /root, which the service cannot see (ProtectHome=yes; "
                       "home folders are private): put the checkout and venv in /opt/moodplayer")
            if real:
                raise ValueError(message)
            plan.warnings.append(message)
    python = venv / "bin" / "python"
    if not python.exists():
        message = f"no Python at {python}: make the venv first (docs/raspberry-pi.md)"
        if real:
            raise ValueError(message)
        plan.warnings.append(message)
    cfg_file = venv / "pyvenv.cfg"
    if cfg_file.is_file() and "include-system-site-packages = true" not in cfg_file.read_text():
        plan.warnings.append(f"{venv} was made without --system-site-packages: picamera2 (from apt) will not be "
                             "found; only USB cameras will work")
    users = plan.add_unit(project, UNIT_NAME, lambda t: render_unit(t, str(python), user, project, display),
                          "moodplayer.conf",
                          sysusers_text(user))
    config = Path(CONFIG_PATH.lstrip("/"))
    if (root / config).exists():
        plan.kept.append(config)
        problem = check_config(root / config)
        if problem:
            plan.bad_config = (f"the kept config would stop the service at start: {problem}; fix it, or move it "
                               "away and install again for a fresh one")
    else:
        plan.files.append((config, default_config_text(project, display), 0o644))
    plan.commands = [["systemd-sysusers", users], ["systemctl", "daemon-reload"],
                     ["systemctl", "enable", UNIT_NAME]]
    if start:  # restart, not start: a reinstall over a running service picks up the new unit and code
        plan.commands.append(["systemctl", "restart", UNIT_NAME])
    return plan


def _write(path: Path, text: str, mode: int) -> None:
    """Write atomically with ``mode`` (parents 0755) and fsync it, so a half-written unit never exists,
    not even after a power cut."""
    for parent in reversed(path.parents):
        if not parent.exists():
            parent.mkdir(mode=0o755)
            os.chmod(parent, 0o755)  # mkdir's mode is masked by the umask
    write_text_atomic(path, text, mode)


def check_config(path: Path) -> str | None:
    """None if the config at ``path`` loads, else the error the service would stop on (names the key)."""
    from edge import config as configs

    try:
        configs.load(path)
    except configs.ConfigError as e:
        return str(e)
    return None


def install_main(argv: Sequence[str]) -> int:
    args = _install_parser().parse_args(list(argv))
    root = Path(args.root).absolute()
    real = root == Path("/")
    if real and not args.dry_run and os.geteuid() != 0:
        print("error: installing a system service needs root: sudo .venv/bin/python -m edge install "
              "(or --root DIR to write the files into a folder, --dry-run to see what it would do)", file=sys.stderr)
        return 2
    try:
        require_64bit()  # a 32-bit Pi OS: one line that says so, before anything is written
        plan = plan_install(root, args.user, Path(os.path.abspath(args.venv)), Path(args.project).absolute(),
                            start=not args.no_start, display=args.display)
        if args.display:  # the screen, as the service will open it (edge.display)
            from edge.display import install_check

            verdict, said = install_check(Path(os.path.abspath(args.venv)) / "bin" / "python", Path(args.project))
            if verdict == "no-kmsdrm" and real:
                raise ValueError(said)
            if verdict == "ok":
                plan.notes.append(said)
            else:
                plan.warnings.append(said)
        if args.web:
            from edge.web.install import add_web

            add_web(plan, Path(os.path.abspath(args.venv)) / "bin" / "python", Path(args.project).absolute(),
                    camera_group=args.user, start=not args.no_start)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for note in plan.notes:
        print(note)
    if plan.bad_config:
        if args.check:
            print(f"error: {plan.bad_config}", file=sys.stderr)
            return 2
        print(f"warning: {plan.bad_config}", file=sys.stderr)
    verb = "would write" if args.dry_run else "wrote"
    for rel, text, mode in plan.files:
        path = root / rel
        if not args.dry_run:
            _write(path, text, mode)
        print(f"{verb} {path} ({mode:04o})")
    for rel in plan.kept:
        print(f"kept {root / rel} (an existing config is never overwritten; `python -m edge --print-config` shows "
              "every key)")
    if not real or args.dry_run:
        why = "dry run" if args.dry_run else f"--root {root}"
        for command in plan.commands:
            print(f"would run ({why}): {' '.join(command)}")
        return 0
    for command in plan.commands:
        print(f"running: {' '.join(command)}", flush=True)
        try:
            done = subprocess.run(command, check=False)
        except OSError as e:
            print(f"error: {command[0]}: {e}", file=sys.stderr)
            return 1
        if done.returncode != 0:
            print(f"error: `{' '.join(command)}` failed (exit {done.returncode})", file=sys.stderr)
            return 1
    print(f"\nmoodplayer is installed. Logs: journalctl -u moodplayer -f   State: systemctl status moodplayer\n"
          f"Config: {CONFIG_PATH} (then: sudo systemctl restart moodplayer)")
    return 0


# -- audio devices -----------------------------------------------------------------------------------

def audio_devices_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge audio-devices",
        description="List the audio outputs SDL sees, by the names music.audio_device takes. For ALSA's own "
                    "names (AUDIODEV=..., speaker-test -D ...) use `aplay -L`; for cards: `aplay -l`.")
    linux = sys.platform.startswith("linux")
    parser.add_argument("--driver", default=os.environ.get("SDL_AUDIODRIVER") or ("alsa" if linux else None),
                        help="SDL audio driver (default: $SDL_AUDIODRIVER, else alsa as the service uses)")
    args = parser.parse_args(list(argv))
    if args.driver:
        os.environ["SDL_AUDIODRIVER"] = args.driver
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
        from pygame._sdl2 import audio as sdl_audio
        from pygame._sdl2 import sdl2
    except ImportError as e:
        print(f"error: pygame with SDL 2 is needed ({e})", file=sys.stderr)
        return 2
    try:
        sdl2.init_subsystem(sdl2.INIT_AUDIO)
        names = list(sdl_audio.get_audio_device_names(False))
    except pygame.error as e:
        print(f"error: SDL's {args.driver or 'default'} audio driver did not start ({e}); ALSA's devices: aplay -L",
              file=sys.stderr)
        return 2
    print(f"audio outputs ({args.driver or 'SDL default'} driver):")
    for name in names:
        print(f"  {name}")
    if not names:
        print("  (none: is a speaker/HDMI screen connected? is this user in the audio group?)")
    print('\nuse one in the config: [music] audio_device = "<name>"   (empty: the default output)')
    return 0
