"""``python -m edge``: watch the room, play music that fits its mood.

Defaults run the embedded model (models/default) and songs (songs/) on the first camera found.
Every config key is also a flag (``edge.flags``: its help is the key's own, from ``edge.settings.key``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from edge.errors import MoodplayerError
from edge.logs import setup_logging

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

USAGE = """\
python -m edge [--source SPEC] [--display] [--events FILE] [options]
       python -m edge COMMAND [--help]"""

DESCRIPTION = """\
Watch the room, play music that fits its mood: frames from a camera, a video, photos or the demo;
faces found and classified into seven emotions; the room's mood smoothed; a song that fits it.
Every config key is a flag below (grouped by stage, in the order a frame flows) and a line of the
config file (--print-config). No camera? Try the demo: `python -m edge --source demo`."""

# Each subcommand's one line for the main --help (a test checks every one in SUBCOMMANDS has one).
COMMANDS = {
    "web": "the companion: the phone page, its API and Home Assistant over MQTT (docs/web.md)",
    "songs": "the music library: scan, recommend, like, skip (docs/music.md)",
    "install": "install the systemd service on a Raspberry Pi (docs/raspberry-pi.md)",
    "audio-devices": "list the audio outputs, the names music.audio_device takes",
}

EPILOG = """\
examples:
  python -m edge --source demo                    # no camera: faces changing mood, the overlay, songs
  python -m edge                                  # first camera, headless, embedded model and songs
  python -m edge --source clip.mp4 --display      # a video file, with the overlay window
  python -m edge --source me.jpg                  # a photo: its faces, their emotions, the room's mood
  python -m edge --source photos/ --json          # a folder of photos, one JSON object per photo
  python -m edge --source 0 --events events.jsonl # webcam 0, mood and song events as JSON lines
  python -m edge --config /etc/moodplayer/config.toml --mood-hold 3
  python -m edge --print-config > config.toml     # a template: every key, its help and its value

