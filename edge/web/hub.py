"""The companion's link to the camera process: it keeps the latest status and today's history, fans
events out to the page's streams and MQTT, and reconnects with backoff whenever the socket goes away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.control.client import ControlClient, ControlUnavailable
from edge.control.protocol import HISTORY_TYPES
from edge.web.coalesce import Coalescer

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


class Hub:
    """``run()`` keeps the link up; ``status`` / ``history`` / ``connected`` describe the camera process as
    last heard; ``subscribe()`` gives a bounded queue of events (``{"type": "link", "up": ...}`` when the
    link changes); ``command(request)`` forwards one request and returns the socket's reply; ``commands``
    rate-limits and coalesces the page's and MQTT's commands in front of it; ``refresh()`` is the status,
    asked of the camera process at most every ``status_s`` however many clients ask."""

    def __init__(self, socket_path: str, *, retry_s: float = 0.5, max_retry_s: float = 5.0,
                 queue_max: int = 256, status_s: float = 0.25) -> None:
        self.socket_path = socket_path
        self.retry_s, self.max_retry_s, self.queue_max = retry_s, max_retry_s, queue_max
        self.status: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.connected = False
        self.listeners: list[Listener] = []  # called for every event (MQTT)
        self._queues: set[asyncio.Queue] = set()
        self._requests: ControlClient | None = None
        self.commands = Coalescer(self.command)
        self.status_s = status_s
        self._asked: float | None = None  # when the status was last asked for (monotonic)
        self._asking: asyncio.Future | None = None
        self._broken: asyncio.Event | None = None  # set when a request failed: reconnect

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self.queue_max)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._queues.discard(q)

    def subscribed(self, q: asyncio.Queue) -> bool:
        """False once ``q`` overflowed (its reader stalled) and was let go."""
        return q in self._queues

    async def command(self, request: dict[str, Any]) -> dict[str, Any]:
        """The socket's reply to ``request``; ``ControlUnavailable`` while the camera process is away."""
        if self._requests is None or not self.connected:
            raise ControlUnavailable("the camera process is not reachable (reconnecting)")
        try:
            reply = await self._requests.request(request)
        except ControlUnavailable:
            if self._broken is not None:
                self._broken.set()  # a reply may still be on its way: never read it as the next one's
            raise
        if reply.get("ok") and request.get("op") == "status":
            self._set_status(reply["status"])
        return reply

    async def refresh(self) -> dict[str, Any]:
        """The status, fresh within ``status_s``; one request in flight for every caller."""
        if self.status is not None and self._asked is not None and time.monotonic() - self._asked < self.status_s:
            return self.status
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask())
        return await asyncio.shield(self._asking)

    async def _ask(self) -> dict[str, Any]:
        reply = await self.command({"op": "status"})
        self._asked = time.monotonic()
        return reply["status"]

    async def run(self, stop: asyncio.Event) -> None:
        wait = self.retry_s
        while not stop.is_set():
            try:
                await self._session(stop)
                wait = self.retry_s
            except ControlUnavailable as e:
                if self.connected:
                    log.warning("lost the camera process: %s; reconnecting", e)
                else:
                    log.debug("camera process not reachable: %s", e)
            self._link(False)
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass
            wait = min(self.max_retry_s, wait * 2)

    async def _session(self, stop: asyncio.Event) -> None:
        requests, stream = ControlClient(self.socket_path), ControlClient(self.socket_path)
        try:
            await requests.connect()
            await stream.connect()
            events = stream.events()
            first = asyncio.ensure_future(events.__anext__())  # subscribed before the snapshot below
            self._requests = requests
            self.history = (await requests.request({"op": "history"})).get("history", [])
            self._set_status((await requests.request({"op": "status"}))["status"])
            self._link(True)
            log.info("connected to the camera process at %s", self.socket_path)
            self._broken = asyncio.Event()
            waiter, broken = asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._broken.wait())
            try:
                while True:
                    done, _ = await asyncio.wait({first, waiter, broken}, return_when=asyncio.FIRST_COMPLETED)
                    if waiter in done or broken in done:
                        first.cancel()
                        if broken in done:
                            raise ControlUnavailable("a request went unanswered")
                        return
                    await self._on_event(first.result())
                    first = asyncio.ensure_future(events.__anext__())
            finally:
                waiter.cancel()
                broken.cancel()
        finally:
            self._requests, self._broken, self._asked = None, None, None
            await requests.close()
            await stream.close()

    async def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "status":
            self._set_status({k: v for k, v in event.items() if k != "type"})
            self._broadcast(event)
            return
        if event.get("type") in HISTORY_TYPES:
            self.history.append(event)
            del self.history[:-5000]
        self._broadcast(event)
        self._asked = None  # a mood, song or override changes the status: show it now, not at the next push
        try:
            await self.refresh()
        except ControlUnavailable:
            return
        self._broadcast({"type": "status", **(self.status or {})})

    def _set_status(self, status: dict[str, Any]) -> None:
        self.status = status

    def _link(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            event: dict[str, Any] = {"type": "link", "up": up}
            if up:  # a restarted camera process: its status and today's history, afresh
                event.update(status=self.status, history=self.history)
            self._broadcast(event)

    def _broadcast(self, event: dict[str, Any]) -> None:
        for q in list(self._queues):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:  # a page that stopped reading: it reconnects and resyncs
                self._queues.discard(q)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("hub listener %r failed", listener)
