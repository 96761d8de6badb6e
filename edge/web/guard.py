"""The companion's defences at the door (docs/web.md, "Threat model"): a cap on open HTTP connections below
the open-file limit (the oldest idle one closed first), the names it answers to (DNS rebinding), the
headers every answer carries, and warnings that say a thing once a minute instead of once a request."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import socket
import time
from collections.abc import Callable, Iterable

from aiohttp import web

log = logging.getLogger(__name__)

FILES_KEPT = 64  # open files the companion keeps for itself (logs, the control socket, MQTT, the token)
#: The page's content security policy: its own script and style only, no inline code, no frames, no forms.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def connection_cap(wanted: int) -> int:
    """``wanted``, lowered to leave ``FILES_KEPT`` of the open-file limit (RLIMIT_NOFILE) for the rest."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft - FILES_KEPT))


class Throttled:
    """``warn(key, message, *args)``: a WARNING the first time, then at most one a ``every_s`` per key,
    saying how many were left out meanwhile."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 keys_max: int = 256) -> None:
        self.logger, self.every_s, self.clock, self.keys_max = logger, every_s, clock, keys_max
        self._said: dict[str, tuple[float, int]] = {}  # key -> (when last said, how many left out since)

    def warn(self, key: str, message: str, *args: object) -> None:
        now = self.clock()
        said, quiet = self._said.get(key, (None, 0))
        if said is not None and now - said < self.every_s:
            self._said[key] = (said, quiet + 1)
            return
        if len(self._said) >= self.keys_max and key not in self._said:
            self._said.pop(next(iter(self._said)))
        self._said[key] = (now, 0)
        if quiet:
            message += " (and %d more like it in the last %g s)"
            args += (quiet, self.every_s)
        self.logger.warning(message, *args)


class Doorman:
    """Keeps at most ``cap`` HTTP connections open: a connection over the cap closes the oldest idle one
    (connected, no request being answered: a slow client still sending its headers, or a kept-alive one),
    or is itself closed when every one is busy. ``factory`` is the protocol factory for
    ``loop.create_server``; ``busy(transport)`` / ``done(transport)`` bracket every request."""

    def __init__(self, server: Callable[[], web.Server], cap: int) -> None:
        self.server, self.cap = server, cap  # server(): the runner's, which exists once it is set up
        self._busy: dict[object, int] = {}
        self._warn = Throttled(log)

    def factory(self) -> asyncio.BaseProtocol:
        server = self.server()
        open_ = [h for h in server.connections if h.transport is not None]  # oldest first
        if len(open_) >= self.cap:
            idle = next((h for h in open_ if h.transport not in self._busy), None)
            if idle is None:
                self._warn.warn("full", "HTTP: refused a connection: %d are open and busy", self.cap)
                return _Refuse()
            idle.force_close()
            self._warn.warn("cap", "HTTP: %d connections open (the cap): closed the oldest idle one", self.cap)
        return server()

    def busy(self, transport: object) -> None:
        self._busy[transport] = self._busy.get(transport, 0) + 1

    def done(self, transport: object) -> None:
        left = self._busy.pop(transport, 1) - 1
        if left > 0:
            self._busy[transport] = left


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


def served_names(listen_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names the companion answers to besides any IP address: the listen host, localhost, this
    machine's name (and its .local mDNS name) and ``extra`` (``web.hosts``), all lower case."""
    name = socket.gethostname().lower()
    names = {listen_host.lower(), "localhost", name, f"{name}.local", *(e.lower() for e in extra)}
    return frozenset(n for n in names if n)


def host_allowed(host_header: str, names: frozenset[str]) -> bool:
    """Whether a request's ``Host`` (``name``, ``name:port``, ``[v6]:port``) is an IP address or one of
    ``names``. A DNS-rebinding page sends its own domain's name, never an address."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in names