Photos (an image or a folder, without --loop) are judged one by one, each on its own: one line per
photo (--json: one object), no music; --display shows each with its boxes until a key (q quits) or
for --still-seconds. Exit 0 when every photo was read, 1 when some could not be (each is named),
2 for usage and start-up errors.
"""


def _commands_text() -> str:
    width = max(map(len, COMMANDS))
    return "commands:\n" + "\n".join(f"  {name:<{width}}  {line}" for name, line in COMMANDS.items())


def _photo_flags(parser: argparse.ArgumentParser) -> None:
    photos = parser.add_argument_group("photos: --source photo.jpg or a folder of them (no music for stills)")
    photos.add_argument("--json", action="store_true", help="one JSON object per photo: path, faces (box, "
                        "probabilities), room mood, valence, arousal")
    photos.add_argument("--still-seconds", type=float, metavar="S",
                        help="with --display, show each photo for S seconds (default: until a key)")


def build_parser() -> argparse.ArgumentParser:
    from edge.flags import add_flags

    parser = argparse.ArgumentParser(prog="python -m edge", usage=USAGE,
                                     description=f"{DESCRIPTION}\n\n{_commands_text()}",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="FILE", help="TOML config file (template: --print-config); flags win")
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective config as TOML, each key with its help, and exit")
    parser.add_argument("--markdown", action="store_true",
                        help="with --print-config: the key table of docs/config.md instead")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_flags(parser, after={"source": _photo_flags})
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    levers = None
    if as_program:  # process-wide memory levers, before NumPy, OpenCV and pygame load; never in a caller's process
        from edge import footprint

        levers = footprint.apply()
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from edge import config as configs

    overrides = {k: v for k, v in vars(args).items() if "." in k and v is not None}
    try:
        cfg = configs.load(args.config, overrides)
    except configs.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.markdown and not args.print_config:
        print("error: --markdown goes with --print-config (the key table of docs/config.md)", file=sys.stderr)
        return 2
    if args.print_config:
        if args.markdown:
            from edge.flags import markdown

            print(markdown(), end="")
        else:
            print(configs.to_toml(cfg))
        return 0
    if levers:
        logging.getLogger("edge.footprint").debug("memory levers: %s", levers)
    from edge.sources import SourceError

    try:
        photos = _photo_paths(cfg, args)
    except (SourceError, ValueError) as e:  # a folder without images, photo flags on another source
        print(f"error: {e}", file=sys.stderr)
        return 2
    if photos is None and demo_window(cfg, "output.headless" in overrides, os.environ):
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, headless=False))
    return _run(cfg) if photos is None else _photos(cfg, args, photos)


def demo_window(cfg, headless_chosen: bool, environ) -> bool:
    """Whether the demo opens the overlay by itself: a display is there (X11 or Wayland) and neither
    --display nor --headless was given. The demo is for watching; a camera run stays headless."""
    if cfg.source.spec.strip() != "demo" or headless_chosen or not cfg.output.headless:
        return False
    found = [name for name in ("WAYLAND_DISPLAY", "DISPLAY") if environ.get(name)]
    log = logging.getLogger("edge.demo")
    if found:
        log.info("demo: a display is there ($%s): opening the overlay (--headless: events and music only)", found[0])
    else:
        log.info("demo: no display ($DISPLAY and $WAYLAND_DISPLAY unset): events and music only")
    return bool(found)


def _photo_paths(cfg, args: argparse.Namespace) -> list | None:
    """The photos to judge as stills (edge.stills): an image or a folder without --loop; None for other
    sources. ValueError for photo flags on another source or a bad --still-seconds."""
    from edge.sources.images import still_paths

    photos = None if cfg.source.loop else still_paths(cfg.source.spec)
    if (args.json or args.still_seconds is not None) and photos is None:
        raise ValueError("--json and --still-seconds are for photos (--source photo.jpg or a folder, without "
                         "--loop); cameras and videos write JSON events with --events -")
    if args.still_seconds is not None and not args.still_seconds >= 0:
        raise ValueError(f"--still-seconds must be 0 or more, got {args.still_seconds}")
    return photos


def _photos(cfg, args: argparse.Namespace, paths: list) -> int:
    from edge.stills import run_config

    try:
        return run_config(cfg, paths, sys.stdout, json_lines=args.json, still_seconds=args.still_seconds)
    except MoodplayerError as e:  # a bad model, detector, source or screen: one line, named
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(cfg) -> int:
    from edge.loop import run
    from edge.sources import EXIT_RESCAN, CameraAbsent
    from edge.systemd import ServiceHooks

    stop = threading.Event()
    hooks = ServiceHooks()  # sd_notify: READY, WATCHDOG, STATUS under systemd; nothing elsewhere

    def on_signal(signum, _frame) -> None:
        logging.getLogger("edge").info("%s: stopping", signal.Signals(signum).name)
        stop.set()
        hooks.stopping()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        # Under systemd a missing camera is waited for (READY, watchdog, STATUS); by hand it is exit 2.
        run(cfg, stop, on_frame=hooks.on_frame, on_source=hooks.on_source, wait_for_camera=hooks.notifier.enabled)
    except CameraAbsent as e:  # systemd starts a fresh process, whose libcamera looks for cameras again
        hooks.status(f"restarting to look for a camera: {e}")
        print(f"error: {e}; exiting {EXIT_RESCAN} so that systemd restarts moodplayer and looks again",
              file=sys.stderr)
        return EXIT_RESCAN
    except MoodplayerError as e:  # every error moodplayer names (edge.errors): one line, exit 2
        hooks.status(f"error: {e}")
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _install(argv: Sequence[str]) -> int:
    from edge.install import main as install_main

    return install_main(argv)


def _audio_devices(argv: Sequence[str]) -> int:
    from edge.music.devices import main as devices_main

    return devices_main(argv)


def _songs(argv: Sequence[str]) -> int:
    from edge.music.cli import main as songs_main

    return songs_main(argv)


def _web(argv: Sequence[str]) -> int:
    from edge.web.cli import main as web_main

    return web_main(argv)


SUBCOMMANDS: dict = {
    "install": _install,  # python -m edge install: the systemd service (docs/raspberry-pi.md)
    "audio-devices": _audio_devices,  # python -m edge audio-devices: names for music.audio_device
    "songs": _songs,  # python -m edge songs scan|recommend|like|skip: the music library (docs/music.md)
    "web": _web,  # python -m edge web [token]: the phone page, API and MQTT companion (docs/web.md)
}
