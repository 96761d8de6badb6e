"""Song analysis in the background, its cache, and which songs can be offered now.

``SongStates`` knows every song of a library (``SongState``: features, tags, or why it can't be
decoded); ``Analyser``, one of them, analyses the ones without features on a background thread
(``start``; niced), a song
at a time, refitting the mood model (``rank.MoodModel``) about once a second so that unlabelled
songs find their moods while the scan runs. ``FeatureCache`` keeps the results in one JSON file
keyed by path, size and mtime, so a song is analysed once; it is saved every ``SAVE_EVERY_S`` of the
injected clock and at the end of a scan, and a cache file that can't be read is moved aside, not
written over (``edge.statefile``).

Trouble with a file is sorted by its cause (``check``):

- missing, unreadable or an I/O error (a USB stick remounting, a network share gone): **temporary**.
  The song is left out and tried again after ``RETRY_FIRST_S``, doubling up to ``RETRY_MAX_S`` while
  the trouble lasts; a song that comes back plays again without a restart.
- the file reads but does not decode (corrupt, truncated, a format libsndfile lacks): **bad**. It is
  left out until its size or mtime changes (a replaced file is analysed and offered again).

The camera loop asks which songs can be offered (``playable``) on every mood change, and that never
touches the disk: whether a bad song's file changed is looked at by ``refresh``, which the analysis
thread runs every few seconds (with the recommender's ``upkeep``: the likes and skips file), outside
the lock the camera loop takes. Songs of the music server's mood playlists (``take_playlists``) join
and leave while it runs; those known only by URI (``edge.music.playlists.Uri``) are never analysed
and have no file to check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from edge.logonce import once
from edge.music import features as feats
from edge.music.library import Library, Song
from edge.music.playlists import Uri
from edge.music.rank import SongState, refit
from edge.statefile import read_text, set_aside, write_json_atomic

log = logging.getLogger(__name__)

CACHE_NAME = ".moodplayer-features.json"
SAVE_EVERY_S = 30.0  # the feature cache is saved this often during a scan (and at its end)
RETRY_FIRST_S, RETRY_MAX_S = 30.0, 120.0  # a temporarily unreadable song is tried again after these
CHECK_SECONDS = 2.0  # how much ``check`` decodes

Clock = Callable[[], float]


def file_key(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, or None if it can't be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def check(path: Path) -> tuple[str, str]:
    """What is wrong with ``path``: ("missing" | "unreadable" | "bad" | "ok", why)."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except FileNotFoundError:
        return "missing", "the file is gone"
    except OSError as e:
        return "unreadable", f"{type(e).__name__}: {e.strerror or e}"
    try:
        feats.decode(path, seconds=CHECK_SECONDS)
    except feats.DecodeError as e:
        if file_key(path) is None:
            return "missing", "the file went away while it was read"
        return "bad", str(e)
    return "ok", "it decodes here"


def analyse_file(path: Path, analyse: Callable[[Path], feats.Features]) -> tuple[dict | None, str]:
    """(the cache record: ``tags`` and ``features`` or an ``error``, "") for ``path``, or (None, why) when
    the trouble is temporary (the file is missing or unreadable, or changed while it was read)."""
    key = file_key(path)
    if key is None:
        return None, "it could not be read (it is missing)"
    record: dict = {"tags": feats.read_tags(path)}
    try:
        record["features"] = analyse(path).to_dict()
    except feats.DecodeError as e:
        verdict, detail = check(path) if not e.unsupported else ("bad", str(e))
        if verdict in ("missing", "unreadable") or file_key(path) != key:
            return None, f"it could not be analysed ({detail})"
        record.update(error=str(e), unsupported=e.unsupported)
    except OSError as e:  # an analyser that reads the file itself
        return None, f"it could not be read ({type(e).__name__}: {e})"
    except Exception as e:  # a bug or an odd file must not end the scan
        log.debug("analysing %s failed", path, exc_info=True)
        record["error"] = f"analysis failed: {type(e).__name__}: {e}"
    return record, ""


def cache_path(root: Path, state: Path) -> Path:
    """Where a library's feature cache lives: beside it (``<root>/.moodplayer-features.json``) when the
    folder is writable, else in the state folder under a name derived from the library's path."""
    beside = root / CACHE_NAME
    if os.access(root, os.W_OK) and (not beside.exists() or os.access(beside, os.W_OK)):
        return beside
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return state / f"features-{digest}.json"



