"""The recommender: which song next for a mood, from the listener's labels, the songs' sound and feedback.

``Recommender`` is a ``SongPicker`` (the player calls ``next(mood, point)`` and ``discard(path)``).
It works from the moment it is built (labelled songs rank by their labels' circumplex positions)
and gets better as a background thread (``start``) analyses the songs (``edge.music.features``),
which takes ~30 ms a song here and is cached, so only new or changed files cost anything.

**Mood model.** Every emotion has a target in valence/arousal space: ``edge.mood.CIRCUMPLEX``
(Russell & Mehrabian's factor scores). A song with features gets its own point (``MoodModel.point``):

- each feature is standardised: ``z = (x - centre) / scale``, clipped to +-3. Loudness, activity
  and brightness depend on mastering and recording, so their ``centre`` and ``scale`` come from the
  library: its median and robust spread (IQR / 1.35), each blended with a prior (``PRIORS``) as if
  the prior were ``PRIOR_SONGS`` more songs, so that a small or one-sided library is not stretched
  to fill the whole plane. Tempo and mode mean the same in any library (120 bpm is brisk, major is
  major), so they use the fixed ``PRIORS`` (tempo and brightness in octaves: log2 of bpm and Hz);
- the tempo counts as much as the beat is clear: ``t = w * z_tempo - (1 - w) * 0.5`` with
  ``w = min(1, pulse / 0.3)`` (no clear beat reads as calm);
- ``valence = tanh(0.8 * (0.75 z_mode + 0.15 z_brightness + 0.20 t))``
- ``arousal = tanh(0.8 * (0.35 t + 0.35 z_loudness + 0.45 z_activity + 0.20 z_brightness))``

A song without a mood label (not in a mood folder, no mood in the manifest) takes the mood whose
target is nearest its point (source "features"). A listener's label always wins: a labelled song
is never moved, whatever its features say.

**Ranking** (``rank``): a mood's songs, each scored

    score = - distance(song point, target)             # the room's point, or the mood's own
            + 0.5 * similarity to the listener's songs  # cosine, standardised feature vectors
            + 0.8 * feedback                            # tanh((likes - skips) / 2), see feedback.py
            + 0.3 * log(weight)                         # the manifest's weight

The similarity is to the centroid of the songs the listener put in that mood (by folder or
manifest) and those liked while it played, leaving the song itself out, minus half the similarity
to the centroid of the songs skipped while it played: "more like these, fewer like those".

**Choosing** (``next``): the best-scoring song of the mood not yet played in this round (plus a
little noise, ``explore``, so that near ties vary); never the song that just played; a round ends
when every song of the mood has played, and the next round starts afresh. A mood without songs of
its own borrows the ``fallback`` mood's.

**Strategies** (``music.strategy``):

- ``match`` (default): the target is the room's (valence, arousal) the player passes along with the
  mood (``Mood.valence``, ``Mood.arousal``), else the mood's circumplex point.
- ``uplift``: for sad, angry and fear, start calm and move towards brighter songs. The target of
  the k-th song since the mood began is ``start + min(k, UPLIFT_SONGS) / UPLIFT_SONGS * (goal - start)``
  with ``start = (valence_of_mood / 2, -0.3)`` (half as negative, calm) and ``goal = (0.6, 0.35)``
  (bright, moderately lively); the pool is the mood's songs plus the neutral and happy ones. For
  sad: (-0.32, -0.30), (-0.09, -0.14), (0.14, 0.03), (0.37, 0.19), (0.60, 0.35), then stays there.
  Other moods rank as under ``match``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from edge.mood import CIRCUMPLEX
from edge.music import features as feats
from edge.music import feedback as fb
from edge.music.feedback import FeedbackStore, state_dir
from edge.music.library import Library, Song
from edge.types import EMOTIONS

log = logging.getLogger(__name__)

STRATEGIES = ("match", "uplift")
UPLIFT_MOODS = ("sad", "angry", "fear")
UPLIFT_POOL = ("neutral", "happy")
UPLIFT_GOAL = (0.6, 0.35)
UPLIFT_CALM = -0.3  # the arousal an uplift starts at
UPLIFT_SONGS = 4  # songs from the calm start to the goal

#: feature -> (centre, scale, blended with the library's statistics?); tempo and brightness in
#: octaves (log2 of bpm and Hz).
PRIORS: dict[str, tuple[float, float, bool]] = {
    "tempo": (math.log2(110.0), 0.5, False),
    "loudness": (-20.0, 5.0, True),
    "activity": (1.5, 0.8, True),
    "brightness": (math.log2(1000.0), 0.8, True),
    "mode": (0.1, 0.35, False),
}
PRIOR_SONGS = 8
W_DISTANCE, W_SIMILARITY, W_FEEDBACK, W_WEIGHT = 1.0, 0.5, 0.8, 0.3
CACHE_NAME = ".moodplayer-features.json"

Point = tuple[float, float]


def nearest_mood(point: Point, moods: Sequence[str] = EMOTIONS) -> str:
    """The mood whose circumplex target is nearest ``point`` (Euclidean)."""
    v, a = point
    return min(moods, key=lambda m: (CIRCUMPLEX[m][0] - v) ** 2 + (CIRCUMPLEX[m][1] - a) ** 2)


def uplift_target(mood: str, step: int) -> Point:
    """The uplift strategy's target for the ``step``-th song (0 = first) since ``mood`` began."""
    start = (CIRCUMPLEX[mood][0] / 2, UPLIFT_CALM)
    f = min(max(step, 0), UPLIFT_SONGS) / UPLIFT_SONGS
    return (start[0] + f * (UPLIFT_GOAL[0] - start[0]), start[1] + f * (UPLIFT_GOAL[1] - start[1]))


