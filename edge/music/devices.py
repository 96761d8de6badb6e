"""``python -m edge audio-devices``: the names ``music.audio_device`` takes.

First ALSA's cards, as ``default:CARD=<id>`` (the name to type: ALSA's default plugins convert the
format, and a card's id stays put when card numbers shift, e.g. two USB DACs), each with its
description from ``/proc/asound/cards``::

     0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                          vc4-hdmi-0

Then SDL's own output names (which ``music.audio_device`` also takes).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

CARDS = Path("/proc/asound/cards")
_CARD = re.compile(r"^\s*(\d+)\s+\[(\S+)\s*\]:\s*(\S+)\s+-\s+(.*?)\s*$")


@dataclasses.dataclass(frozen=True)
class Card:
    number: int
    id: str  # CARD=<id>
    driver: str
    name: str
    long_name: str

    @property
    def alsa_name(self) -> str:
        return f"default:CARD={self.id}"

    @property
    def note(self) -> str:
        if self.id.startswith("vc4hdmi"):
            return "HDMI: the screen must be on and connected at boot"
        return ""


def parse_cards(text: str) -> list[Card]:
    """The cards in ``/proc/asound/cards`` text (a header line per card, then its long name)."""
    cards: list[Card] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _CARD.match(line)
        if match:
            long_name = lines[i + 1].strip() if i + 1 < len(lines) and not _CARD.match(lines[i + 1]) else ""
            cards.append(Card(int(match[1]), match[2], match[3], match[4], long_name))
    return cards


def read_cards(path: Path = CARDS) -> list[Card] | None:
    """The cards ALSA has, or None when ``path`` can't be read (no ALSA, or no /proc/asound here)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return [] if text.strip() == "--- no soundcards ---" else parse_cards(text)


def print_cards(cards: list[Card] | None, path: Path) -> None:
    print("ALSA cards (type one of these names):")
    if cards is None:
        print(f"  ({path} is not readable: no ALSA here?)")
    elif not cards:
        print("  (none: is a speaker/HDMI screen/USB DAC connected? is this user in the audio group?)")
    width = max((len(c.alsa_name) for c in cards or ()), default=0)
    for card in cards or ():
        note = f"  ({card.note})" if card.note else ""
        print(f"  {card.alsa_name:<{width}}  card {card.number}: {card.long_name or card.name}{note}")


def sdl_names(driver: str | None) -> list[str]:
    """SDL's output names with ``driver``; ``RuntimeError`` saying why when SDL can't list them."""
    if driver:
        os.environ["SDL_AUDIODRIVER"] = driver
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
        from pygame._sdl2 import audio as sdl_audio
        from pygame._sdl2 import sdl2
    except ImportError as e:
        raise RuntimeError(f"pygame with SDL 2 is needed ({e})") from None
    try:
        sdl2.init_subsystem(sdl2.INIT_AUDIO)
        return list(sdl_audio.get_audio_device_names(False))
    except pygame.error as e:
        raise RuntimeError(f"SDL's {driver or 'default'} audio driver did not start ({e}); ALSA's devices: "
                           "aplay -L") from None


def main(argv: Sequence[str], cards_path: Path = CARDS) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge audio-devices",
        description="List the names music.audio_device takes: default:CARD=<id> for each ALSA card (from "
                    "/proc/asound/cards), then the outputs SDL sees. For every ALSA name: `aplay -L`.")
    linux = sys.platform.startswith("linux")
    parser.add_argument("--driver", default=os.environ.get("SDL_AUDIODRIVER") or ("alsa" if linux else None),
                        help="SDL audio driver (default: $SDL_AUDIODRIVER, else alsa as the service uses)")
    parser.add_argument("--cards", type=Path, default=cards_path, help=f"ALSA's card list (default: {CARDS})")
    args = parser.parse_args(list(argv))
    if linux:
        print_cards(read_cards(args.cards), args.cards)
        print()
    try:
        names = sdl_names(args.driver)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"audio outputs ({args.driver or 'SDL default'} driver):")
    for name in names:
        print(f"  {name}")
    if not names:
        print("  (none: is a speaker/HDMI screen connected? is this user in the audio group?)")
    print('\nuse one in the config: [music] audio_device = "<name>"   (empty: the default output; two identical '
          'USB DACs: name them by CARD=<id>, card numbers shift)')
    return 0
