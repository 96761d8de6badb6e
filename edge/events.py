"""Events as JSON lines, one object a line, flushed as written, safe to write from several threads.

    {"t": 3.2, "type": "mood", "mood": "happy", "confidence": 0.81, "faces": 1}
    {"t": 3.2, "type": "song", "mood": "happy", "path": "songs/happy/brisk.ogg"}

``t`` is frame time in seconds, rounded to milliseconds; ``type`` names the event; the other keys
depend on it. Paths, numpy numbers and arrays are written as plain JSON values.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from pathlib import Path
from typing import IO, Any


class EventLogError(OSError):
    """The events file can't be opened; the message names it and what to do."""


class EventLog:
    """Writes events to a file path, an open text stream, or nowhere (``EventLog()``).

    A path of "-" means standard output. A file is truncated on open unless ``append`` is true; a
    stream you pass in is flushed but left open by ``close()``.
    """

    def __init__(self, target: str | Path | IO[str] | None = None, *, append: bool = False):
        self._lock = threading.Lock()
        self._owned = False
        self._stream: IO[str] | None
        if target is None or target == "":
            self._stream = None
        elif target == "-":
            self._stream = sys.stdout
        elif isinstance(target, (str, Path)):
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = open(path, "a" if append else "w", encoding="utf-8")
            except OSError as e:
                raise EventLogError(f"can't write events to {path}: {e.strerror or e}; "
                                    "choose a writable path, or none to keep no events") from e
            self._owned = True
        else:
            self._stream = target
        self.target = target

    @property
    def enabled(self) -> bool:
        """False for the no-op sink (and after ``close()``)."""
        return self._stream is not None

    def write(self, type: str, t: float, **fields: Any) -> None:
        """Write one event: ``{"t": t, "type": type, **fields}``. Does nothing once closed."""
        if self._stream is None:
            return
        event = {"t": round(float(t), 3), "type": type, **fields}
        try:
            line = json.dumps(event, default=_plain, ensure_ascii=False, allow_nan=False)
        except ValueError:  # NaN or infinity somewhere: JSON has no such thing, write null
            line = json.dumps(_finite(json.loads(json.dumps(event, default=_plain))), ensure_ascii=False)
        with self._lock:
            if self._stream is None:
                return
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Flush, and close the file if this log opened it; later writes are dropped."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is None:
            return
        stream.flush()
        if self._owned:
            stream.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """JSON for the values events carry besides str/int/float/list/dict."""
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"event field of type {type(value).__name__} is not JSON: convert it to str, "
                    "a number, a list or a dict")


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