#: How much nicer than the camera loop the analysis thread runs.
NICER_BY = 10


def lower_thread_priority(step: int = NICER_BY) -> int | None:
    """Make the calling thread ``step`` nicer (Linux: a thread's own nice value); returns the new value,
    or None where that is refused (logged: the unit's SystemCallFilter must allow setpriority)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except (AttributeError, OSError) as e:
        log.warning("song analysis runs at the camera's priority: can't lower it (%s)", e)
        return None

class FeatureCache:
    """Features (and tags) by song, valid while a file's size and mtime stay the same. ``get`` and
    ``put`` are thread-safe; ``save`` writes atomically, merging what another process wrote meanwhile.
    A file that can't be read (bad JSON, a newer version, no permission) is moved aside, not written
    over; one of an older version is outdated and simply replaced."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        self._dirty = False
        if path is not None:
            self._entries = self._read()

    def _read(self) -> dict[str, dict]:
        assert self.path is not None
        try:
            text = read_text(self.path)
            data = json.loads(text) if text is not None else {"version": feats.VERSION, "songs": {}}
        except (OSError, UnicodeDecodeError, ValueError) as e:
            data, problem = None, f"{type(e).__name__}: {e}"
        else:
            problem = ""
        if isinstance(data, dict) and isinstance(data.get("version"), int) and data["version"] < feats.VERSION:
            return {}  # an older analysis: recomputed, and the file replaced
        if not problem and not (isinstance(data, dict) and data.get("version") == feats.VERSION
                                and isinstance(data.get("songs"), dict)):
            problem = f"not a version-{feats.VERSION} feature cache"
        if problem:
            if set_aside(self.path, problem, "the song feature cache") is None:
                self.path = None  # never write over it
            return {}
        return {k: v for k, v in data["songs"].items() if isinstance(v, dict)}

    def get(self, path: Path) -> dict | None:
        """The cached record (``features`` or ``error``, plus ``tags``) for ``path`` if still valid."""
        key = file_key(path)
        with self._lock:
            entry = self._entries.get(str(path))
        if entry is None or key is None or [entry.get("size"), entry.get("mtime_ns")] != list(key):
            return None
        return entry

    def put(self, path: Path, record: Mapping) -> None:
        key = file_key(path)
        if key is None:
            return
        with self._lock:
            self._entries[str(path)] = {"size": key[0], "mtime_ns": key[1], **record}
            self._dirty = True

    def save(self) -> bool:
        """Write the cache if it changed; False (with a warning, once) if it can't be written."""
        with self._lock:
            if self.path is None:
                return False
            if not self._dirty:
                return True
            merged = {**self._read(), **self._entries}
            self._entries, self._dirty = merged, False
            if self.path is None:
                return False
            try:
                write_json_atomic(self.path, {"version": feats.VERSION, "songs": merged})
            except OSError as e:
                log.warning("can't write the song feature cache %s (%s): features are recomputed next time",
                            self.path, e)
                self.path = None
                return False
        return True


@dataclass
class _Later:
    why: str
    until: float
    wait: float


class Trouble:
    """The songs left out: ``later`` (temporary trouble: retried from ``until``, the wait doubling from
    ``RETRY_FIRST_S`` to ``RETRY_MAX_S`` while it lasts) and ``bad`` (undecodable, with the file's
    ``file_key`` then: out until it changes). Each kind of trouble is warned about once. Not
    thread-safe: the ``Analyser`` holds its lock around it."""

    def __init__(self, clock: Clock):
        self._clock = clock
        self.later: dict[Path, _Later] = {}
        self.bad: dict[Path, tuple[int, int] | None] = {}
        self.warned: set[str] = set()

    def out(self, path: Path, now: float) -> bool:
        """True while ``path`` is left out."""
        return path in self.bad or (path in self.later and now < self.later[path].until)

    def postpone(self, path: Path, why: str) -> None:
        old, now = self.later.get(path), self._clock()
        wait = RETRY_FIRST_S if old is None or now > old.until + old.wait else min(RETRY_MAX_S, 2 * old.wait)
        self.later[path] = _Later(why, now + wait, wait)
        once(log, self.warned, f"later:{path.parent}", "can't use %s now: %s; trying it (and others in %s) again "
             "after %.0f s, then less often", path, why, path.parent, wait)

    def mark_bad(self, path: Path, why: str, key: tuple[int, int] | None) -> None:
        """``key``: the file's ``file_key`` when it was found bad (read by the caller, off the lock)."""
        self.later.pop(path, None)
        self.bad[path] = key
        once(log, self.warned, f"bad:{path}", "skipping %s: it can't be decoded (%s); replace or delete it", path, why)

    def forgive(self, path: Path, key: tuple[int, int] | None) -> bool:
        """``path`` is no longer bad if its file's key is still ``key`` as it was when it was looked at
        (the caller looked off the lock); True if it was taken off."""
        if path in self.bad and self.bad[path] == key:
            del self.bad[path]
            return True
        return False