def _raw(f: feats.Features, name: str) -> float | None:
    if name == "tempo":
        return math.log2(f.tempo) if f.tempo > 0 else None
    if name == "brightness":
        return math.log2(max(f.brightness, 1.0))
    return float(getattr(f, name))


class MoodModel:
    """Features -> (valence, arousal), standardised over a library (see the module docstring)."""

    def __init__(self, library_features: Sequence[feats.Features]):
        self.stats: dict[str, tuple[float, float]] = {}
        n_prior = PRIOR_SONGS
        for name, (c0, s0, from_library) in PRIORS.items():
            xs = np.array([x for f in library_features if (x := _raw(f, name)) is not None], np.float64)
            if len(xs) and from_library:
                q25, med, q75 = np.percentile(xs, [25, 50, 75])
                spread = max(float(q75 - q25) / 1.349, 1e-6)
                n = len(xs)
                centre = (n * float(med) + n_prior * c0) / (n + n_prior)
                scale = max((n * spread + n_prior * s0) / (n + n_prior), 0.5 * s0)
            else:
                centre, scale = c0, s0
            self.stats[name] = (centre, scale)
        # The similarity space: every entry of Features.vector(), standardised over the library.
        vectors = np.array([f.vector() for f in library_features]) if library_features else np.zeros((0, 18))
        if len(vectors) >= 2:
            self.mean, self.std = vectors.mean(axis=0), np.maximum(vectors.std(axis=0), 1e-3)
        else:
            self.mean, self.std = np.zeros(vectors.shape[1]), np.ones(vectors.shape[1])

    def z(self, f: feats.Features, name: str) -> float | None:
        x = _raw(f, name)
        if x is None:
            return None
        centre, scale = self.stats[name]
        return float(np.clip((x - centre) / scale, -3.0, 3.0))

    def point(self, f: feats.Features) -> Point:
        """The song's (valence, arousal), each in (-1, 1)."""
        w = min(1.0, f.pulse / 0.3)
        zt = self.z(f, "tempo")
        t = w * (zt if zt is not None else -0.5) - (1 - w) * 0.5
        zm, zb = self.z(f, "mode"), self.z(f, "brightness")
        zl, za = self.z(f, "loudness"), self.z(f, "activity")
        valence = math.tanh(0.8 * (0.75 * zm + 0.15 * zb + 0.20 * t))
        arousal = math.tanh(0.8 * (0.35 * t + 0.35 * zl + 0.45 * za + 0.20 * zb))
        return round(valence, 4), round(arousal, 4)

    def embed(self, f: feats.Features) -> np.ndarray:
        """The standardised feature vector similarity is measured in."""
        return np.clip((f.vector() - self.mean) / self.std, -4.0, 4.0)


