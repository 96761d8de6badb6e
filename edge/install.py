"""``python -m edge install``: moodplayer as a systemd service on a Raspberry Pi.

It writes the unit, the service user (a sysusers.d file) and a commented config, then enables and
starts the service; ``--root DIR`` writes into a folder instead and runs nothing, ``--dry-run`` only
says what it would do; ``--web`` adds the companion (``python -m edge web``) as its own unit and user,
in the camera user's group so it may open the control socket, and in no device group.

An install is a ``Plan`` built by ``STEPS`` in order, each ``step(plan, options)``: it adds files,
units and warnings, or refuses (``plan.problem``: an error on a real install, a warning under
``--root``). A new step is one function in ``STEPS`` (and, if it needs one, a flag in ``parser`` and
a field in ``Options``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.arch import UnsupportedPlatform, require_64bit
from edge.errors import MoodplayerError
from edge.statefile import write_text_atomic
from edge.web.auth import DEFAULT_STATE as WEB_STATE_DIR  # the companion unit's StateDirectory=moodplayer-web

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
WEB_UNIT = "moodplayer-web.service"
WEB_USER = "moodplayer-web"


class InstallError(MoodplayerError, ValueError):
    """A set-up the service cannot work with; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What the user asked for (the command line's flags)."""

    root: Path
    user: str = DEFAULT_USER
    venv: Path = Path(DEFAULT_VENV)
    project: Path = PROJECT
    start: bool = True
    web: bool = False
    display: bool = False

    @property
    def real(self) -> bool:
        """Installing into this system (root ``/``), not into a folder."""
        return self.root == Path("/")

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@dataclasses.dataclass
class Plan:
    """What an install writes and runs."""

    root: Path
    start: bool = True
    files: list[tuple[Path, str, int]] = dataclasses.field(default_factory=list)  # path under root, text, mode
    kept: list[Path] = dataclasses.field(default_factory=list)
    users: list[str] = dataclasses.field(default_factory=list)  # sysusers.d files for systemd-sysusers
    units: list[str] = dataclasses.field(default_factory=list)  # units to enable (and restart)
    warnings: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # printed on stdout: what a check found fine
    bad_config: str = ""  # the kept config does not load: why

    @property
    def real(self) -> bool:
        return self.root == Path("/")

    def problem(self, message: str) -> None:
        """A set-up that cannot work: refused on a real install, a warning when writing into a folder."""
        if self.real:
            raise InstallError(message)
        self.warnings.append(message)

    def add_unit(self, project: Path, name: str, render: Callable[[str], str], users_name: str, users: str) -> None:
        """Plan ``name`` (the checkout's ``systemd/<name>`` through ``render``), its sysusers file
        ``etc/sysusers.d/<users_name>`` and enabling (and starting) it."""
        template = project / "systemd" / name
        if not template.is_file():
            raise InstallError(f"no {template}: run the installer from a moodplayer checkout (pip install -e .)")
        self.files.append((Path("etc/systemd/system") / name, render(template.read_text()), 0o644))
        self.files.append((Path("etc/sysusers.d") / users_name, users, 0o644))
        self.users.append(f"/etc/sysusers.d/{users_name}")
        self.units.append(name)

    def commands(self) -> list[list[str]]:
        """The users first, then systemd reloads, then each unit enabled and (re)started: restart, not
        start, so that a reinstall over a running service picks up the new unit and code."""
        out = [["systemd-sysusers", users] for users in self.users] + [["systemctl", "daemon-reload"]]
        for unit in self.units:
            out.append(["systemctl", "enable", unit])
            if self.start:
                out.append(["systemctl", "restart", unit])
        return out


# -- what is written ---------------------------------------------------------------------------------

#: Comments for the keys of the default config (keys not here are listed without one).
CONFIG_COMMENTS: dict[str, str] = {
    "source.spec": "auto: the ribbon camera (picamera2), else a USB webcam (OpenCV), see docs/raspberry-pi.md; "
                   "or picamera2:1, 0, /dev/video2",
    "classify.model": "model bundle folder; empty: the one that ships (models/default)",
    "music.songs": "songs: a subfolder per mood (happy/, sad/ ...), see docs/music.md; readable by the "
                   "service, so not in /home",
    "music.state_dir": "likes, skips and the song feature cache (the service can write only here)",
    "music.audio_device": "a name from `python -m edge audio-devices`: default:CARD=vc4hdmi0 (HDMI0), "
                          "default:CARD=Headphones (jack), default:CARD=<id> (USB DAC); empty: ALSA's default. "
                          "See docs/raspberry-pi.md",
    "output.headless": "the service passes --headless, or --display after `install --display`: the HDMI overlay, "
                       "docs/raspberry-pi.md §6",
    "output.log_every": "seconds between progress lines in the journal (0: never)",
    "output.events": "mood and song events as JSON lines, e.g. /var/lib/moodplayer/events.jsonl",
}

CONFIG_HEADER = (
    "# moodplayer's config, read by the service at start: sudo systemctl restart moodplayer after a change.\n"
    "# Lines starting with # are defaults; remove the # to change one. Every key is also a flag:\n"
    "# python -m edge --help. An unknown or ill-typed key stops the service with its name\n"
    "# (journalctl -u moodplayer).\n\n")


def default_config_text(project: Path, display: bool = False) -> str:
    """The commented config the installer writes: the service's own settings set, every other key
    shown commented out with its default (``edge.config.to_toml``); ``edge.config.load`` checks it.
    ``display``: the HDMI overlay shows the now-playing view (no camera image on the TV)."""
    from edge import config as configs

    service_values = {"source.spec": "auto", "music.songs": str(project / "songs"), "output.log_every": 60.0}
    if display:
        service_values["overlay.view"] = "now-playing"
    if "state_dir" in configs.fields_of("music"):  # likes/skips and the feature cache: the StateDirectory
        service_values["music.state_dir"] = STATE_DIR
    cfg = configs.load(None, service_values)
    return CONFIG_HEADER + configs.to_toml(cfg, comments=CONFIG_COMMENTS, active=service_values)


def sysusers_text(user: str) -> str:
    lines = ["# moodplayer's service user, made by systemd-sysusers (python -m edge install runs it).",
             "# video: cameras, /dev/media*, /dev/dma_heap; audio: ALSA; render: /dev/dri/renderD*.",
             f'u {user} - "moodplayer service" {STATE_DIR} -']
    lines += [f"m {user} {group}" for group in GROUPS]
    return "\n".join(lines) + "\n"


def web_sysusers_text(camera_group: str, user: str = WEB_USER) -> str:
    return "\n".join([
        "# moodplayer's companion user (python -m edge web), made by systemd-sysusers.",
        "# In the camera user's group for /run/moodplayer/control.sock; in no device group (video, audio, render).",
        f"g {camera_group} -",
        f'u {user} - "moodplayer companion" {WEB_STATE_DIR} -',
        f"m {user} {camera_group}",
    ]) + "\n"


def render_unit(template: str, python: str, user: str, project: Path, display: bool = False) -> str:
    """The repository's unit with ExecStart=, User=, Group= and Documentation= for this install;
    ``display``: the overlay full screen on HDMI instead of headless."""
    output = "--display --fullscreen" if display else "--headless"
    return set_unit_keys(template, {
        "ExecStart": f"{python} -m edge {output} --config {CONFIG_PATH} --control-socket {CONTROL_SOCKET}",
        "User": user,
        "Group": user,
        "Documentation": f"file://{project}/docs/raspberry-pi.md",
    })


def render_web_unit(template: str, python: str, camera_group: str, project: Path, user: str = WEB_USER) -> str:
    """The repository's companion unit with this install's ExecStart=, users and Documentation=."""
    return set_unit_keys(template, {
        "ExecStart": f"{python} -m edge web --config {CONFIG_PATH} --control-socket {CONTROL_SOCKET}",
        "User": user,
        "Group": user,
        "SupplementaryGroups": camera_group,
        "Documentation": f"file://{project}/docs/web.md",
    })


def set_unit_keys(template: str, values: dict[str, str]) -> str:
    """``template`` (a unit file) with the value of each ``Key=`` line in ``values`` replaced."""
    out = []
    for line in template.splitlines():
        key = line.split("=", 1)[0]
        if "=" in line and key in values:
            line = f"{key}={values[key]}"
        out.append(line)
    return "\n".join(out) + "\n"


def check_config(path: Path) -> str | None:
    """None if the config at ``path`` loads, else the error the service would stop on (names the key)."""
    from edge import config as configs

    try:
        configs.load(path)
    except configs.ConfigError as e:
        return str(e)
    return None


# -- the steps ---------------------------------------------------------------------------------------

Step = Callable[[Plan, Options], None]


def check_user(plan: Plan, opts: Options) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", opts.user):
        raise InstallError(f"--user {opts.user!r} is not a valid user name (lower case letters, digits, _ and -)")


def check_folders(plan: Plan, opts: Options) -> None:
    """The venv and checkout must be visible to the service, and the venv must exist."""
    for what, path in (("venv", opts.venv), ("checkout", opts.project)):
        if any(path == top or top in path.parents for top in (Path("/home"), Path("/root"))):
            plan.problem(f"the {what} {path} is under /home or /root, which the service cannot see (ProtectHome=yes; "
                         "home folders are private): put the checkout and venv in /opt/moodplayer")
    if not opts.python.exists():
        plan.problem(f"no Python at {opts.python}: make the venv first (docs/raspberry-pi.md)")
    cfg_file = opts.venv / "pyvenv.cfg"
    if cfg_file.is_file() and "include-system-site-packages = true" not in cfg_file.read_text():
        plan.warnings.append(f"{opts.venv} was made without --system-site-packages: picamera2 (from apt) will not "
                             "be found; only USB cameras will work")


def camera_unit(plan: Plan, opts: Options) -> None:
    plan.add_unit(opts.project, UNIT_NAME,
                  lambda t: render_unit(t, str(opts.python), opts.user, opts.project, opts.display),
                  "moodplayer.conf", sysusers_text(opts.user))


def config_file(plan: Plan, opts: Options) -> None:
    """A fresh commented config; an existing one is kept, and checked."""
    config = Path(CONFIG_PATH.lstrip("/"))
    if (opts.root / config).exists():
        plan.kept.append(config)
        problem = check_config(opts.root / config)
        if problem:
            plan.bad_config = (f"the kept config would stop the service at start: {problem}; fix it, or move it "
                               "away and install again for a fresh one")
    else:
        plan.files.append((config, default_config_text(opts.project, opts.display), 0o644))


def display_check(plan: Plan, opts: Options) -> None:
    """``--display``: the screen, as the service will open it (``edge.display``); no kmsdrm refuses a real
    install."""
    if not opts.display:
        return
    from edge.display import install_check

    verdict, said = install_check(opts.python, opts.project)
    if verdict == "no-kmsdrm" and opts.real:
        raise InstallError(said)
    (plan.notes if verdict == "ok" else plan.warnings).append(said)


def web_unit(plan: Plan, opts: Options) -> None:
    """``--web``: the companion's unit and its user, in the camera user's group."""
    if opts.web:
        plan.add_unit(opts.project, WEB_UNIT,
                      lambda t: render_web_unit(t, str(opts.python), opts.user, opts.project),
                      "moodplayer-web.conf", web_sysusers_text(opts.user))


STEPS: tuple[Step, ...] = (check_user, check_folders, camera_unit, config_file, display_check, web_unit)


def plan_install(opts: Options, steps: Sequence[Step] = STEPS) -> Plan:
    """What an install writes and runs; raises ``InstallError`` for a set-up that cannot work."""
    plan = Plan(opts.root, start=opts.start)
    for step in steps:
        step(plan, opts)
    return plan


# -- the command -------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    p = argparse.ArgumentParser(
        prog="python -m edge install",
        description="Install moodplayer as a systemd service: the unit, its user (in the video, audio and render\n"
                    f"groups), a commented {CONFIG_PATH} (an existing one is kept); then enable and start it.",
        epilog="examples:\n  sudo .venv/bin/python -m edge install\n"
               "  python -m edge install --root /tmp/pi --dry-run   # what it would write and run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="/", help="write into this folder instead of / and run no commands "
                                               "(packaging, tests); default: /")
    p.add_argument("--user", default=DEFAULT_USER, help=f"service user (default: {DEFAULT_USER})")
    p.add_argument("--venv", default=sys.prefix if in_venv else DEFAULT_VENV,
                   help=f"the venv that runs the service (default: this Python's venv, else {DEFAULT_VENV})")
    p.add_argument("--project", default=str(PROJECT), help="the checkout (songs/, systemd/); default: this one")
    p.add_argument("--no-start", action="store_true", help="enable the service (it starts at boot), but do not "
                                                           "start it now")
    p.add_argument("--dry-run", action="store_true", help="say what would be written and run; change nothing")
    p.add_argument("--check", action="store_true", help="stop (exit 2, nothing written) if the existing config "
                                                        "would not load; without it that is a warning")
    p.add_argument("--display", action="store_true", help="show the overlay full screen on HDMI (a Pi console, "
                   "kmsdrm): checks that the screen opens first; docs/raspberry-pi.md §6")
    p.add_argument("--web", action="store_true", help="also install the companion (python -m edge web: phone page, "
                                                      "API, MQTT) as moodplayer-web.service; docs/web.md")
    return p


