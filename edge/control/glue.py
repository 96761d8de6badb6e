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
        title, artist = (st.title, st.artist) if st.title else describe(st.song)  # the server's word first
        return {"song": st.song, "title": title, "artist": artist, "volume": st.volume, "paused": st.paused,
                "silent": st.silent, "strategy": self.recommender.strategy if self.recommender is not None else None}