@dataclass
class SongState:
    """What the recommender knows about one song."""

    song: Song
    features: feats.Features | None = None
    tags: dict = field(default_factory=dict)
    error: str = ""  # why it can't be analysed; with ``bad`` it is never offered
    bad: bool = False
    point: Point | None = None  # from the features
    mood: str = ""  # the features' nearest mood (what an unlabelled song plays for)
    vector: np.ndarray | None = None

    @property
    def path(self) -> Path:
        return self.song.path

    @property
    def moods(self) -> dict[str, float]:
        """The moods it plays for: the listener's labels, else the features' mood."""
        if self.song.moods:
            return self.song.moods
        return {self.mood: 1.0} if self.mood else {}

    @property
    def source(self) -> str:
        return self.song.source or ("features" if self.mood else "")


@dataclass(frozen=True)
class Ranked:
    """One song in a ranking, with the parts of its score."""

    path: Path
    mood: str  # the mood it was ranked for
    source: str  # where its mood came from: folder, manifest, features
    score: float
    distance: float
    similarity: float
    feedback: float
    point: Point

    def to_dict(self) -> dict:
        return {"path": str(self.path), "mood": self.mood, "source": self.source, "score": round(self.score, 4),
                "distance": round(self.distance, 4), "similarity": round(self.similarity, 4),
                "feedback": round(self.feedback, 4), "valence": self.point[0], "arousal": self.point[1]}


@dataclass(frozen=True)
class ScanReport:
    analysed: int  # songs analysed now
    cached: int  # songs whose features came from the cache
    failed: int  # songs that can't be decoded
    seconds: float  # wall time of the analysis


