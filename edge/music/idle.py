"""When to tell the player that nobody is there: ``idle_after`` seconds of frame time without faces."""

from __future__ import annotations


class IdleWatch:
    """Fires once per absence, ``after`` seconds (frame time) after the last frame with a face."""

    def __init__(self, after: float):
        self.after = after
        self._last_seen: float | None = None
        self._fired = False

    def update(self, t: float, faces: int) -> bool:
        """Feed every frame; True exactly once, on the first frame ``after`` seconds into an absence."""
        if faces > 0 or self._last_seen is None:
            self._last_seen = t
            self._fired = False
            return False
        if not self._fired and t - self._last_seen >= self.after:
            self._fired = True
            return True
        return False
