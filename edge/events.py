"""Events as JSON lines, one object a line, written as they happen, safe to write from several threads.

    {"t": 3.2, "time": "2026-12-03T10:15:02.123+00:00", "type": "mood", "mood": "happy", "confidence": 0.81}
    {"t": 3.2, "time": "2026-12-03T10:15:02.124+00:00", "type": "song", "mood": "happy", "path": "songs/happy/brisk.ogg"}

``t`` is frame time in seconds, rounded to milliseconds (what every decision uses); ``time`` is the
wall clock with its zone (ISO 8601, milliseconds), so a log that spans restarts reads as one story;
``type`` names the event; the other keys depend on it. Paths, numpy numbers and arrays are written as
plain JSON values.

A file is appended to, never truncated, and rotated at ``max_bytes``: ``events.jsonl`` becomes
``events.jsonl.1`` (and ``.1`` becomes ``.2`` ...), ``keep`` old files are kept. A write that fails
(a full disk, an I/O error) is logged once and its event dropped; the file is cut back to its last
whole line, and writing goes on as soon as the disk takes it again. A run never dies of its log.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from edge.errors import MoodplayerError

log = logging.getLogger(__name__)

#: Rotate the events file at this size (bytes) unless told otherwise.
MAX_BYTES = 5 * 1024 * 1024
#: Old files kept by rotation: events.jsonl.1, events.jsonl.2.
KEEP = 2

#: ``listener(type, t, fields)``: hears every event but the per-frame ones, after it is written.
Listener = Callable[[str, float, Mapping[str, Any]], None]


class EventLogError(MoodplayerError, OSError):
    """The events file can't be opened; the message names it and what to do."""


def wall_time() -> datetime:
    """Now, in the local zone (what the ``time`` field shows)."""
    return datetime.now().astimezone()


class EventLog:
    """Writes events to a file path, an open text stream, or nowhere (``EventLog()``).

    A path of "-" means standard output. A stream you pass in is flushed but left open by ``close()``.
    ``now`` gives the wall-clock time of each event (injected by tests). ``listeners`` (the control
    socket's history and subscribers) hear every event but the per-frame ones, with or without a file;
    a failing listener is logged, never raised.
    """

    def __init__(self, target: str | Path | IO[str] | None = None, *, max_bytes: int = MAX_BYTES,
                 keep: int = KEEP, now: Callable[[], datetime] = wall_time, listeners: Sequence[Listener] = ()):
        self._lock = threading.Lock()
        self._now = now
        self._listeners = tuple(listeners)
        self.max_bytes, self.keep = max_bytes, keep
        self.path: Path | None = None
        self._stream: IO[str] | None = None
        self._file: _AppendFile | None = None  # None between a failed reopen and the next write
        self._closed = False
        self.dropped = 0  # events lost to write errors since the last one that got through
        if target == "-":
            self._stream = sys.stdout
        elif isinstance(target, (str, Path)) and str(target):
            self.path = Path(target)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = _AppendFile(self.path)
            except OSError as e:
                raise EventLogError(f"can't write events to {self.path}: {e.strerror or e}; "
                                    "choose a writable path, or none to keep no events") from e
        elif target is not None and not isinstance(target, (str, Path)):
            self._stream = target
        self.target = target

    @property
    def enabled(self) -> bool:
        """False for the no-op sink (and after ``close()``)."""
        return not self._closed and (self._stream is not None or self.path is not None)

    def write(self, type: str, t: float, **fields: Any) -> None:
        """Write one event: ``{"t": t, "time": now, "type": type, **fields}``, then tell the listeners.
        Never raises for I/O."""
        if self.enabled:
            self._write(type, t, fields)
        if type != "frame" and not self._closed:
            for listener in self._listeners:
                try:
                    listener(type, t, fields)
                except Exception:
                    log.exception("event listener %r failed for a %s event", listener, type)

    def _write(self, type: str, t: float, fields: Mapping[str, Any]) -> None:
        stamp = self._now().isoformat(timespec="milliseconds")
        event = {"t": round(float(t), 3), "time": stamp, "type": type, **fields}
        data = dumps(event) + "\n"
        raw = data.encode("utf-8")
        with self._lock:
            if self._closed:
                return
            try:
                if self.path is not None:
                    if self._file is None:  # a reopen after rotating failed: try again now
                        self._file = _AppendFile(self.path)
                    if self.max_bytes and self._file.size and self._file.size + len(raw) > self.max_bytes:
                        self._rotate()
                    self._file.append(raw)
                elif self._stream is not None:
                    self._stream.write(data)
                    self._stream.flush()
            except OSError as e:
                self._failed(e)
                return
            if self.dropped:
                log.info("events are written to %s again (%d dropped meanwhile)", self._where(), self.dropped)
                self.dropped = 0

    def _rotate(self) -> None:
        assert self._file is not None and self.path is not None
        file, self._file = self._file, None  # never left holding a closed descriptor
        file.close()
        for i in range(self.keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            newer = self.path if i == 1 else self.path.with_name(f"{self.path.name}.{i - 1}")
            if newer.exists():
                os.replace(newer, older)
        if self.keep == 0:
            self.path.unlink(missing_ok=True)
        self._file = _AppendFile(self.path)

    def _failed(self, e: OSError) -> None:
        if not self.dropped:
            log.warning("can't write events to %s (%s): dropping events until it works again; free some space "
                        "or check the disk", self._where(), e.strerror or e)
        self.dropped += 1

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "the events stream"

    def close(self) -> None:
        """Flush, and close the file if this log opened it; later writes are dropped."""
        with self._lock:
            stream, self._stream = self._stream, None
            file, self._file = self._file, None
            self._closed = True
        if file is not None:
            file.close()
        if stream is not None:
            try:
                stream.flush()
            except OSError:
                pass

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AppendFile:
    """A file opened for appending whole lines: a line that fails half-way is cut off again, so the file
    always ends with a complete line."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.size = os.fstat(self.fd).st_size

    def append(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError:
            try:
                os.ftruncate(self.fd, self.size)  # drop the partial line
            except OSError:
                pass
            raise
        self.size += len(data)

    def close(self) -> None:
        os.close(self.fd)


def dumps(obj: Any, **kwargs: Any) -> str:
    """``obj`` as JSON text: paths, numpy values and sets as plain values, NaN and infinities as null
    (JSON has no such thing). ``kwargs`` go to ``json.dumps`` (``separators``)."""
    try:
        return json.dumps(obj, default=_plain, ensure_ascii=False, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(_finite(json.loads(json.dumps(obj, default=_plain))), ensure_ascii=False, **kwargs)


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
