"""The camera process's local control socket: status, a stream of events, and commands, with no network
and no pixels (docs/web.md).

``Steering`` lives on the camera loop's thread: it applies queued commands between frames, holds a mood
override, and keeps today's history. ``ControlServer`` serves an AF_UNIX socket from its own thread and
never makes the loop wait. ``ControlClient`` is the asyncio side the companion (``python -m edge web``)
uses. The wire format (newline-delimited JSON) is in ``edge.control.protocol``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.settings import key


@dataclass(frozen=True)
class ControlConfig:
    """The ``[control]`` settings of the camera process."""

    socket: str = key("", "the control socket's path (AF_UNIX), e.g. /run/moodplayer/control.sock (empty: off)")

    def __post_init__(self) -> None:
        if self.socket and "\0" in self.socket:
            raise ValueError("control.socket must be a file path without NUL characters")