class Recommender:
    """Picks songs for moods; see the module docstring. Thread-safe.

    ``library``: the songs. ``strategy``: "match" or "uplift". ``store``: likes and skips (in memory
    if None). ``cache``: the feature cache (none if None). ``seed``: for the ``explore`` noise.
    """

    def __init__(self, library: Library, *, strategy: str = "match", store: FeedbackStore | None = None,
                 cache: feats.FeatureCache | None = None, seed: int | None = None, explore: float = 0.05,
                 analyse: Callable[[Path], feats.Features] = feats.analyse, features: bool = True):
        if strategy not in STRATEGIES:
            raise ValueError(f"music.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        self.library = library
        self.strategy = strategy
        self.store = store if store is not None else FeedbackStore(None)
        self.cache = cache
        self.explore = explore
        self.features_enabled = features
        self._analyse = analyse
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._states = {s.path: SongState(s) for s in library.entries()}
        self._keys: dict[Path, str] = {}
        self._model = MoodModel([])
        self._played: dict[str, set[Path]] = {}
        self._last: Path | None = None
        self._episode: tuple[str, int] = ("", 0)  # (mood, songs picked since it began)
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self.progress: tuple[int, int] = (0, 0)  # (songs analysed, songs to analyse) of the running scan
        if cache is not None:
            for state in self._states.values():
                record = cache.get(state.path)
                if record is not None:
                    self._apply(state, record)
        self._refit()

    # -- construction from the config ----------------------------------------------------------------

    @classmethod
    def from_config(cls, config, *, root: str | Path | None = None, seed: int | None = None) -> Recommender:
        """The recommender a ``MusicConfig`` describes: its songs folder (or ``root``), strategy,
        feature cache and feedback store. Raises ``LibraryError`` for an unusable folder."""
        library = Library.scan(root if root is not None else config.songs, fallback=config.fallback)
        state = state_dir(getattr(config, "state_dir", ""))
        use_features = getattr(config, "features", True)
        cache = feats.FeatureCache(cache_path(library.root, state)) if use_features else None
        return cls(library, strategy=getattr(config, "strategy", "match"),
                   store=FeedbackStore(state / "feedback.json"), cache=cache, seed=seed, features=use_features)

    # -- the background analysis ------------------------------------------------------------------

    def pending(self) -> list[Path]:
        """Songs still to analyse."""
        with self._lock:
            return [s.path for s in self._states.values() if s.features is None and not s.error]

    def start(self, shutdown: threading.Event | None = None) -> None:
        """Analyse the songs without features on a background thread (low priority); returns at once."""
        if not self.features_enabled:
            self._done.set()
            return
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._scan_thread, args=(shutdown,), name="music-features",
                                        daemon=True)
        self._thread.start()

    def _scan_thread(self, shutdown: threading.Event | None) -> None:
        try:  # 10 nicer than the rest of the process; on Linux this touches this thread only
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
        except (AttributeError, OSError):
            pass
        try:
            self.scan(stop=shutdown)
        except Exception:
            log.exception("song analysis failed; songs play by their labels only")
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background analysis to finish; True if it has."""
        return self._done.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the background analysis (the cache keeps what was done)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def scan(self, progress: Callable[[int, int, Path], None] | None = None,
             stop: threading.Event | None = None) -> ScanReport:
        """Analyse every song without features now (the CLI's ``songs scan``; ``start`` runs this on a
        thread). ``progress(done, total, path)`` is called after each song; progress is also logged
        every 5 s. Saves the cache every 20 songs and at the end."""
        todo = self.pending()
        total, t0, failed = len(todo), time.monotonic(), 0
        cached = len(self._states) - total
        self.progress = (0, total)
        if total:
            log.info("analysing %d song%s (%d cached)", total, "" if total == 1 else "s", cached)
        last_log = last_fit = t0
        done = 0
        for done, path in enumerate(todo, 1):
            if self._stop.is_set() or (stop is not None and stop.is_set()):
                done -= 1
                break
            record = self._analyse_one(path)
            failed += "error" in record
            with self._lock:
                state = self._states.get(path)
                if state is not None:
                    self._apply(state, record)
            if self.cache is not None:
                self.cache.put(path, record)
                if done % 20 == 0:
                    self.cache.save()
            now = time.monotonic()
            if now - last_fit >= 1.0:
                self._refit()
                last_fit = now
            self.progress = (done, total)
            if progress is not None:
                progress(done, total, path)
            if now - last_log >= 5.0 and done < total:
                last_log = now
                rate = (now - t0) / done
                log.info("song features: %d/%d (%.0f ms a song, about %.0f s left)", done, total, 1000 * rate,
                         rate * (total - done))
        self._refit()
        if self.cache is not None:
            self.cache.save()
        seconds = time.monotonic() - t0
        if total:
            log.info("song features: %d analysed in %.1f s (%.0f ms a song), %d cached, %d unreadable",
                     done, seconds, 1000 * seconds / max(done, 1), cached, failed)
        return ScanReport(done, cached, failed, seconds)

    def _analyse_one(self, path: Path) -> dict:
        record: dict = {"tags": feats.read_tags(path)}
        try:
            record["features"] = self._analyse(path).to_dict()
        except feats.DecodeError as e:
            record["error"] = str(e)
            record["unsupported"] = e.unsupported
        except Exception as e:  # a bug or an odd file must not end the scan
            log.debug("analysing %s failed", path, exc_info=True)
            record["error"] = f"analysis failed: {type(e).__name__}: {e}"
        return record

    def _apply(self, state: SongState, record: Mapping) -> None:
        """Take one cache record (features or an error, and tags) into ``state``."""
        state.tags = dict(record.get("tags") or {})
        if "features" in record:
            try:
                state.features = feats.Features.from_dict(record["features"])
                state.error, state.bad = "", False
                return
            except (KeyError, TypeError, ValueError) as e:
                record = {"error": f"bad cached features ({e})"}
        state.features = None
        state.error = str(record.get("error", "unknown error"))
        state.bad = not record.get("unsupported", False)
        if state.bad:
            self._once(f"bad:{state.path}", "skipping %s: it can't be decoded (%s); replace or delete it",
                       state.path, state.error)
        else:
            self._once(f"unsupported:{state.path.suffix}", "can't analyse %s (%s): such songs play by their "
                       "labels only", state.path, state.error)

    def _refit(self) -> None:
        """Re-standardise over the analysed songs and re-derive every song's point and mood."""
        with self._lock:
            analysed = [s for s in self._states.values() if s.features is not None]
            model = MoodModel([s.features for s in analysed])
            for s in self._states.values():
                if s.features is not None:
                    s.point = model.point(s.features)
                    s.mood = nearest_mood(s.point)
                    s.vector = model.embed(s.features)
                else:
                    s.point, s.mood, s.vector = None, "", None
            self._model = model

    # -- what the library looks like --------------------------------------------------------------

    def states(self) -> list[SongState]:
        """Every song and what is known about it, by path."""
        with self._lock:
            return sorted(self._states.values(), key=lambda s: s.path)

    def state(self, path: str | Path) -> SongState | None:
        with self._lock:
            return self._states.get(Path(path))

    def songs_for(self, mood: str) -> list[SongState]:
        """The playable songs of ``mood`` (labelled, or by features when unlabelled)."""
        with self._lock:
            return [s for s in self._states.values() if not s.bad and mood in s.moods]

    # -- ranking and choosing ---------------------------------------------------------------------

    def _pool(self, mood: str) -> tuple[list[SongState], str]:
        """The candidate songs for ``mood`` and the mood they were found under (the fallback's, when
        ``mood`` has none)."""
        own = self.songs_for(mood)
        found_as = mood
        if not own:
            fallback = self.library.fallback
            if fallback and fallback != mood:
                own = self.songs_for(fallback)
                found_as = fallback
            self._once(f"nothing:{mood}", "no songs for mood %r: %s", mood,
                       f"playing {fallback!r} songs instead" if own else "staying quiet for it")
        if self.strategy == "uplift" and mood in UPLIFT_MOODS:
            seen = {s.path for s in own}
            for extra in UPLIFT_POOL:
                for s in self.songs_for(extra):
                    if s.path not in seen:
                        seen.add(s.path)
                        own.append(s)
        return own, found_as

    def _target(self, mood: str, point: Point | None, step: int) -> Point:
        if self.strategy == "uplift" and mood in UPLIFT_MOODS:
            return uplift_target(mood, step)
        if point is not None:
            return (float(point[0]), float(point[1]))
        return CIRCUMPLEX.get(mood, (0.0, 0.0))

    def _song_point(self, s: SongState, mood: str) -> Point:
        if s.point is not None:
            return s.point
        labels = s.moods or {mood: 1.0}
        label = mood if mood in labels else max(labels, key=labels.get)
        return CIRCUMPLEX.get(label, (0.0, 0.0))

    def _similarity(self, pool: list[SongState], mood: str, counts: dict) -> dict[Path, float]:
        """Each candidate's similarity to the listener's songs for ``mood`` (see the module docstring)."""
        positives, negatives = [], []
        for s in self._states.values():
            if s.vector is None:
                continue
            verdict = fb.verdict(counts.get(self._key(s.path), {}), mood)
            if verdict == "skipped":
                negatives.append(s.vector)
            elif verdict == "liked" or mood in s.song.moods:
                positives.append(s)
        pos_paths = {s.path for s in positives}
        pos_sum = np.sum([s.vector for s in positives], axis=0) if positives else None
        neg_mean = np.mean(negatives, axis=0) if negatives else None
        out = {}
        for c in pool:
            if c.vector is None:
                out[c.path] = 0.0
                continue
            sim = 0.0
            if pos_sum is not None:
                n, total = len(positives), pos_sum
                if c.path in pos_paths:
                    n, total = n - 1, pos_sum - c.vector  # leave the song itself out
                sim = _cosine(c.vector, total / n) if n > 0 else 0.0
            if neg_mean is not None:
                sim -= 0.5 * _cosine(c.vector, neg_mean)
            out[c.path] = sim
        return out

    def _key(self, path: Path) -> str:
        """The feedback store's key for a song (cached: ``Path.absolute`` is slow in bulk)."""
        key = self._keys.get(path)
        if key is None:
            key = self._keys[path] = fb.song_key(path)
        return key

    def _rank(self, mood: str, point: Point | None, step: int) -> list[Ranked]:
        pool, found_as = self._pool(mood)
        if not pool:
            return []
        target = self._target(mood, point, step)
        counts = self.store.snapshot()
        sims = self._similarity(pool, found_as, counts)
        ranked = []
        for s in pool:
            p = self._song_point(s, found_as)
            distance = math.hypot(p[0] - target[0], p[1] - target[1])
            liked = fb.squash(fb.raw_score(counts.get(self._key(s.path), {}), mood))
            weight = s.song.weight * max(s.moods.get(found_as, 1.0), 1e-6)
            score = (-W_DISTANCE * distance + W_SIMILARITY * sims[s.path] + W_FEEDBACK * liked
                     + W_WEIGHT * math.log(weight))
            ranked.append(Ranked(s.path, mood, s.source, score, distance, sims[s.path], liked, p))
        ranked.sort(key=lambda r: (-r.score, str(r.path)))
        return ranked

    def rank(self, mood: str, point: Point | None = None) -> list[Ranked]:
        """Every candidate song for ``mood``, best first (no noise, nothing marked as played)."""
        with self._lock:
            mood_, step = self._episode
            return self._rank(mood, point, step if mood_ == mood else 0)

    def next(self, mood: str, point: Point | None = None) -> Path | None:
        """The song to play next for ``mood`` (``point``: the room's valence and arousal), or None."""
        with self._lock:
            try:
                return self._choose(mood, point, self._played, noise=self.explore, commit=True)
            except Exception:  # never let a ranking bug stop the music: fall back to the mood's songs
                self._once("choose-failed", "ranking songs failed; playing the mood's songs in order",
                           exc_info=True)
                songs = [s.path for s in self.songs_for(mood) if s.path != self._last]
                self._last = songs[0] if songs else self._last
                return songs[0] if songs else None

    def plan(self, mood: str, n: int, point: Point | None = None) -> list[Ranked]:
        """The next ``n`` songs ``next`` would pick for ``mood`` from now, without the noise and
        without changing anything (the CLI's ``songs recommend``)."""
        with self._lock:
            saved = (self._last, self._episode)
            played = {m: set(p) for m, p in self._played.items()}
            picks: list[Ranked] = []
            try:
                for _ in range(n):
                    pick = self._choose(mood, point, played, noise=0.0, commit=True, detail=True)
                    if pick is None:
                        break
                    picks.append(pick)
            finally:
                self._last, self._episode = saved
            return picks

    def _choose(self, mood: str, point: Point | None, played: dict[str, set[Path]], noise: float,
                commit: bool, detail: bool = False):
        mood_, step = self._episode
        step = step if mood_ == mood else 0
        ranked = self._rank(mood, point, step)
        if not ranked:
            return None
        paths = {r.path for r in ranked}
        done = played.setdefault(mood, set()) & paths
        left = [r for r in ranked if r.path not in done]
        if not left:  # the round is over: start another
            done.clear()
            left = ranked
        if len(left) > 1:
            left = [r for r in left if r.path != self._last] or left
        elif len(ranked) > 1 and left[0].path == self._last:
            # the last of the round is the one that just played: start the next round without it
            done.clear()
            left = [r for r in ranked if r.path != self._last]
        if noise > 0:
            pick = max(left, key=lambda r: r.score + self._rng.gauss(0.0, noise))
        else:
            pick = left[0]
        if commit:
            done.add(pick.path)
            played[mood] = done
            self._last = pick.path
            self._episode = (mood, step + 1)
        return pick if detail else pick.path

    def discard(self, path: Path) -> None:
        """Never offer ``path`` again (it would not play)."""
        with self._lock:
            state = self._states.get(Path(path))
            if state is not None:
                state.bad = True

    # -- feedback ---------------------------------------------------------------------------------

    def feedback(self, kind: str, mood: str, path: Path) -> None:
        """Record a like or a skip (the player's ``on_feedback`` signature); it shifts later picks."""
        self.store.record(kind, path, mood)
        log.info("%s %s (%s)", "liked" if kind == "like" else "skipped", Path(path).name, mood)

    def _once(self, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args, exc_info=exc_info)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.sqrt(np.sum(a * a))), float(np.sqrt(np.sum(b * b)))
    if na < 1e-9 or nb < 1e-9:
        return 0.0
    return float(np.sum(a * b) / (na * nb))


def cache_path(root: Path, state: Path) -> Path:
    """Where a library's feature cache lives: beside it (``<root>/.moodplayer-features.json``) when the
    folder is writable, else in the state folder under a name derived from the library's path."""
    beside = root / CACHE_NAME
    if os.access(root, os.W_OK) and (not beside.exists() or os.access(beside, os.W_OK)):
        return beside
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return state / f"features-{digest}.json"