def options(args: argparse.Namespace) -> Options:
    return Options(root=Path(args.root).absolute(), user=args.user, venv=Path(os.path.abspath(args.venv)),
                   project=Path(args.project).absolute(), start=not args.no_start, web=args.web,
                   display=args.display)


def write(path: Path, text: str, mode: int) -> None:
    """Write atomically with ``mode`` (parents 0755) and fsync it, so a half-written unit never exists,
    not even after a power cut."""
    for parent in reversed(path.parents):
        if not parent.exists():
            parent.mkdir(mode=0o755)
            os.chmod(parent, 0o755)  # mkdir's mode is masked by the umask
    write_text_atomic(path, text, mode)


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    opts = options(args)
    if opts.real and not args.dry_run and os.geteuid() != 0:
        print("error: installing a system service needs root: sudo .venv/bin/python -m edge install "
              "(or --root DIR to write the files into a folder, --dry-run to see what it would do)", file=sys.stderr)
        return 2
    try:
        require_64bit()  # a 32-bit Pi OS: one line that says so, before anything is written
        plan = plan_install(opts)
    except (InstallError, UnsupportedPlatform) as e:
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
    return _carry_out(plan, args.dry_run)


def _carry_out(plan: Plan, dry_run: bool) -> int:
    root = plan.root
    verb = "would write" if dry_run else "wrote"
    for rel, text, mode in plan.files:
        path = root / rel
        if not dry_run:
            write(path, text, mode)
        print(f"{verb} {path} ({mode:04o})")
    for rel in plan.kept:
        print(f"kept {root / rel} (an existing config is never overwritten; `python -m edge --print-config` shows "
              "every key)")
    if not plan.real or dry_run:
        why = "dry run" if dry_run else f"--root {root}"
        for command in plan.commands():
            print(f"would run ({why}): {' '.join(command)}")
        return 0
    for command in plan.commands():
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
