"""The control socket's wire format: one JSON object a line, both ways, UTF-8.

Requests carry ``op``::

    {"op": "status"}                               -> {"ok": true, "status": {...}}
    {"op": "history"}                              -> {"ok": true, "history": [event, ...]}
    {"op": "subscribe"}                            -> {"ok": true, "op": "subscribe"}, then one event a line
    {"op": "like"} / {"op": "skip"} / {"op": "pause"} / {"op": "resume"}
    {"op": "mood", "mood": "sad", "minutes": 30}   # "mood": null clears the override
    {"op": "strategy", "strategy": "uplift"}       # "match" or "uplift"
    {"op": "volume", "volume": 0.4}                # 0..1
    {"op": "privacy", "on": true}                  # true: close the camera device; false: open it again

Commands answer ``{"ok": true, "op": ...}`` once accepted; the loop applies them before its next frame
(while privacy keeps the camera closed: every ``Shutter.TICK_S``); ``privacy`` takes effect at once.
A bad request gets ``{"error": "..."}`` and changes nothing. An ``id`` in a request is echoed in its reply.

Everything from outside is read with ``loads``: strict UTF-8, no lone surrogates, and no big integers (an
integer of more than ``MAX_DIGITS`` digits, ``NaN`` and ``Infinity`` are read as floats, which every range
check then refuses by name). The companion checks its HTTP and MQTT commands with the same ``check``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from edge.errors import MoodplayerError
from edge.events import dumps
from edge.music.config import STRATEGIES

QUERIES = ("status", "history", "subscribe")
COMMANDS = ("like", "skip", "pause", "resume", "mood", "strategy", "volume", "privacy")
OPS = QUERIES + COMMANDS
#: Event types kept for ``history`` (today's moods and songs, and what steered them).
HISTORY_TYPES = ("mood", "song", "override", "like", "skip", "camera")
MAX_LINE = 64 * 1024  # bytes in one request line
MAX_DIGITS = 15  # longer integers are read as floats: no big-integer arithmetic on input from a socket
MAX_MINUTES = 24 * 60  # the longest override
DEFAULT_MINUTES = 30.0


class BadRequest(MoodplayerError, ValueError):
    """A request the socket refuses; the message says what a good one looks like."""


def loads(data: bytes | str) -> Any:
    """JSON from outside, as ``json.loads`` but strict: UTF-8 only, no lone surrogates anywhere, integers of
    more than ``MAX_DIGITS`` digits and NaN/Infinity as floats. ``BadRequest`` says what is wrong."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(text, parse_int=_int, parse_constant=float)
    except UnicodeDecodeError as e:
        raise BadRequest(f"not UTF-8 ({e.reason} at byte {e.start})") from None
    except RecursionError:  # absurd nesting
        raise BadRequest("not JSON: nested too deeply") from None
    except ValueError as e:
        raise BadRequest(f"not JSON ({e})") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("not valid Unicode: a lone surrogate (\\ud800-\\udfff) in a string") from None
    except RecursionError:
        raise BadRequest("not JSON: nested too deeply") from None
    return value


def _int(digits: str) -> int | float:
    return int(digits) if len(digits.lstrip("-")) <= MAX_DIGITS else float(digits)


def parse(line: bytes | str, labels: Sequence[str]) -> dict[str, Any]:
    """The request on ``line``, checked and normalised (``mood`` gets ``minutes``); ``BadRequest`` if not."""
    try:
        request = loads(line)
    except BadRequest as e:
        raise BadRequest(f"{e}; send one object a line, e.g. {{\"op\": \"status\"}}") from None
    return check(request, labels)


def check(request: Any, labels: Sequence[str]) -> dict[str, Any]:
    """``request`` (a value from ``loads``) as a checked, normalised request; ``BadRequest`` if it is not one."""
    if not isinstance(request, dict):
        raise BadRequest('a request is a JSON object, e.g. {"op": "status"}')
    op = request.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise BadRequest(f"unknown op {_show(op)}; ops: {', '.join(OPS)}")
    out: dict[str, Any] = {"op": op}
    if "id" in request:
        out["id"] = request["id"]
    if op == "mood":
        out.update(_mood_args(request, labels))
    elif op == "strategy":
        strategy = request.get("strategy")
        if not isinstance(strategy, str) or strategy not in STRATEGIES:
            raise BadRequest(f"strategy must be one of {', '.join(STRATEGIES)}, got {_show(strategy)}")
        out["strategy"] = strategy
    elif op == "volume":
        out["volume"] = _number(request.get("volume"), "volume", 0.0, 1.0)
    elif op == "privacy":
        if not isinstance(request.get("on"), bool):
            raise BadRequest(f'privacy needs "on": true (close the camera) or false, got {_show(request.get("on"))}')
        out["on"] = request["on"]
    return out


def _mood_args(request: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    if "mood" not in request:
        raise BadRequest('mood needs "mood": a label, or null to clear the override')
    mood = request["mood"]
    if mood is None:
        return {"mood": None, "minutes": None}
    if not isinstance(mood, str) or mood not in labels:
        raise BadRequest(f"mood must be one of {', '.join(labels)} or null, got {_show(mood)}")
    minutes = request.get("minutes", DEFAULT_MINUTES)
    return {"mood": mood, "minutes": _number(minutes, "minutes", 0.0, MAX_MINUTES, open_low=True)}


def _number(value: Any, name: str, low: float, high: float, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, int):
        ok = -10**MAX_DIGITS < value < 10**MAX_DIGITS  # never converted to float: no OverflowError
    if not ok or not math.isfinite(value) or value > high or value < low or (open_low and value == low):
        side = f"more than {low:g}" if open_low else f"at least {low:g}"
        raise BadRequest(f"{name} must be a number, {side} and at most {high:g}, got {_show(value)}")
    return float(value)


def _show(value: Any) -> str:
    """``value`` for an error message: short, and never a huge integer's digits."""
    if isinstance(value, int) and not -10**MAX_DIGITS < value < 10**MAX_DIGITS:
        return "an integer too large"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def encode(obj: dict[str, Any]) -> bytes:
    """One line of the wire format (NaN and infinities become null; an undecodable file name's
    surrogates become "?": the line is always UTF-8)."""
    return dumps(obj, separators=(",", ":")).encode("utf-8", "replace") + b"\n"