class SongStates:
    """The songs of ``library`` (and of the server's mood playlists) and what is known of them: which
    can be offered now, which are in trouble. Thread-safe; ``Analyser`` learns their features.

    ``upkeep`` is called with every ``refresh`` (the recommender's feedback store re-reads its file
    there). ``clock`` (seconds, monotonic) times the retries of songs in temporary trouble. ``wake`` is
    set when there may be something new to analyse."""

    def __init__(self, library: Library, cache: FeatureCache | None = None, *, clock: Clock = time.monotonic,
                 upkeep: Callable[[], None] = lambda: None):
        self.library = library
        self.cache = cache
        self._clock, self._upkeep = clock, upkeep
        self._lock = threading.RLock()
        self._folder = {s.path: s for s in library.entries()}  # the songs folder's songs
        self._states = {s.path: SongState(s) for s in library.entries()}
        self._out = Trouble(clock)
        self._wake = threading.Event()
        if cache is not None:
            for state in self._states.values():
                record = cache.get(state.path)
                if record is not None:
                    self._apply(state, record, _key_of(record))
        self._refit()

    # -- what is known ------------------------------------------------------------------------------

    def states(self) -> list[SongState]:
        """Every song and what is known about it, by path."""
        with self._lock:
            return sorted(self._states.values(), key=lambda s: str(s.path))

    def state(self, path: str | Path) -> SongState | None:
        with self._lock:
            return self._states.get(path if isinstance(path, Uri) else Path(path))

    def playable(self) -> list[SongState]:
        """The songs that can be offered now: not undecodable (unless ``refresh`` saw the file change
        since), not in temporary trouble (unless its retry time has come). No disk: the camera loop
        calls this."""
        now = self._clock()
        with self._lock:
            return [s for p, s in self._states.items() if not self._out.out(p, now)]

    def refresh(self) -> None:
        """Look (off the lock) whether the undecodable songs' files changed: those that did are offered
        and analysed again. Then the ``upkeep``. On the analysis thread, every few seconds."""
        with self._lock:
            bad = dict(self._out.bad)
        changed = [(p, key) for p, key in bad.items() if file_key(p) not in (key, None)]
        with self._lock:
            for path, key in changed:
                if self._out.forgive(path, key) and path in self._states:
                    self._states[path].error = ""
                    self._wake.set()
        self._upkeep()

    def take_playlists(self, songs: list[Song]) -> None:
        """The songs of the music server's mood playlists now, in place of the last ones (on the
        playlists' thread). A song also in the songs folder gets the playlist's moods as well; what
        is known of a song that stays (features, trouble) stays."""
        fresh = [s for s in songs if s.path not in self._states and not isinstance(s.path, Uri)]
        cached = {s.path: self.cache.get(s.path) for s in fresh} if self.cache is not None else {}
        with self._lock:
            states = {}
            for path, song in merge(self._folder, songs).items():
                state = self._states.get(path) or SongState(song)
                state.song = song
                states[path] = state
                if cached.get(path) is not None and state.features is None and not state.error:
                    self._apply(state, cached[path], _key_of(cached[path]))
            self._states = states
            self._refit()
        self._wake.set()  # new files to analyse

    def undecodable(self) -> dict[Path, str]:
        """The songs left out because they do not decode, with why."""
        with self._lock:
            return {p: self._states[p].error for p in self._out.bad if p in self._states}

    def songs_for(self, mood: str) -> list[SongState]:
        """The playable songs of ``mood`` (labelled, or by features when unlabelled)."""
        return [s for s in self.playable() if mood in s.moods]

    def pending(self) -> list[Path]:
        """Songs still to analyse now (not those waiting out a temporary trouble)."""
        ready = {s.path for s in self.playable()}
        with self._lock:
            return [p for p, s in self._states.items()
                    if s.features is None and not s.error and p in ready and not isinstance(p, Uri)]

    # -- trouble --------------------------------------------------------------------------------------

    def trouble(self, path: Path, why: str = "") -> str:
        """``path`` would not play (``why``, if known): ``check`` it and leave it out for a while
        ("missing", "unreadable", or "ok": the trouble was elsewhere) or until it changes ("bad").
        Returns the verdict; a path that is not one of the library's songs is left alone ("unknown")."""
        path = path if isinstance(path, Uri) else Path(path)
        if path not in self._states:
            return "unknown"
        if isinstance(path, Uri):  # no file here: the server could not play it now
            with self._lock:
                self._out.postpone(path, why or "the music server would not play it")
            return "unreachable"
        verdict, detail = check(path)
        key = file_key(path) if verdict == "bad" else None
        with self._lock:
            if verdict == "bad":
                self._mark_bad(path, detail, key)
            else:
                self._out.postpone(path, f"{why or 'it would not play'} ({detail})")
        return verdict

    def _mark_bad(self, path: Path, why: str, key: tuple[int, int] | None) -> None:
        self._out.mark_bad(path, why, key)
        state = self._states.get(path)
        if state is not None:
            state.error, state.features = why, None

    def _apply(self, state: SongState, record: Mapping, key: tuple[int, int] | None) -> None:
        """Take one cache record (features or an error, and tags) into ``state``; ``key``: the file's
        ``file_key`` the record is for."""
        state.tags = dict(record.get("tags") or {})
        if "features" in record:
            try:
                state.features, state.error = feats.Features.from_dict(record["features"]), ""
                return
            except (KeyError, TypeError, ValueError) as e:
                record = {"error": f"bad cached features ({e})"}
        why = str(record.get("error", "unknown error"))
        if record.get("unsupported", False):  # the format, not the file: it may still play
            state.features, state.error = None, why
            once(log, self._out.warned, f"unsupported:{state.path.suffix}", "can't analyse %s (%s): such songs play "
                 "by their labels only", state.path, why)
        else:
            self._mark_bad(state.path, why, key)

    def _refit(self) -> None:
        with self._lock:
            refit(self._states.values())


