"""Who plays the songs the player picked: an ``Output`` (``mixer``: pygame's SDL mixer here; ``mpd``:
a Music Player Daemon). The player owns its output and calls it from its own thread only.

Contract: ``open`` raises ``OutputError`` when the device or server is not there (the player runs
silent and retries with backoff); ``play`` raises ``SongError`` for a song that can't be played
(the player discards it and picks another) and ``OutputError`` when the device failed; ``alive``
is False once the device went away (unplugged DAC, MPD gone), after which the player closes and
reopens the output. Times are seconds, fades milliseconds, volume 0..1.
"""

from __future__ import annotations

from edge.music.config import MusicConfig
from edge.music.outputs.base import OnTags, Output, OutputError, OutputFactory, SongError

__all__ = ["OnTags", "Output", "OutputError", "OutputFactory", "SongError", "factory"]


def factory(config: MusicConfig, on_tags: OnTags | None = None) -> OutputFactory:
    """The output ``config.output`` names; imports its module (pygame or python-mpd2) only when asked.
    ``on_tags`` hears the title and artist an MPD server reports for the song it plays."""
    if config.output == "mpd":
        from edge.music.outputs.mpd import MpdOutput

        return lambda: MpdOutput(config, on_tags)
    from edge.music.outputs.mixer import MixerOutput

    return lambda: MixerOutput(config)
