"""Commands from the page and MQTT, rate-limited and coalesced before they reach the camera process.

Each command falls in a slot (its op; ``resume`` shares ``pause``'s so their order holds). A slot sends
at most one command every ``interval_s(slot)`` seconds (``INTERVALS``, else ``default_s``): a command that
comes sooner waits, and a later one of its slot replaces it (the last volume wins; a burst of skips is
one skip now and one a second later). So however fast commands come, the control socket gets at most
``len(slots) / interval`` of them a second, and the newest of each is never lost. Any op name works.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

#: Seconds between two commands of one slot; other slots get ``default_s``.
INTERVALS = {"skip": 1.0, "like": 1.0}
#: Ops that share a slot (their order matters): op -> slot.
SLOTS = {"resume": "pause"}


class Coalescer:
    """``await submit(request)`` (the event loop) sends now and returns the reply, or, too soon after the
    slot's last one, keeps the request to send later and returns ``{"ok": true, "op": ..., "queued":
    true}``. ``offer(request, loop)`` does the same from any thread (MQTT's), without waiting."""

    def __init__(self, send: Send, *, intervals: Mapping[str, float] = INTERVALS, default_s: float = 0.25,
                 slots: Mapping[str, str] = SLOTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.send, self.intervals, self.default_s, self.slots, self.clock = send, intervals, default_s, slots, clock
        self._last: dict[str, float] = {}  # slot -> when it last sent
        self._held: dict[str, dict[str, Any]] = {}  # slot -> the newest request waiting
        self._tasks: set[asyncio.Task] = set()
        self._inbox: dict[str, dict[str, Any]] = {}  # from other threads, newest per slot
        self._inbox_lock = threading.Lock()
        self._woken = False

    def slot(self, op: str) -> str:
        return self.slots.get(op, op)

    def interval_s(self, slot: str) -> float:
        return self.intervals.get(slot, self.default_s)

    async def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._admit(request):
            return await self.send(request)
        return {"ok": True, "op": request["op"], "queued": True}

    def offer(self, request: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        """Thread-safe and cheap: a flood costs a dict update each, and wakes ``loop`` once."""
        with self._inbox_lock:
            self._inbox[self.slot(request["op"])] = request
            wake, self._woken = not self._woken, True
        if wake:
            loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._inbox_lock:
            requests, self._inbox, self._woken = list(self._inbox.values()), {}, False
        for request in requests:
            if self._admit(request):
                self._spawn(request)

    def _admit(self, request: dict[str, Any]) -> bool:
        """True: send it now (the slot is marked sent). False: held, to go when the slot's interval ends."""
        slot, now = self.slot(request["op"]), self.clock()
        last = self._last.get(slot)
        if slot not in self._held and (last is None or now - last >= self.interval_s(slot)):
            self._last[slot] = now
            return True
        if slot not in self._held:
            delay = self.interval_s(slot) - (now - last) if last is not None else 0.0
            asyncio.get_running_loop().call_later(max(0.0, delay), self._release, slot)
        self._held[slot] = request
        return False

    def _release(self, slot: str) -> None:
        request = self._held.pop(slot, None)
        if request is not None:
            self._last[slot] = self.clock()
            self._spawn(request)

    def _spawn(self, request: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._deliver(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, request: dict[str, Any]) -> None:
        try:
            reply = await self.send(request)
        except Exception as e:  # the camera process is away: the command is dropped, not queued
            log.warning("command %s not delivered: %s", request["op"], e)
            return
        if not reply.get("ok"):
            log.warning("command %s refused: %s", request["op"], reply.get("error"))
