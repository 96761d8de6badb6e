"""Who plays the songs the player picked: an ``Output`` (``mixer``: pygame's SDL mixer here; ``mpd``:
a Music Player Daemon). The player owns its output and calls it from its own thread only.

Contract: ``open`` raises ``OutputError`` when the device or server is not there (the player runs
silent and retries with backoff); ``play`` raises ``SongError`` for a song that can't be played
(the player discards it and picks another) and ``OutputError`` when the device failed; ``alive``
is False once the device went away (unplugged DAC, MPD gone), after which the player closes and
reopens the output. Times are seconds, fades milliseconds, volume 0..1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from edge.errors import MoodplayerError
from edge.music.config import MusicConfig


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


def factory(config: MusicConfig) -> OutputFactory:
    """The output ``config.output`` names; imports its module (pygame or python-mpd2) only when asked."""
    if config.output == "mpd":
        from edge.music.outputs.mpd import MpdOutput

        return lambda: MpdOutput(config)
    from edge.music.outputs.mixer import MixerOutput

    return lambda: MixerOutput(config)
