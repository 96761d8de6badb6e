"""What the listener thought of a song: likes and skips, per mood, kept in a small JSON file.

The file lives in the state folder (``state_dir``): ``music.state_dir`` if set, else
``$STATE_DIRECTORY`` (systemd's ``StateDirectory=moodplayer`` gives ``/var/lib/moodplayer``), else
``$XDG_STATE_HOME/moodplayer``, else ``~/.local/state/moodplayer``. Every change re-reads the file
and writes it atomically (``edge.statefile``), so the running player and a
``python -m edge songs like PATH`` from a shell both land, and a power cut leaves the old file or
the new one, never half of one. Nothing is written until the first like or skip.

A file that can't be read as a whole (bad JSON, a missing closing brace, an unknown ``version``,
an entry of the wrong type such as ``"like": 3``, no permission to read it, a folder in its place)
is never written over: it is moved to ``feedback.json.bad-<time>`` with one warning naming both
paths, and the store starts afresh from what could be read (valid entries kept). A read-only store
(``read_only=True``: the CLI's ``scan`` and ``recommend``) leaves such a file where it is.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.logonce import once
from edge.music.playlists import Uri
from edge.statefile import loads_salvaging, read_text, set_aside, write_json_atomic

log = logging.getLogger(__name__)

VERSION = 1
KINDS = ("like", "skip")
OTHER_MOOD_WEIGHT = 0.5  # a like or skip given while another mood played counts this much
WHAT = "the likes and skips file"


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
    """The key a song is stored under: its absolute path, or the URI of a song the music server knows
    only by its URI (``edge.music.playlists.Uri``: a stream, a Spotify track)."""
    if isinstance(path, Uri):
        return str(path)
    return str(Path(path).expanduser().absolute())


def parse(data: object) -> tuple[dict[str, dict], str]:
    """The valid song entries of a decoded feedback file, and what was wrong ("" when nothing was).
    Counts must be whole numbers >= 0 under a mood name; anything else is dropped and named."""
    if not isinstance(data, dict):
        return {}, "it is not a JSON object"
    if data.get("version") != VERSION:
        return {}, f"unknown version {data.get('version')!r} (this moodplayer reads version {VERSION})"
    songs = data.get("songs", {})
    if not isinstance(songs, dict):
        return {}, "'songs' is not a table"
    kept: dict[str, dict] = {}
    dropped = 0
    for key, entry in songs.items():
        if not isinstance(entry, dict):
            dropped += 1
            continue
        clean: dict = {}
        for kind in KINDS:
            counts = entry.get(kind, {})
            good = isinstance(counts, dict) and all(
                isinstance(m, str) and type(n) is int and n >= 0 for m, n in counts.items())
            if good and counts:
                clean[kind] = dict(counts)
            dropped += not good
        last = entry.get("last")
        if isinstance(last, (int, float)) and not isinstance(last, bool):
            clean["last"] = float(last)
        if clean:
            kept[key] = clean
    return kept, f"{dropped} entr{'y' if dropped == 1 else 'ies'} of the wrong type" if dropped else ""


class FeedbackStore:
    """Likes and skips by song and mood. ``path=None`` keeps them in memory only (tests, dry runs).

    Thread-safe. ``record`` and ``counts`` re-read the file when another process changed it (one stat
    a call); ``snapshot`` never touches the disk (the camera loop ranks songs with it): it gives what
    the last ``refresh`` (the analysis thread's, every few seconds), ``record`` or ``counts`` read.
    ``read_only``: never write, move or rename anything (a damaged file is only warned about).
    ``wall`` gives the time of a like (seconds since the epoch) and of a ``.bad-<time>`` name."""

    def __init__(self, path: Path | None, *, read_only: bool = False, wall: Callable[[], float] = time.time):
        self.path = path
        self.read_only = read_only
        self._wall = wall
        self._lock = threading.Lock()
        self._songs: dict[str, dict] = {}
        self._stamp: tuple[int, int] | None = None
        self._frozen = False  # a damaged file could not be moved aside: never write over it
        self.problem = ""  # why the last change could not be written ("" when it was)
        self._warned: set[str] = set()
        self._view_lock = threading.Lock()  # only around swapping ``_view``: never held over the disk
        self._view: dict[str, dict[str, dict[str, int]]] = {}
        with self._lock:
            self._reload(force=True)
            self._publish()

    def _publish(self) -> None:
        """Make what ``_songs`` holds now the counts ``snapshot`` gives (under ``_lock``)."""
        view = {k: {kind: dict(v.get(kind, {})) for kind in KINDS} for k, v in self._songs.items()}
        with self._view_lock:
            self._view = view

    def refresh(self) -> None:
        """Re-read the file if another process changed it (one stat; a read when it did). For a
        background thread: a disk that stalls stalls only the caller, never ``snapshot``."""
        with self._lock:
            self._reload()
            self._publish()

    def _reload(self, force: bool = False) -> None:
        """Re-read the file if another process changed it; a damaged one is set aside (see above)."""
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
            text = read_text(self.path)
            data, repaired = loads_salvaging(text) if text is not None else ({"version": VERSION}, "")
            songs, problem = parse(data)
            problem = "; ".join(p for p in (repaired, problem) if p)
        except (OSError, UnicodeDecodeError) as e:
            songs, problem = {}, f"{type(e).__name__}: {e.strerror or e}" if isinstance(e, OSError) else str(e)
        except ValueError as e:
            songs, problem = {}, f"not valid JSON: {e}"
        self._songs, self._stamp = songs, stamp
        if problem:
            self._damaged(problem)

    def _damaged(self, problem: str) -> None:
        if self.read_only:
            once(log, self._warned, "damaged", "%s %s could not be read whole (%s): using what could be read; the next "
                       "like or skip from the service moves it aside", WHAT, self.path, problem)
            return
        if set_aside(self.path, problem, WHAT, self._wall) is None:
            self._frozen = True
            return
        self._stamp = None
        if self._songs:
            self._write()

    def _write(self) -> None:
        if self.path is None or self.read_only:
            return
        if self._frozen:
            self.problem = f"{self.path} can't be read nor moved aside, so it is not written over"
            return
        try:
            write_json_atomic(self.path, {"version": VERSION, "songs": self._songs})
            st = self.path.stat()
            self._stamp, self.problem = (st.st_mtime_ns, st.st_size), ""
        except OSError as e:
            self.problem = f"can't write {self.path}: {e}"
            once(log, self._warned, "write", "can't write %s %s (%s): likes and skips last for this run only; set "
                       "music.state_dir to a writable folder", WHAT, self.path, e)

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
            entry["last"] = round(self._wall(), 3)
            self._write()
            self._publish()
            return json.loads(json.dumps(entry))

    def counts(self, path: str | os.PathLike) -> dict[str, dict[str, int]]:
        """``{"like": {mood: n}, "skip": {mood: n}}`` for one song (empty dicts when none)."""
        with self._lock:
            self._reload()
            self._publish()
            entry = self._songs.get(song_key(path), {})
            return {kind: dict(entry.get(kind, {})) for kind in KINDS}

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        """Every song's counts, ``{song_key: {"like": {mood: n}, "skip": {mood: n}}}``, as last read (no
        disk: see ``refresh``). Shared: read it, never change it."""
        with self._view_lock:
            return self._view

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


# -- who may write the state folder ------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """How a command may write the state folder: ``"self"`` (as it runs), ``"owner"`` (root switching
    to ``uid``/``gid``, the folder's owner, first) or ``"refuse"`` (``message`` says what to run)."""

    how: str
    uid: int = -1
    gid: int = -1
    message: str = ""


def write_access(folder: Path, uid: int, command: str, *, stat: Callable[[Path], os.stat_result] = os.stat,
                 user_name: Callable[[int], str] | None = None) -> Access:
    """Decide how a process running as ``uid`` may write ``folder`` (the state folder) so that the
    service, which owns it, can still read and replace what is written. A folder that does not
    exist yet is created by whoever runs first.
    ``command`` is the command line to suggest under ``sudo -u <owner>``."""
    try:
        st = stat(folder)
    except FileNotFoundError:
        return Access("self")
    if st.st_uid == uid:
        return Access("self")
    if uid == 0:
        return Access("owner", st.st_uid, st.st_gid)
    name = (user_name or _user_name)(st.st_uid)
    return Access("refuse", message=(
        f"the state folder {folder} belongs to {name}, not to you: likes and skips written as you would "
        f"be unreadable to the service. Run it as {name}: sudo -u {name} {command}"))


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"#{uid}"


def become(access: Access) -> None:
    """Act as the folder's owner for file writes from here on (``access.how == "owner"``); a no-op
    otherwise. Effective ids only: the real ones stay root."""
    if access.how == "owner":
        os.setegid(access.gid)
        os.seteuid(access.uid)
