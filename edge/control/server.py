"""The control socket's server: one thread, non-blocking sockets and a selector, bounded buffers.

The loop never waits on it: commands go through ``Steering.submit`` (a bounded queue) and events come
in through ``publish``, which only appends to each subscriber's buffer and wakes the thread. A client
whose unsent output passes ``max_out`` bytes or makes no progress for ``stall_s`` seconds is dropped,
as is one that sends a line longer than ``protocol.MAX_LINE``. A client that sends more than ``rate``
requests a second (bursts of ``2 * rate``) is slowed, never dropped: the server stops reading from it
until its budget refills. No request, however odd, stops the thread: one that fails unexpectedly gets
``{"error": ...}`` and is logged.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.control import protocol
from edge.control.connection import Connection
from edge.control.steer import Steering
from edge.errors import MoodplayerError

log = logging.getLogger(__name__)


class ControlError(MoodplayerError, OSError):
    """The control socket can't be made; the message says what to do."""


class ControlServer:
    """Serves ``steering`` on the AF_UNIX socket ``path`` (made with ``mode``) from its own thread."""

    def __init__(self, path: str | Path, steering: Steering, *, mode: int = 0o660, max_clients: int = 16,
                 max_out: int = 1 << 20, stall_s: float = 5.0, rate: float = 50.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.steering = steering
        self.mode, self.max_clients, self.max_out = mode, max_clients, max_out
        self.stall_s, self.rate, self.clock = stall_s, rate, clock
        self._lock = threading.Lock()
        self._clients: dict[int, Connection] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sel = selectors.DefaultSelector()
        self._listener = listen(self.path, mode)
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._listener, self._wake_r, self._wake_w):
            s.setblocking(False)
        self._sel.register(self._listener, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        steering.listeners.append(self.publish)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="control-socket", daemon=True)
        self._thread.start()
        log.info("control socket listening on %s", self.path)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread, drop every client and remove the socket file."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock:
            for client in list(self._clients.values()):
                self._forget(client)
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()
        self._sel.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    # -- any thread --------------------------------------------------------------------------------

    def publish(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for every subscriber; never blocks."""
        line = protocol.encode(event)
        with self._lock:
            for client in self._clients.values():
                if client.subscribed:
                    self._queue(client, line)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (the buffer is full) or closing

    # -- the server thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            timeout = 0.5
            while not self._stop.is_set():
                for key, mask in self._sel.select(timeout=timeout):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        self._serve(key.data, mask)
                timeout = self._housekeep()
        except Exception:
            log.exception("control socket failed; the camera loop carries on without it")

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self.clients >= self.max_clients:
            sock.close()
            log.warning("control socket: refused a client, %d are connected already", self.max_clients)
            return
        sock.setblocking(False)
        client = Connection(sock, self.clock(), self.rate)
        with self._lock:
            self._clients[client.fd] = client
        self._sel.register(sock, selectors.EVENT_READ, client)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _serve(self, client: Connection, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._read(client)
        if mask & selectors.EVENT_WRITE and not client.drop:
            self._flush(client)

    def _read(self, client: Connection) -> None:
        with self._lock:
            client.pending.extend(client.receive())
        self._work(client)

    def _work(self, client: Connection) -> None:
        """Answer ``client``'s pending lines while its budget lasts."""
        while client.pending and not client.drop and client.take(self.clock()):
            line = client.pending.popleft()
            try:
                reply = answer(self.steering, client, protocol.parse(line, self.steering.labels))
            except protocol.BadRequest as e:
                reply = {"error": str(e)}
            except Exception as e:  # a bug: the client hears of it, the socket carries on
                log.exception("control socket: a request failed")
                reply = {"error": f"internal error ({type(e).__name__}); see the camera process's log"}
            self._reply(client, reply)

    def _reply(self, client: Connection, obj: dict[str, Any]) -> None:
        with self._lock:
            self._queue(client, protocol.encode(obj))

    def _queue(self, client: Connection, line: bytes) -> None:  # under _lock
        client.queue(line, self.clock(), self.max_out)

    def _flush(self, client: Connection) -> None:
        with self._lock:
            client.flush(self.clock())

    def _housekeep(self) -> float:
        """Flush, drop and re-arm every client; returns how long the next select may wait."""
        timeout = 0.5
        for client in list(self._clients.values()):
            if client.pending and not client.drop:
                self._work(client)
        now = self.clock()
        with self._lock:
            for client in list(self._clients.values()):
                if client.outbuf and (client.parting or not client.drop):
                    client.flush(now)
                if client.outbuf and now - client.progress > self.stall_s and not client.drop:
                    client.drop = f"stalled (nothing read for {self.stall_s:g} s)"
                if client.drop:
                    if client.drop != "closed":
                        log.warning("control socket: dropped a client that %s", client.drop)
                    self._forget(client)
                    continue
                if client.pending:  # over its budget: read nothing more until it has answers
                    timeout = min(timeout, client.wait_s(now) + 0.001)
                want = (0 if client.pending else selectors.EVENT_READ) | (selectors.EVENT_WRITE if client.outbuf else 0)
                self._arm(client, want)
        return timeout

    def _arm(self, client: Connection, want: int) -> None:  # under _lock
        registered = client.sock in self._sel.get_map()
        if not want:
            if registered:
                self._sel.unregister(client.sock)
        elif not registered:
            self._sel.register(client.sock, want, client)
        elif self._sel.get_key(client.sock).events != want:
            self._sel.modify(client.sock, want, client)

    def _forget(self, client: Connection) -> None:  # under _lock
        self._clients.pop(client.fd, None)
        try:
            self._sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()


def listen(path: Path, mode: int) -> socket.socket:
    """A listening AF_UNIX socket at ``path`` (made with ``mode``); a stale one left by a run that died is
    replaced, a live one or a file that is not a socket is a ``ControlError`` saying what to do."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise ControlError(f"{path} exists and is not a socket: choose another control.socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # left over from a run that ended without cleaning up
        else:
            raise ControlError(f"{path} is in use by another process: is moodplayer running twice?")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sock.bind(str(path))
        os.chmod(path, mode)
        sock.listen(8)
    except OSError as e:
        sock.close()
        raise ControlError(f"can't make the control socket {path}: {e.strerror or e}; choose a "
                           "writable folder for control.socket (the service uses /run/moodplayer)") from e
    return sock


def answer(steering: Steering, client: Connection, request: dict[str, Any]) -> dict[str, Any]:
    """The reply to one checked request: status and history at once, a subscription, or a command queued
    for the loop (``busy`` when too many wait)."""
    op = request["op"]
    reply: dict[str, Any] = {"ok": True, "op": op}
    if "id" in request:
        reply["id"] = request["id"]
    if op == "status":
        reply["status"] = steering.status()
    elif op == "history":
        reply["history"] = steering.history()
    elif op == "subscribe":
        client.subscribed = True
    else:
        try:
            steering.submit(request)
        except queue.Full:
            return {"error": "busy: too many commands waiting for the camera loop; try again"}
    return reply
