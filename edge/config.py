"""One TOML file mapped onto frozen dataclasses, one section per stage, every key also a flag.

Each stage module owns its section's dataclass (``SourceConfig`` in ``edge.sources``, ``DetectConfig``
in ``edge.detect``, ...); this module only collects them, reads the file, applies ``--section-key``
flags and validates everything before the camera opens. An unknown or ill-typed key stops start-up
with its name::

    [detect]
    every = 3          # run Haar on every 3rd frame, track in between
    [mood]
    hold = 1.5
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import tomllib
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.control import ControlConfig

# Light modules only (no numpy, OpenCV, pygame): --print-config, the installer and the companion load fast.
from edge.errors import MoodplayerError
from edge.music.config import MusicConfig
from edge.settings import ClassifyConfig, DetectConfig, MoodConfig, OverlayConfig, SourceConfig, key
from edge.web.config import MqttConfig, WebConfig

log = logging.getLogger(__name__)

#: Keys that once existed: "section.key" -> what to do instead. Read with a warning, then ignored,
#: so a config written by an older --print-config still starts.
RETIRED = {
    "mood.nobody_after": "the one \"nobody here\" timer is music.idle_after",
}


class ConfigError(MoodplayerError, ValueError):
    """A bad config file, key or value; the message names it."""


@dataclass(frozen=True)
class OutputConfig:
    headless: bool = key(True, "draw nothing, the default for a service (false, or --display: open the overlay window)")
    record: str = key("", "write the annotated video to this file (.mp4; empty: none)")
    events: str = key("", "JSON-lines event file, appended to across runs (\"-\": stdout; empty: none)")
    events_max_mb: float = key(5.0, "rotate the events file at this size into events.jsonl.1, .2 "
                               "(MB, 0..10000; 0: never)")
    events_keep: int = key(2, "rotated events files kept (files, 0..100)")
    events_frames: bool = key(False, "also write one event per frame: faces, probabilities, stage timings")
    log_every: float = key(10.0, "frame time between progress log lines (s, >= 0; 0: never)")
    max_frames: int = key(0, "stop after this many frames (frames, >= 0; 0: no limit)")

    def __post_init__(self) -> None:
        if self.max_frames < 0:
            raise ValueError(f"'max_frames' must be 0 (no limit) or more, got {self.max_frames}")
        if not 0 <= self.events_max_mb <= 10_000:
            raise ValueError(f"'events_max_mb' must be between 0 (never rotate) and 10000 MB, got {self.events_max_mb}")
        if not 0 <= self.events_keep <= 100:
            raise ValueError(f"'events_keep' must be between 0 and 100 files, got {self.events_keep}")
        if not self.log_every >= 0:
            raise ValueError(f"'log_every' must be 0 (never) or more seconds, got {self.log_every}")


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    mood: MoodConfig = field(default_factory=MoodConfig)
    music: MusicConfig = field(default_factory=MusicConfig)
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    control: ControlConfig = field(default_factory=ControlConfig)  # the camera process's control socket
    web: WebConfig = field(default_factory=WebConfig)  # the companion (python -m edge web)
    mqtt: MqttConfig = field(default_factory=MqttConfig)  # the companion's Home Assistant link


#: section name -> its dataclass, in file order.
SECTIONS: dict[str, type] = dict(typing.get_type_hints(Config))


def fields_of(section: str) -> dict[str, tuple[type, Any]]:
    """``key -> (type, default)`` for one section."""
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(cls)}


def load(path: Path | str | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """The effective config: defaults, then the TOML file, then ``overrides`` (``"section.key": value``,
    values typed or as strings from the command line)."""
    data: dict[str, dict[str, Any]] = {}
    where = "config"
    if path:
        p = Path(path)
        where = str(p)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist (see `python -m edge --print-config` for a template)")
        try:
            raw = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: absurd nesting
            raise ConfigError(f"{p} is not valid TOML: {e}") from None
        for section, values in raw.items():
            _check_section(section, where)
            if not isinstance(values, dict):
                raise ConfigError(f"{where}: '{section}' must be a [{section}] table, got {values!r}")
            for key, value in values.items():
                if _retired(f"{section}.{key}", where):
                    continue
                data.setdefault(section, {})[key] = _coerce(section, key, value, where, from_text=False)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        _check_section(section, "flag")
        data.setdefault(section, {})[key] = _coerce(section, key, value, "flag", from_text=isinstance(value, str))
    sections = {}
    for name, cls in SECTIONS.items():
        try:
            sections[name] = cls(**data.get(name, {}))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: [{name}] {e}") from None
    return Config(**sections)


def _retired(dotted: str, where: str) -> bool:
    if dotted not in RETIRED:
        return False
    log.warning("%s: '%s' is no longer used (%s): remove it", where, dotted, RETIRED[dotted])
    return True


def _check_section(section: str, where: str) -> None:
    if section not in SECTIONS:
        raise ConfigError(f"{where}: unknown section '{section}'{_suggest(section, SECTIONS)} "
                          f"(sections: {', '.join(SECTIONS)})")


def _coerce(section: str, key: str, value: Any, where: str, from_text: bool) -> Any:
    known = fields_of(section)
    if key not in known:
        raise ConfigError(f"{where}: unknown key '{section}.{key}'{_suggest(key, known)} "
                          f"(keys of [{section}]: {', '.join(known)})")
    typ = known[key][0]
    name = f"{section}.{key}"
    if from_text:
        try:
            if typ is bool:
                low = value.strip().lower()
                if low not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
                    raise ValueError
                return low in ("true", "yes", "1", "on")
            value = typ(value)
        except ValueError:
            raise ConfigError(f"{where}: '{name}' must be {_article(typ)}, got {value!r}") from None
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where}: '{name}' must be {_article(typ)}, got {value!r}")
    if typ is float and not math.isfinite(value):
        raise ConfigError(f"{where}: '{name}' must be a finite number, got {value!r}")
    return value


def _article(typ: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(typ, typ.__name__)


def _suggest(word: str, options: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def to_toml(cfg: Config, comments: Mapping[str, str] | None = None, active: Collection[str] | None = None) -> str:
    """The config as TOML, every key shown under its help as a ``# line``: what ``--print-config`` prints,
    and (with ``comments``, a line that stands in for the help of a named ``section.key``, and ``active``,
    the only keys written set: every other is written commented out with its value) the installer's
    commented config. The one TOML writer."""
    lines = []
    for name in SECTIONS:
        lines.append(f"[{name}]")
        section = getattr(cfg, name)
        for f in dataclasses.fields(section):
            dotted = f"{name}.{f.name}"
            text = (comments or {}).get(dotted, f.metadata.get("help", ""))
            if text:
                lines.append(f"# {text}")
            prefix = "# " if active is not None and dotted not in active else ""
            lines.append(f"{prefix}{f.name} = {toml_value(getattr(section, f.name))}")
        lines.append("")
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    """One value as TOML (bool, int, float, str: the types config keys have)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # a TOML basic string: JSON's escapes are TOML's, and TOML also wants DEL escaped
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    return repr(value)
