"""The privacy shutter: a source that is open only while the listener lets it watch.

``Shutter(factory, privacy)`` iterates the frames of ``factory()``'s source (its own iteration: a video
keeps its pacing, a camera its retry layer). Before each frame it looks at the switch
(``edge.privacy.Privacy``); when the listener turned privacy on it closes the source, so the camera
device is released (a Pi camera's or a webcam's LED goes off) and no frame is read, and waits on the
switch. While it waits it calls ``on_tick(t)`` every ``TICK_S`` (the loop applies the socket's
commands and feeds the watchdog there). Privacy off opens a fresh source with ``factory()``.

Frame time runs on across the gap: ``t`` (and ``index``) of the reopened source are re-stamped to
continue from the last frame plus the time the camera was closed, so an override's end and the mood
filter's hold keep their meaning. ``on_change(off, t)`` hears each switch, on the loop's thread.
A file or folder source starts over when it is opened again.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

from edge.privacy import Privacy
from edge.sources.base import Source
from edge.types import Frame


class Shutter(Source):
    """``factory()``'s frames while ``privacy`` is off; the source closed while it is on. A ``factory``
    that fails raises (``SourceError``), at construction or when privacy turns off."""

    TICK_S = 0.5

    def __init__(self, factory: Callable[[], Source], privacy: Privacy, *, name: str = "camera",
                 stop: threading.Event | None = None, on_change: Callable[[bool, float], None] | None = None,
                 on_tick: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(realtime=False)
        self._factory, self._privacy, self._stop = factory, privacy, stop
        self._on_change = on_change or (lambda off, t: None)
        self._on_tick = on_tick or (lambda t: None)
        self._clock = clock
        self._inner: Source | None = None
        self._frames: Iterator[Frame] | None = None
        self._shut = False  # closed at the listener's wish (and on_change told)
        self._index = 0
        self._offset = 0.0
        self._rebase = False
        self._last_t: float | None = None
        self._last_wall: float | None = None
        self.opened = 0  # how many times a source was opened (tests)
        self.name = name
        self._started = clock()
        if not privacy.on:
            self._open()
            self._rebase = False  # the first source's own clock is the run's

    @property
    def off(self) -> bool:
        """The source is closed at the listener's wish."""
        return self._shut

    def read(self) -> Frame | None:
        raise TypeError("iterate a Shutter (its source keeps its own pacing)")

    def __iter__(self) -> Iterator[Frame]:
        while not self._stopping():
            if self._privacy.on:
                self._close_for_privacy()
                if not self._privacy.wait(self.TICK_S) and self._privacy.on:
                    self._on_tick(self._now())
                continue
            if self._frames is None:
                self._open()
                self._shut = False
                self._on_change(False, self._now())
            assert self._frames is not None
            frame = next(self._frames, None)
            if frame is None:
                return
            yield self._restamp(frame)

    def close(self) -> None:
        super().close()
        self._drop()

    # -- inside --------------------------------------------------------------------------------------

    def _stopping(self) -> bool:
        return self._closed or (self._stop is not None and self._stop.is_set())

    def _open(self) -> None:
        source = self._factory()
        self._inner, self._frames = source, iter(source)
        self.name, self.fps, self.live = source.name, source.fps or self.fps, source.live
        self.opened += 1
        self._rebase = True

    def _close_for_privacy(self) -> None:
        if not self._shut:
            self._shut = True
            self._drop()
            self._on_change(True, self._now())

    def _drop(self) -> None:
        inner, frames = self._inner, self._frames
        self._inner = self._frames = None
        if frames is not None and hasattr(frames, "close"):
            frames.close()  # a generator: runs its cleanup now, not at garbage collection
        if inner is not None:
            inner.close()

    def _now(self) -> float:
        """Frame time now: the last frame's plus the wall time since it (before any frame: since start)."""
        if self._last_t is None or self._last_wall is None:
            return max(0.0, self._clock() - self._started)
        return self._last_t + max(0.0, self._clock() - self._last_wall)

    def _restamp(self, frame: Frame) -> Frame:
        if self._rebase:
            self._rebase = False
            step = 1.0 / self.fps if self.fps else 0.001
            self._offset = max(self._now(), (self._last_t or 0.0) + step) - frame.t
        t = frame.t + self._offset
        if self._last_t is not None and t <= self._last_t:
            t = self._last_t + 1e-6
        if t != frame.t or frame.index != self._index:
            frame = dataclasses.replace(frame, t=t, index=self._index)
        self._index += 1
        self._last_t, self._last_wall = t, self._clock()
        return frame
