"""``python -m edge audio-devices``: the names ``music.audio_device`` takes."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence


def main(argv: Sequence[str]) -> int:
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
