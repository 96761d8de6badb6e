"""What the camera loop plugs into the control socket: its player and recommender as a ``Controllable``."""

from __future__ import annotations

import logging
from typing import Any

from edge.music.playlists import describe

log = logging.getLogger(__name__)


class PlayerControls:
    """``Controllable`` over the player (``like skip pause resume set_volume status``) and the
    recommender (``set_strategy``); all non-blocking."""

    def __init__(self, player: Any, recommender: Any = None) -> None:
        self.player = player
        self.recommender = recommender
        self._known: tuple[object, str | None, str | None] = (None, None, None)  # (song, title, artist)

    def like(self) -> None:
        self.player.like()

    def skip(self) -> None:
        self.player.skip()

    def pause(self) -> None:
        self.player.pause()

    def resume(self) -> None:
        self.player.resume()

    def set_volume(self, volume: float) -> None:
        self.player.set_volume(volume)

    def set_strategy(self, name: str) -> None:
        if self.recommender is None:
            log.warning("strategy %s ignored: music is off", name)
        else:
            self.recommender.set_strategy(name)

    def status(self) -> dict[str, Any]:
        st = self.player.status()
        title, artist = (st.title, st.artist) if st.title else self._describe(st.song)  # the server's word first
        return {"song": st.song, "title": title, "artist": artist, "volume": st.volume, "paused": st.paused,
                "silent": st.silent, "strategy": self.recommender.strategy if self.recommender is not None else None}

    def _describe(self, song: Any) -> tuple[str | None, str | None]:
        """A song's title and artist as its song event has them (the recommender's, from memory), asked once
        per song: the status is made every frame."""
        if song != self._known[0]:
            found = (None, None) if song is None else \
                self.recommender.describe(song) if self.recommender is not None else describe(song)
            self._known = (song, *found)
        return self._known[1], self._known[2]