class Analyser(SongStates):
    """``SongStates`` that learn their songs' sound on a background thread; see the module docstring.

    ``analyse`` computes a song's features (``features.analyse``); ``features`` False: the thread only
    keeps things fresh (``refresh``), analysing nothing. ``clock`` also times the cache saves."""

    def __init__(self, library: Library, cache: FeatureCache | None = None, *,
                 analyse: Callable[[Path], feats.Features] = feats.analyse, clock: Clock = time.monotonic,
                 save_every: float = SAVE_EVERY_S, features: bool = True,
                 upkeep: Callable[[], None] = lambda: None):
        super().__init__(library, cache, clock=clock, upkeep=upkeep)
        self._analyse, self.save_every, self.features = analyse, save_every, features
        self._stop, self._done = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.progress: tuple[int, int] = (0, 0)  # (songs analysed, songs to analyse) of the running scan

    def start(self, shutdown: threading.Event | None = None) -> None:
        """Analyse the songs without features on a background thread (niced); returns at once. The
        thread then waits for songs to come back from trouble or be replaced, until ``stop``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, args=(shutdown,), name="music-features", daemon=True)
        self._thread.start()

    def _run(self, shutdown: threading.Event | None) -> None:
        lower_thread_priority()
        stopping = self._stop if shutdown is None else _Either(self._stop, shutdown)
        try:
            while not stopping.is_set():
                self._wake.clear()
                self.refresh()
                if self.features:
                    self.scan(stop=stopping)
                self._done.set()
                self._wake.wait(self._idle_wait())
        except Exception:
            log.exception("song analysis failed; songs play by their labels only")
        finally:
            self._done.set()

    def _idle_wait(self) -> float:
        """Seconds until the next song in trouble may be tried (at most 5, so a shutdown is seen)."""
        with self._lock:
            due = [t.until for p, t in self._out.later.items()
                   if p in self._states and self._states[p].features is None]
        return max(0.05, min([5.0] + [d - self._clock() for d in due]))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the first background scan to finish; True if it has."""
        return self._done.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the background analysis (the cache keeps what was done)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.cache is not None:
            self.cache.save()

    def scan(self, progress: Callable[[int, int, Path], None] | None = None,
             stop: threading.Event | None = None) -> ScanReport:
        """Analyse every song ``pending`` now (the CLI's ``songs scan``; ``start`` runs this on a
        thread). ``progress(done, total, path)`` is called after each song; progress is logged every
        5 s and the cache saved every ``save_every`` s of the clock, and both at the end."""
        todo = self.pending()
        if not todo:
            return ScanReport(0, len(self._states), 0, 0.0)
        total, t0, failed, done = len(todo), self._clock(), 0, 0
        cached = sum(s.features is not None or bool(s.error) for s in self._states.values())
        self.progress = (0, total)
        log.info("analysing %d song%s (%d cached)", total, "" if total == 1 else "s", cached)
        last_log = last_fit = last_save = t0
        for path in todo:
            if self._stop.is_set() or (stop is not None and stop.is_set()):
                break
            failed += not self._analyse_one(path)
            done += 1
            now = self._clock()
            if now - last_fit >= 1.0:
                self._refit()
                self.refresh()
                last_fit = now
            if self.cache is not None and now - last_save >= self.save_every:
                self.cache.save()
                last_save = now
            self.progress = (done, total)
            if progress is not None:
                progress(done, total, path)
            if now - last_log >= 5.0 and done < total:
                last_log, rate = now, (now - t0) / done
                log.info("song features: %d/%d (%.0f ms a song, about %.0f s left)", done, total, 1000 * rate,
                         rate * (total - done))
        self._refit()
        if self.cache is not None:
            self.cache.save()
        seconds = self._clock() - t0
        log.info("song features: %d analysed in %.1f s, %d cached, %d not analysed", done, seconds, cached,
                     failed)
        return ScanReport(done, cached, failed, seconds)

    def _analyse_one(self, path: Path) -> bool:
        """Analyse one song and take the result in; False if it could not be analysed."""
        record, later = analyse_file(path, self._analyse)
        key = file_key(path) if record is not None and "error" in record else None
        with self._lock:
            if record is None:
                self._out.postpone(path, later)
                return False
            self._out.later.pop(path, None)
            state = self._states.get(path)
            if state is not None:
                self._apply(state, record, key)
        if self.cache is not None:
            self.cache.put(path, record)
        return "error" not in record


