"""The control socket's wire format: one JSON object a line, both ways, UTF-8.

Requests carry ``op``::

    {"op": "status"}                               -> {"ok": true, "status": {...}}
    {"op": "history"}                              -> {"ok": true, "history": [event, ...]}
    {"op": "subscribe"}                            -> {"ok": true, "op": "subscribe"}, then one event a line
    {"op": "like"} / {"op": "skip"} / {"op": "pause"} / {"op": "resume"}
    {"op": "mood", "mood": "sad", "minutes": 30}   # "mood": null clears the override
    {"op": "strategy", "strategy": "uplift"}       # "match" or "uplift"
    {"op": "volume", "volume": 0.4}                # 0..1

Commands answer ``{"ok": true, "op": ...}`` once accepted; the loop applies them before its next frame.
A bad request gets ``{"error": "..."}`` and changes nothing. An ``id`` in a request is echoed in its reply.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from edge.errors import MoodplayerError
from edge.events import dumps
from edge.music.config import STRATEGIES

QUERIES = ("status", "history", "subscribe")
COMMANDS = ("like", "skip", "pause", "resume", "mood", "strategy", "volume")
OPS = QUERIES + COMMANDS
#: Event types kept for ``history`` (today's moods and songs, and what steered them).
HISTORY_TYPES = ("mood", "song", "override", "like", "skip")
MAX_LINE = 64 * 1024  # bytes in one request line
MAX_MINUTES = 24 * 60  # the longest override
DEFAULT_MINUTES = 30.0


class BadRequest(MoodplayerError, ValueError):
    """A request the socket refuses; the message says what a good one looks like."""


def parse(line: bytes | str, labels: Sequence[str]) -> dict[str, Any]:
    """The request on ``line``, checked and normalised (``mood`` gets ``minutes``); ``BadRequest`` if not."""
    try:
        request = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: absurd nesting
        raise BadRequest(f"not JSON ({e}); send one object a line, e.g. {{\"op\": \"status\"}}") from None
    if not isinstance(request, dict):
        raise BadRequest('a request is a JSON object, e.g. {"op": "status"}')
    op = request.get("op")
    if op not in OPS:
        raise BadRequest(f"unknown op {op!r}; ops: {', '.join(OPS)}")
    out: dict[str, Any] = {"op": op}
    if "id" in request:
        out["id"] = request["id"]
    if op == "mood":
        out.update(_mood_args(request, labels))
    elif op == "strategy":
        if request.get("strategy") not in STRATEGIES:
            raise BadRequest(f"strategy must be one of {', '.join(STRATEGIES)}, got {request.get('strategy')!r}")
        out["strategy"] = request["strategy"]
    elif op == "volume":
        out["volume"] = _number(request.get("volume"), "volume", 0.0, 1.0)
    return out


def _mood_args(request: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    if "mood" not in request:
        raise BadRequest('mood needs "mood": a label, or null to clear the override')
    mood = request["mood"]
    if mood is None:
        return {"mood": None, "minutes": None}
    if mood not in labels:
        raise BadRequest(f"mood must be one of {', '.join(labels)} or null, got {mood!r}")
    minutes = request.get("minutes", DEFAULT_MINUTES)
    return {"mood": mood, "minutes": _number(minutes, "minutes", 0.0, MAX_MINUTES, open_low=True)}


def _number(value: Any, name: str, low: float, high: float, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        side = f"more than {low:g}" if open_low else f"at least {low:g}"
        raise BadRequest(f"{name} must be a number, {side} and at most {high:g}, got {value!r}")
    return float(value)


def encode(obj: dict[str, Any]) -> bytes:
    """One line of the wire format (NaN and infinities become null)."""
    return dumps(obj, separators=(",", ":")).encode() + b"\n"
