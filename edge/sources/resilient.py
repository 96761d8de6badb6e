"""A live camera that comes back: ``Resilient`` reopens a camera that disappears, with backoff.

A USB camera pulled out, a picamera2 error, reads that keep failing: the wrapper closes the camera,
says so once in the log, and opens it again (``factory()``) after 0.5 s, 1 s, 2 s ... up to
``MAX_BACKOFF_S`` between tries. When frames flow again it says so once more and the loop goes on where
it was, without a restart; ``t`` and ``index`` keep increasing across the outage (a reopened camera
starts its own clock at 0, so its frames are re-stamped: ``t`` jumps by the time the camera was away).

While it waits it calls ``on_state("waiting", message)`` about once a second, so a service can tell a
camera being retried (the process is alive and working on it) from a read that hangs forever (no
calls at all: systemd's watchdog restarts the service). Run by hand, after ``give_up_s`` (default
``GIVE_UP_S``) without a camera ``read()`` raises ``SourceError`` and the run ends with a clear error.
A service passes ``give_up_s=None``: it never gives up, because a restart would find no camera either
and a few fast failures trip systemd's start limit, leaving the unit failed after the camera is back.
``Resilient.waiting(factory, name)`` starts in an outage, for a camera that is absent at boot.
Setting ``stop`` (or ``close()``) ends a wait at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator

from edge.sources.base import Source, SourceError
from edge.types import Frame

log = logging.getLogger(__name__)

#: ``on_state(event, message)``: "lost" (once per outage), "waiting" (about every ``TICK_S`` while the
#: camera is away, and after a failed read), "back" (once, at the first frame after an outage).
OnState = Callable[[str, str], None]


class Resilient(Source):
    """Frames from ``factory()``'s live source; a camera that fails is closed and reopened with backoff.

    ``first`` is an already open source (``factory`` is called for it otherwise, and a failure there
    raises: a camera that is not there at start-up is an error, not an outage).
    """

    live = True
    MISSES = 3  # failed reads in a row before the camera counts as lost (one bad frame is not an outage)
    FIRST_BACKOFF_S = 0.5
    MAX_BACKOFF_S = 10.0
    GIVE_UP_S = 600.0  # this long without a camera: read() raises SourceError
    TICK_S = 1.0  # on_state("waiting") at least this often while waiting

    def __init__(self, factory: Callable[[], Source], first: Source | None = None, *,
                 stop: threading.Event | None = None, on_state: OnState | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] | None = None,
                 give_up_s: float | None = GIVE_UP_S, lost: tuple[str, str] | None = None,
                 give_up: type[SourceError] = SourceError) -> None:
        """``lost`` = (name, why): start in an outage instead of opening (see ``waiting``); ``give_up``:
        the error ``read()`` raises after ``give_up_s``."""
        super().__init__(realtime=False)
        self._factory = factory
        self._inner: Source | None = first if first is not None or lost else factory()
        self.name = self._inner.name if self._inner is not None else lost[0]
        self.fps = self._inner.fps if self._inner is not None else None
        self.give_up_s = give_up_s
        self._give_up = give_up
        self._stop = stop
        self._wake = threading.Event()  # set by close(): ends a wait
        self._on_state = on_state
        self._clock = clock
        self._sleep = sleep  # waits between tries; None: an interruptible wait on ``stop`` (tests inject one)
        self._index = 0
        self._offset = 0.0  # added to the inner source's t
        self._rebase = False  # the next frame comes from a reopened camera: re-anchor its t
        self._last_t: float | None = None
        self._last_wall: float | None = None
        self._lost_since: float | None = None
        self._backoff = self.FIRST_BACKOFF_S
        self._next_try = 0.0
        self._tries = 0
        self._why = ""
        self.outages = 0  # how many times the camera was lost
        if lost is not None:
            self._lose(lost[1])

    @classmethod
    def waiting(cls, factory: Callable[[], Source], name: str, why: str, **kwargs) -> Resilient:
        """A camera that did not open at start (``why``): an outage from the first read, retried as any
        other (pass ``give_up_s=None`` to wait for it forever)."""
        return cls(factory, lost=(name, why), **kwargs)

    @property
    def inner(self) -> Source | None:
        """The camera source now open (None during an outage)."""
        return self._inner

    @property
    def lost(self) -> bool:
        return self._lost_since is not None

    def read(self) -> Frame | None:
        misses = 0
        while not self._stopping():
            if self._inner is None:
                self._retry()
                continue
            frame, why = self._read_inner()
            if frame is not None:
                if self._lost_since is not None:
                    self._back()
                return self._restamp(frame)
            misses += 1
            if self._lost_since is None and misses < self.MISSES:
                self._emit("waiting", f"{self.name}: read failed ({why}), trying again")
                continue
            if self._lost_since is None:
                self._lose(why)
            else:
                self._why = why
            self._drop()
        self.close()
        return None

    def __iter__(self) -> Iterator[Frame]:
        while not self._closed:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        super().close()
        self._wake.set()
        self._drop()

    # -- inside --------------------------------------------------------------------------------------

    def _stopping(self) -> bool:
        return self._closed or (self._stop is not None and self._stop.is_set())

    def _read_inner(self) -> tuple[Frame | None, str]:
        assert self._inner is not None
        try:
            frame = self._inner.read()
        except Exception as e:  # a driver error is an outage, not a crash
            return None, f"{type(e).__name__}: {e}"
        return frame, "no frame"

    def _lose(self, why: str) -> None:
        now = self._clock()
        self._lost_since = now
        self._why = why
        self._tries = 0
        self._backoff = self.FIRST_BACKOFF_S
        self._next_try = now + self._backoff
        self.outages += 1
        message = f"{self.name} lost ({why}): retrying with backoff, up to every {self.MAX_BACKOFF_S:g} s"
        log.warning("%s", message)
        self._emit("lost", message)

    def _back(self) -> None:
        assert self._lost_since is not None
        away = self._clock() - self._lost_since
        self._lost_since = None
        message = f"{self.name} back after {away:.1f} s ({self._tries} tr{'y' if self._tries == 1 else 'ies'})"
        log.info("%s", message)
        self._emit("back", message)

    def _retry(self) -> None:
        """Wait for the next try (interruptible), then open the camera once."""
        assert self._lost_since is not None
        away = self._clock() - self._lost_since
        if self.give_up_s is not None and away >= self.give_up_s:
            raise self._give_up(f"{self.name}: lost for {away:.0f} s, giving up (last error: {self._why}): check "
                              "the cable and power, and that no other program uses the camera")
        self._emit("waiting", f"{self.name} lost {away:.0f} s ago ({self._why}); next try in "
                              f"{max(0.0, self._next_try - self._clock()):.1f} s")
        self._wait(self._next_try - self._clock())
        if self._stopping() or self._clock() < self._next_try:
            return
        self._tries += 1
        self._backoff = min(self._backoff * 2, self.MAX_BACKOFF_S)
        self._next_try = self._clock() + self._backoff
        try:
            with _quiet_opencv():
                source = self._factory()
        except Exception as e:
            self._why = str(e) if isinstance(e, SourceError) else f"{type(e).__name__}: {e}"
            log.debug("%s: try %d failed: %s", self.name, self._tries, self._why)
            return
        self._inner = source
        self.fps = self.fps or source.fps
        self._rebase = True
        log.debug("%s reopened (try %d), waiting for a frame", self.name, self._tries)

    def _wait(self, seconds: float) -> None:
        end = self._clock() + seconds
        while not self._stopping():
            left = end - self._clock()
            if left <= 0:
                return
            if self._sleep is not None:
                self._sleep(min(left, self.TICK_S))
            else:
                (self._stop or self._wake).wait(min(left, self.TICK_S))
            if self._wake.is_set():
                return
            if end - self._clock() > 0:
                self._emit("waiting", f"{self.name} lost; next try in {end - self._clock():.1f} s")

    def _drop(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            try:
                inner.close()  # a Pi camera can be held by one user at a time: let go before reopening
            except Exception as e:
                log.debug("%s: close failed: %s", self.name, e)

    def _restamp(self, frame: Frame) -> Frame:
        now = self._clock()
        if self._rebase:
            self._rebase = False
            last = self._last_t if self._last_t is not None else 0.0
            gap = now - self._last_wall if self._last_wall is not None else 0.0
            step = 1.0 / self.fps if self.fps else 0.001
            self._offset = last + max(gap, step) - frame.t
        t = frame.t + self._offset
        if self._last_t is not None and t <= self._last_t:  # time never runs backwards
            t = self._last_t + 1e-6
        if t != frame.t or self._index != frame.index:
            frame = dataclasses.replace(frame, t=t, index=self._index)
        self._index += 1
        self._last_t, self._last_wall = t, now
        return frame

    def _emit(self, event: str, message: str) -> None:
        if self._on_state is None:
            return
        try:
            self._on_state(event, message)
        except Exception:  # a status hook must never take the camera loop down
            log.debug("on_state(%r) failed", event, exc_info=True)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV prints a warning for every failed open; while retrying, that is noise in the journal."""
    try:
        import cv2

        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except Exception:  # an OpenCV without cv2.utils.logging
        yield
        return
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)