def merge(folder: Mapping[Path, Song], playlists: list[Song]) -> dict[Path, Song]:
    """The songs folder's songs and the playlists' in one library: a song in both keeps its folder
    labels and gains the playlists' other moods (``folder`` is not changed)."""
    merged = {p: Song(p, dict(s.moods), s.source, s.weight) for p, s in folder.items()}
    for song in playlists:
        if song.path in merged:
            merged[song.path].moods.update({m: w for m, w in song.moods.items() if m not in merged[song.path].moods})
        else:
            merged[song.path] = song
    return merged


def _key_of(record: Mapping) -> tuple[int, int] | None:
    """The ``file_key`` a cache record was made for."""
    size, mtime = record.get("size"), record.get("mtime_ns")
    return (size, mtime) if isinstance(size, int) and isinstance(mtime, int) else None


@dataclass(frozen=True)
class ScanReport:
    analysed: int  # songs analysed now
    cached: int  # songs whose features (or decoding error) came from the cache or an earlier scan
    failed: int  # songs that could not be analysed (can't be decoded, or in temporary trouble)
    seconds: float  # clock time of the analysis


class _Either:
    """Set when either of two events is (what ``scan`` and the thread check to stop)."""

    def __init__(self, a: threading.Event, b: threading.Event):
        self.a, self.b = a, b

    def is_set(self) -> bool:
        return self.a.is_set() or self.b.is_set()
