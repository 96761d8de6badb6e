"""The output contract (``Output``, its factory type) and its two errors; the package docstring says
what each means. The outputs import this module, never the package, so nothing imports in a circle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from edge.errors import MoodplayerError


class OutputError(MoodplayerError, RuntimeError):
    """The audio device or music server can't be used now (retried later)."""


class SongError(MoodplayerError, ValueError):
    """This song can't be played (not decodable, or not reachable by the output)."""


class Output(Protocol):
    name: str

    def open(self) -> None: ...

    def play(self, path: Path, fade_in_ms: int = 0) -> None: ...

    def fade_out(self, ms: int) -> None: ...

    def stop(self) -> None: ...

    def set_volume(self, volume: float) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def busy(self) -> bool:
        """A song is loaded and playing (False once it ended, was stopped, or is paused)."""
        ...

    def position(self) -> float | None:
        """Seconds into the current song, or None when unknown."""
        ...

    def alive(self) -> bool: ...

    def close(self) -> None: ...


#: Makes a fresh (unopened) output; the player calls it again after the device went away.
OutputFactory = Callable[[], Output]

#: (the song as given to ``play``, title, artist): what a music server says is playing (its
#: ``currentsong`` tags; None where it has none). Called on the player thread.
OnTags = Callable[[object, "str | None", "str | None"], None]
