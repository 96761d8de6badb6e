"""Talking to systemd: sd_notify and the journal.

- ``Notifier``: the sd_notify protocol in a few lines (one datagram to ``$NOTIFY_SOCKET``; a leading
  ``@`` is the abstract namespace). Outside systemd it does nothing.
- ``ServiceHooks``: what the device loop tells systemd. ``READY=1`` once the first frame went through
  the whole pipeline; ``WATCHDOG=1`` (at most every ``WATCHDOG_USEC / 2``) only while frames are
  processed, or while a lost camera is being retried (``edge.sources.resilient``, which gives up and
  ends the run after a while): a camera read or a stage that hangs sends nothing and systemd restarts
  the service; ``STATUS=`` lines for ``systemctl status``; ``STOPPING=1`` on SIGTERM.
- ``journal_stream``: whether a stream is connected to journald (``$JOURNAL_STREAM`` is ``dev:inode``
  of the stream's file, see systemd.exec(5)); ``edge.logs`` then prefixes lines with ``<N>`` priorities.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def journal_stream(environ: Mapping[str, str], fd: int) -> bool:
    """True when the file open as ``fd`` is the journal stream systemd connected us to.

    systemd sets ``JOURNAL_STREAM=<device>:<inode>`` (decimal) for the stream it gave stdout/stderr;
    a child whose stderr was redirected elsewhere inherits the variable, hence the comparison."""
    value = environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(fd)
    except (OSError, ValueError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


class Notifier:
    """Sends sd_notify messages to systemd; ``enabled`` is False (and every call a no-op) outside it."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            self.address: str | bytes | None = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        else:
            self.address = None  # unset, or a kind this module does not speak (vsock:)
        self.watchdog_s: float | None = None  # the watchdog timeout, when systemd expects pings from us
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if self.address and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines as one message; False when not under systemd or it failed."""
        if self.address is None:
            return False
        data = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(data, socket.MSG_DONTWAIT, self.address)  # never block the camera loop
        except OSError as e:
            if not self._failed:  # once: a broken notify socket must not flood the journal
                self._failed = True
                log.warning("sd_notify to %s failed: %s", os.environ.get("NOTIFY_SOCKET"), e)
            return False
        return True


class ServiceHooks:
    """The loop's hooks for systemd: pass ``on_frame`` and ``on_source`` to ``edge.loop.run``.

    Every method is cheap and never raises; without ``$NOTIFY_SOCKET`` they do nothing.
    """

    STATUS_EVERY_S = 10.0

    def __init__(self, notifier: Notifier | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier if notifier is not None else Notifier()
        self._clock = clock
        self.ready = False
        self.frames = 0
        self.pings = 0
        self._last_ping: float | None = None
        self._last_status = 0.0
        self._status_frames = 0
        interval = self.notifier.watchdog_s
        self.ping_every_s = interval / 2 if interval else None

    def on_frame(self, frame: object) -> None:
        """After each processed frame: READY=1 the first time, then throttled watchdog pings and status."""
        now = self._clock()
        self.frames += 1
        if not self.ready:
            self.ready = True
            self._last_status, self._status_frames = now, self.frames
            self.notifier.send("READY=1", "STATUS=running: first frame processed")
            self._ping(now, force=True)
            return
        self._ping(now)
        if now - self._last_status >= self.STATUS_EVERY_S:
            fps = (self.frames - self._status_frames) / (now - self._last_status)
            self._status(now, f"running: {self.frames} frames, {fps:.1f} FPS")

    def on_source(self, event: str, message: str) -> None:
        """From the camera's retry layer: "lost", "waiting" (alive, retrying) or "back".

        A service waiting for a camera (absent at boot, or lost) is up and working: ``READY=1`` goes out
        with the first "lost" if no frame did it yet, and the retries feed the watchdog."""
        now = self._clock()
        if event == "lost":
            text = f"STATUS=waiting for a camera ({message})"
            self._last_status, self._status_frames = now, self.frames
            if not self.ready:
                self.ready = True
                self.notifier.send("READY=1", text)
                self._ping(now, force=True)
            else:
                self.notifier.send(text)
        elif event == "waiting":
            self._ping(now)  # retrying is progress; a hung read never gets here
        elif event == "back":
            self._status(now, f"running: {message}")

    def status(self, text: str) -> None:
        self._status(self._clock(), text)

    def stopping(self) -> None:
        self.notifier.send("STOPPING=1", "STATUS=stopping")

    def _status(self, now: float, text: str) -> None:
        self._last_status, self._status_frames = now, self.frames
        self.notifier.send(f"STATUS={text}")

    def _ping(self, now: float, force: bool = False) -> None:
        if self.ping_every_s is None:
            return
        if force or self._last_ping is None or now - self._last_ping >= self.ping_every_s:
            self._last_ping = now
            if self.notifier.send("WATCHDOG=1"):
                self.pings += 1
