"""``once``: a warning logged the first time its key comes up, so a fault that lasts (a missing song, a
dead speaker) says so once in the journal instead of every time it is met."""

from __future__ import annotations

import logging


def once(log: logging.Logger, warned: set[str], key: str, message: str, *args: object,
         exc_info: bool = False) -> None:
    """Log ``message`` % ``args`` as a warning on ``log`` unless ``key`` is in ``warned`` (then add it)."""
    if key not in warned:
        warned.add(key)
        log.warning(message, *args, exc_info=exc_info)
