"""What the camera loop plugs in: its event log with a tap, and its player as a ``Controllable``."""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

Tap = Callable[[str, float, Mapping[str, Any]], None]


class TappedLog:
    """An event log (``write(type, t, **fields)``, ``close()``) that also hands every event but the
    per-frame ones to ``tap(type, t, fields)`` after writing it. A failing tap is logged, never raised."""

    def __init__(self, events: Any, tap: Tap) -> None:
        self._events = events
        self._tap = tap

    def write(self, type: str, t: float, **fields: Any) -> None:
        self._events.write(type, t, **fields)
        if type == "frame":
            return
        try:
            self._tap(type, t, fields)
        except Exception:
            log.exception("event tap failed for a %s event", type)

    def __getattr__(self, name: str) -> Any:  # enabled, close, target, ...
        return getattr(self._events, name)


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
        return {"song": st.song, "volume": st.volume, "paused": st.paused, "silent": st.silent,
                "strategy": getattr(self.recommender, "strategy", None)}
