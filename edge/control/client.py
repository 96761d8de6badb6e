"""The companion's side of the control socket (asyncio): requests with replies, and the event stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from edge.control import protocol
from edge.errors import MoodplayerError


class ControlUnavailable(MoodplayerError, ConnectionError):
    """The camera process's socket is absent, refuses, or went away."""


class ControlClient:
    """One connection to the control socket at ``path``. ``request`` sends one request and returns its
    reply (one at a time); ``events`` subscribes this connection and yields events until it closes."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> ControlClient:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self.path, limit=protocol.MAX_LINE * 64), self.timeout)
        except (TimeoutError, OSError) as e:
            raise ControlUnavailable(f"can't reach the camera process at {self.path}: {e}; is `python -m edge "
                                     "--control-socket ...` running, and may this user open the socket?") from e
        return self

    async def request(self, request: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            await self._send(request)
            return await self._receive()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        reply = await self.request({"op": "subscribe"})
        if not reply.get("ok"):
            raise ControlUnavailable(f"subscribe refused: {reply}")
        while True:
            yield await self._receive(timeout=None)

    async def _send(self, request: dict[str, Any]) -> None:
        if self._writer is None:
            raise ControlUnavailable("not connected")
        try:
            self._writer.write(protocol.encode(request))
            await asyncio.wait_for(self._writer.drain(), self.timeout)
        except (TimeoutError, OSError) as e:
            raise ControlUnavailable(f"the camera process went away ({e})") from e

    async def _receive(self, timeout: float | None = -1.0) -> dict[str, Any]:
        if self._reader is None:
            raise ControlUnavailable("not connected")
        try:
            line = await asyncio.wait_for(self._reader.readline(), self.timeout if timeout == -1.0 else timeout)
        except (TimeoutError, OSError, ValueError) as e:
            raise ControlUnavailable(f"the camera process went away ({e!r})") from e
        if not line:
            raise ControlUnavailable("the camera process closed the control socket")
        return json.loads(line)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = self._reader = None
