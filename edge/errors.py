"""One base for every error moodplayer raises on purpose: callers catch ``MoodplayerError``.

Each module keeps its own subclass (``BundleError``, ``SourceError`` ...) with a message that names the
file, key or device and the fix. The subclasses also keep the builtin base they always had
(``ValueError``, ``OSError`` ...), so older ``except`` clauses still catch them.
"""

from __future__ import annotations

__all__ = ["MoodplayerError"]


class MoodplayerError(Exception):
    """Something moodplayer cannot do, said in one line that names what and how to fix it."""
