"""One client of the control socket: its non-blocking socket, bounded buffers, request budget and the
reason it is to be dropped. Used only on the server's thread, except ``queue`` (under the server's lock).

A client that sends faster than its budget is not dropped: its lines wait in ``pending`` and the server
stops reading from it until the budget refills (back-pressure: the kernel's buffer fills and the
client's writes wait)."""

from __future__ import annotations

import collections
import socket

from edge.control import protocol


class Connection:
    def __init__(self, sock: socket.socket, now: float, rate: float) -> None:
        self.sock, self.fd = sock, sock.fileno()
        self.inbuf, self.outbuf = bytearray(), bytearray()
        self.pending: collections.deque[bytes] = collections.deque()  # lines read, waiting for budget
        self.subscribed = False
        self.rate, self.tokens, self.refilled = rate, 2 * rate, now  # a token bucket: rate a second, bursts of 2x
        self.progress = now  # when output last moved (or the buffer was last empty)
        self.drop = ""  # why it is to be dropped ("closed" when the peer went away)
        self.parting = False  # send what is queued (an error saying why) before dropping it

    def receive(self) -> list[bytes]:
        """The complete, non-empty request lines that arrived; sets ``drop`` on close or an over-long line
        (after queueing an error saying so)."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if not data:
            self.drop = "closed"
            return []
        self.inbuf += data
        *lines, rest = bytes(self.inbuf).split(b"\n")
        self.inbuf = bytearray(rest)
        if len(self.inbuf) > protocol.MAX_LINE:
            self.outbuf += protocol.encode({"error": f"request line longer than {protocol.MAX_LINE} bytes"})
            self.drop, self.parting = "sent an over-long line", True
        return [line for line in lines if line.strip()]

    def take(self, now: float) -> bool:
        """Spend one request from the budget if there is one (False: wait ``wait_s(now)`` and try again)."""
        self.tokens = min(2 * self.rate, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def wait_s(self, now: float) -> float:
        """Seconds until the budget holds one request again."""
        return max(0.0, (1 - self.tokens) / self.rate - (now - self.refilled))

    def queue(self, line: bytes, now: float, max_out: int) -> None:
        if self.drop:
            return
        if not self.outbuf:
            self.progress = now
        self.outbuf += line
        if len(self.outbuf) > max_out:
            self.drop = f"stalled ({len(self.outbuf)} bytes unread)"

    def flush(self, now: float) -> None:
        """Send what the socket takes now, without waiting."""
        try:
            sent = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop = "closed"
            return
        if sent:
            del self.outbuf[:sent]
            self.progress = now
