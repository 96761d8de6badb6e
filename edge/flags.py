"""Every config key as a command-line flag, its help taken from the key itself (``edge.settings.key``):
the one source for ``--help``, ``--print-config``'s comments and docs/config.md's key table.

A key's flag is ``--<section>-<key>`` (``--mood-hold``), without a doubled word (``detect.detect_width``
is ``--detect-width``), or the shorter name in ``NAMES`` (``source.spec`` is ``--source``). The long
spelling of a renamed key, and every older spelling in ``HIDDEN``, keeps working without being listed.
Flags are grouped by stage in the order a frame flows (``edge.config.SECTIONS``). Light: no numpy or cv2.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

#: Keys whose flag is shorter than --<section>-<key>: "section.key" -> (flag, value, help), value None
#: for a flag that takes the value, else a switch that sets it (help None: the key's own).
NAMES: dict[str, tuple[tuple[str, str | None, str | None], ...]] = {
    "source.spec": (("--source", None, None),),
    "source.realtime": (("--realtime", "true", None),),
    "source.loop": (("--loop", "true", None),),
    "classify.model": (("--model", None, None),),
    "music.songs": (("--songs", None, None),),
    "overlay.fullscreen": (("--fullscreen", "true", None),),
    "output.headless": (("--display", "false", "open the overlay window (--overlay-view camera | now-playing; "
                         "q quits, l likes, s skips); no screen: exit 2, under systemd headless"),
                        ("--headless", "true", "draw nothing (the default)")),
    "output.record": (("--record", None, None),),
    "output.events": (("--events", None, None),),
    "output.events_frames": (("--events-frames", "true", None),),
    "output.max_frames": (("--max-frames", None, None),),
}

#: Older spellings that still work, unlisted: flag -> "section.key".
HIDDEN = {"--threads": "classify.threads"}

#: What each stage is, for the --help group titles (a section missing here is titled by its name).
STAGES = {
    "source": "where frames come from",
    "detect": "finding and tracking faces",
    "classify": "each face's seven emotions",
    "mood": "the room's mood, smoothed on frame time",
    "music": "the songs and who plays them",
    "overlay": "the window that --display opens",
    "output": "events, recording, logs",
    "control": "the local control socket the companion talks to",
    "web": "the companion's phone page (python -m edge web)",
    "mqtt": "the companion's Home Assistant link (python -m edge web)",
}

_METAVARS = {bool: "{true,false}", int: "INT", float: "NUM", str: "TEXT"}


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key as the docs and the parser see it."""

    section: str
    name: str
    type: type
    default: Any
    help: str

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def long_flag(self) -> str:
        """``--<section>-<key>``, the spelling every key has had."""
        return f"--{self.section}-{self.name.replace('_', '-')}"

    @property
    def flags(self) -> tuple[str, ...]:
        """The listed spellings: a NAMES entry, else ``--<section>-<key>`` without a doubled word."""
        if self.dotted in NAMES:
            return tuple(flag for flag, _, _ in NAMES[self.dotted])
        name = self.name.removeprefix(f"{self.section}_")
        return (f"--{self.section}-{name.replace('_', '-')}",)


def keys() -> list[Key]:
    """Every config key, section by section in file order (the order a frame flows)."""
    from edge.config import SECTIONS

    out = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            out.append(Key(section, f.name, hints[f.name], f.default, f.metadata.get("help", "")))
    return out


def show(value: Any) -> str:
    """A default as TOML spells it (``true``, ``"auto"``, ``1.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def add_flags(parser: argparse.ArgumentParser, after: dict[str, Any] | None = None) -> None:
    """One group per section with each key's flag(s); ``after`` maps a section to a callable that adds
    more groups right after it (the photo flags follow the source's)."""
    by_section: dict[str, list[Key]] = {}
    for k in keys():
        by_section.setdefault(k.section, []).append(k)
    for section, ks in by_section.items():
        title = f"{section}: {STAGES[section]}" if section in STAGES else section
        group = parser.add_argument_group(title)
        for k in ks:
            _add_key(group, parser, k)
        if after and section in after:
            after[section](parser)
    for flag, dotted in HIDDEN.items():
        parser.add_argument(flag, dest=dotted, help=argparse.SUPPRESS)


def _add_key(group, parser: argparse.ArgumentParser, k: Key) -> None:
    text = k.help.replace("%", "%%")
    for flag, const, own in NAMES.get(k.dotted, ((k.flags[0], None, None),)):
        if const is None:
            group.add_argument(flag, dest=k.dotted, metavar=_METAVARS.get(k.type, "VALUE"),
                               help=f"{text} [default: {show(k.default)}]")
        else:
            words = own.replace("%", "%%") if own else text
            group.add_argument(flag, dest=k.dotted, action="store_const", const=const,
                               help=f"{words} [{k.dotted} = {const}]")
    if k.long_flag not in k.flags:  # the long spelling, unlisted: --source-spec, --detect-detect-width
        parser.add_argument(k.long_flag, dest=k.dotted, help=argparse.SUPPRESS)


def markdown() -> str:
    """docs/config.md: one table per section, every key with its flag, default and help."""
    lines = ["# Configuration keys", "",
             "Generated by `python -m edge --print-config --markdown` from the keys' own help "
             "(`edge/settings.py` and the other config modules); tests/test_help.py checks it is up to date.",
             "Set a key in a TOML file (`--config FILE`, template: `python -m edge --print-config`) or with its "
             "flag; a flag wins over the file."]
    section = None
    for k in keys():
        if k.section != section:
            section = k.section
            title = f": {STAGES[section]}" if section in STAGES else ""
            lines += ["", f"## [{section}]{title}", "", "| key | flag | default | meaning |", "|---|---|---|---|"]
        flags = ", ".join(f"`{f}`" for f in k.flags)
        text = k.help.replace("|", "\\|")
        lines.append(f"| `{k.name}` | {flags} | `{show(k.default)}` | {text} |")
    return "\n".join(lines) + "\n"
