"""What the listener thought of a song: likes and skips, per mood, kept in a small JSON file.

The file lives in the state folder (``state_dir``): ``music.state_dir`` if set, else
``$STATE_DIRECTORY`` (systemd's ``StateDirectory=moodplayer`` gives ``/var/lib/moodplayer``), else
``$XDG_STATE_HOME/moodplayer``, else ``~/.local/state/moodplayer``. Every change re-reads the file
and writes it atomically (a temporary file, then a rename), so the running player and a
``python -m edge songs like PATH`` from a shell both land, and a power cut leaves the old file or
the new one, never half of one. Nothing is written until the first like or skip.

Format (version 1)::

    {"version": 1,
     "songs": {"/abs/path/song.ogg": {"like": {"happy": 2}, "skip": {"sad": 1}, "last": 1767000000.0}}}

The mood key is the mood the song was played for ("" when a like came from the CLI without one).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path

from edge.music.features import write_json_atomic

log = logging.getLogger(__name__)

VERSION = 1
KINDS = ("like", "skip")
OTHER_MOOD_WEIGHT = 0.5  # a like or skip given while another mood played counts this much


def state_dir(configured: str | os.PathLike = "") -> Path:
    """Where moodplayer keeps its state (see the module docstring for the order)."""
    if str(configured):
        return Path(configured).expanduser()
    systemd = os.environ.get("STATE_DIRECTORY", "")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "moodplayer"


def song_key(path: str | os.PathLike) -> str:
    """The key a song is stored under: its absolute path."""
    return str(Path(path).expanduser().absolute())


class FeedbackStore:
    """Likes and skips by song and mood. ``path=None`` keeps them in memory only (tests, dry runs).

    Thread-safe. ``score(song, mood)`` is what the recommender uses: likes minus skips for that mood,
    plus half of those given under other moods, squashed by ``tanh(x / 2)`` into (-1, 1).
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._songs: dict[str, dict] = {}
        self._stamp: tuple[int, int] | None = None
        self._warned = False
        self._reload(force=True)

    @classmethod
    def in_state_dir(cls, configured: str = "") -> FeedbackStore:
        return cls(state_dir(configured) / "feedback.json")

    def _reload(self, force: bool = False) -> None:
        """Re-read the file if another process changed it (cheap: one stat)."""
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except OSError:
            if force:
                self._songs, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if not force and stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text())
            songs = data["songs"] if isinstance(data, dict) and data.get("version") == VERSION else {}
            if not isinstance(songs, dict):
                raise ValueError("'songs' is not a table")
        except (OSError, ValueError, KeyError) as e:
            if not self._warned:
                self._warned = True
                log.warning("feedback file %s is unreadable (%s): likes and skips start afresh", self.path, e)
            songs = {}
        self._songs = {k: v for k, v in songs.items() if isinstance(v, dict)}
        self._stamp = stamp

    def record(self, kind: str, path: str | os.PathLike, mood: str = "") -> dict:
        """Count one ``kind`` ("like" or "skip") for ``path`` under ``mood``; returns the song's entry.
        A file that can't be written is logged once; the count still holds for this run."""
        if kind not in KINDS:
            raise ValueError(f"feedback must be one of {', '.join(KINDS)}, got {kind!r}")
        key = song_key(path)
        with self._lock:
            self._reload()
            entry = self._songs.setdefault(key, {})
            counts = entry.setdefault(kind, {})
            counts[mood] = int(counts.get(mood, 0)) + 1
            entry["last"] = round(time.time(), 3)
            if self.path is not None:
                try:
                    write_json_atomic(self.path, {"version": VERSION, "songs": self._songs})
                    st = self.path.stat()
                    self._stamp = (st.st_mtime_ns, st.st_size)
                except OSError as e:
                    if not self._warned:
                        self._warned = True
                        log.warning("can't write the feedback file %s (%s): likes and skips last for this "
                                    "run only; set music.state_dir to a writable folder", self.path, e)
            return json.loads(json.dumps(entry))

    def counts(self, path: str | os.PathLike) -> dict[str, dict[str, int]]:
        """``{"like": {mood: n}, "skip": {mood: n}}`` for one song (empty dicts when none)."""
        with self._lock:
            self._reload()
            entry = self._songs.get(song_key(path), {})
            return {kind: dict(entry.get(kind, {})) for kind in KINDS}

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        """Every song's counts, ``{song_key: {"like": {mood: n}, "skip": {mood: n}}}``, read once."""
        with self._lock:
            self._reload()
            return {k: {kind: dict(v.get(kind, {})) for kind in KINDS} for k, v in self._songs.items()}

    def raw(self, path: str | os.PathLike, mood: str) -> float:
        return raw_score(self.counts(path), mood)

    def score(self, path: str | os.PathLike, mood: str) -> float:
        return squash(raw_score(self.counts(path), mood))

    def verdict(self, path: str | os.PathLike, mood: str) -> str:
        return verdict(self.counts(path), mood)


def raw_score(counts: dict[str, dict[str, int]], mood: str) -> float:
    """Likes minus skips for ``mood``, plus ``OTHER_MOOD_WEIGHT`` times those under other moods."""
    total = 0.0
    for kind, sign in (("like", 1.0), ("skip", -1.0)):
        for m, n in counts.get(kind, {}).items():
            total += sign * n * (1.0 if m == mood else OTHER_MOOD_WEIGHT)
    return total


def squash(raw: float) -> float:
    """``tanh(raw / 2)``: one like about +0.46, two +0.76; skips the same below zero."""
    return math.tanh(raw / 2.0)


def verdict(counts: dict[str, dict[str, int]], mood: str) -> str:
    """"liked", "skipped" or "" for ``mood`` (counts under that mood only)."""
    likes, skips = counts.get("like", {}).get(mood, 0), counts.get("skip", {}).get(mood, 0)
    return "liked" if likes > skips else "skipped" if skips > likes else ""
