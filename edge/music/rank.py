"""Ranking songs for a mood: pure functions over what is known of each song (no I/O, no threads).

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

**Pool** (``pool``): the mood's songs; a mood without songs of its own borrows the ``fallback``
mood's; under ``uplift`` the pool of sad, angry and fear also holds the neutral and happy songs.

**Score** (``rank``): each song of the pool

    score = - distance(song point, target)             # the room's point, or the mood's own
            + 0.5 * similarity to the listener's songs  # cosine, standardised feature vectors
            + 0.8 * feedback                            # tanh((likes - skips) / 2), see feedback.py
            + 0.3 * log(weight)                         # the manifest's weight

The similarity is to the centroid of the songs the listener put in that mood (by folder or
manifest) and those liked while it played, leaving the song itself out, minus half the similarity
to the centroid of the songs skipped while it played: "more like these, fewer like those".

**Rotation** (``Rotation``): the best-scoring song of the mood not yet played in this round (plus a
little noise so that near ties vary); never the song that just played; a round ends when every song
of the mood has played, and the next round starts afresh.

**Strategies** (``music.strategy``, ``edge.music.config.STRATEGIES``):

- ``match`` (default): the target is the room's (valence, arousal) the player passes along with the
  mood (``Mood.valence``, ``Mood.arousal``), else the mood's circumplex point.
- ``uplift``: for sad, angry and fear, start calm and move towards brighter songs. The target of
  the k-th song since the mood began is ``start + min(k, UPLIFT_SONGS) / UPLIFT_SONGS * (goal - start)``
  with ``start = (valence_of_mood / 2, -0.3)`` (half as negative, calm) and ``goal = (0.6, 0.35)``
  (bright, moderately lively). For sad: (-0.32, -0.30), (-0.09, -0.14), (0.14, 0.03), (0.37, 0.19),
  (0.60, 0.35), then stays there. Other moods rank as under ``match``.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.circumplex import CIRCUMPLEX
from edge.music import features as feats
from edge.music import feedback as fb
from edge.music.library import Song
from edge.types import EMOTIONS

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

Point = tuple[float, float]
Counts = dict[str, dict[str, dict[str, int]]]  # FeedbackStore.snapshot()


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
    """What is known about one song: its features (once analysed), or why it can't be analysed."""

    song: Song
    features: feats.Features | None = None
    tags: dict = field(default_factory=dict)
    error: str = ""  # why it can't be decoded (cached until the file changes)
    point: Point | None = None  # from the features
    mood: str = ""  # the features' nearest mood (what an unlabelled song plays for)
    vector: np.ndarray | None = None
    key: str = ""  # the feedback store's key

    def __post_init__(self) -> None:
        self.key = self.key or fb.song_key(self.song.path)

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


def refit(songs: Iterable[SongState]) -> None:
    """Re-standardise over the analysed ``songs`` and re-derive every song's point, mood and vector."""
    songs = list(songs)
    model = MoodModel([s.features for s in songs if s.features is not None])
    for s in songs:
        if s.features is not None:
            s.point = model.point(s.features)
            s.mood = nearest_mood(s.point)
            s.vector = model.embed(s.features)
        else:
            s.point, s.mood, s.vector = None, "", None


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


def pool(songs: Sequence[SongState], mood: str, strategy: str, fallback: str) -> tuple[list[SongState], str]:
    """The candidates for ``mood`` among ``songs`` (the playable ones), and the mood they were found
    under: ``mood``, or ``fallback`` when ``mood`` has none (an empty list when neither has any)."""
    own = [s for s in songs if mood in s.moods]
    found_as = mood
    if not own and fallback and fallback != mood:
        own, found_as = [s for s in songs if fallback in s.moods], fallback
    if strategy == "uplift" and mood in UPLIFT_MOODS:
        seen = {s.path for s in own}
        own += [s for s in songs if s.path not in seen and any(m in s.moods for m in UPLIFT_POOL)]
    return own, found_as


def target(mood: str, point: Point | None, step: int, strategy: str) -> Point:
    """Where in the valence/arousal plane the ``step``-th song since ``mood`` began should sit."""
    if strategy == "uplift" and mood in UPLIFT_MOODS:
        return uplift_target(mood, step)
    if point is not None:
        return (float(point[0]), float(point[1]))
    return CIRCUMPLEX.get(mood, (0.0, 0.0))


def song_point(s: SongState, mood: str) -> Point:
    """The song's point: from its features, else its label's (``mood``'s if it has that label)."""
    if s.point is not None:
        return s.point
    labels = s.moods or {mood: 1.0}
    label = mood if mood in labels else max(labels, key=labels.get)
    return CIRCUMPLEX.get(label, (0.0, 0.0))


def similarity(candidates: Sequence[SongState], songs: Sequence[SongState], mood: str,
               counts: Counts) -> dict[Path, float]:
    """Each candidate's similarity to the listener's songs for ``mood`` (see the module docstring)."""
    positives, negatives = [], []
    for s in songs:
        if s.vector is None:
            continue
        verdict = fb.verdict(counts.get(s.key, {}), mood)
        if verdict == "skipped":
            negatives.append(s.vector)
        elif verdict == "liked" or mood in s.song.moods:
            positives.append(s)
    pos_paths = {s.path for s in positives}
    pos_sum = np.sum([s.vector for s in positives], axis=0) if positives else None
    neg_mean = np.mean(negatives, axis=0) if negatives else None
    out = {}
    for c in candidates:
        sim = 0.0
        if c.vector is not None and pos_sum is not None:
            n, total = len(positives), pos_sum
            if c.path in pos_paths:
                n, total = n - 1, pos_sum - c.vector  # leave the song itself out
            sim = _cosine(c.vector, total / n) if n > 0 else 0.0
        if c.vector is not None and neg_mean is not None:
            sim -= 0.5 * _cosine(c.vector, neg_mean)
        out[c.path] = sim
    return out


def rank(candidates: Sequence[SongState], songs: Sequence[SongState], mood: str, found_as: str, aim: Point,
         counts: Counts) -> list[Ranked]:
    """``candidates`` (a ``pool`` found under ``found_as``) scored for ``mood`` towards ``aim``, best
    first; ``songs`` (every song with features) make up the listener's taste."""
    sims = similarity(candidates, songs, found_as, counts)
    ranked = []
    for s in candidates:
        p = song_point(s, found_as)
        distance = math.hypot(p[0] - aim[0], p[1] - aim[1])
        liked = fb.squash(fb.raw_score(counts.get(s.key, {}), mood))
        weight = s.song.weight * max(s.moods.get(found_as, 1.0), 1e-6)
        score = (-W_DISTANCE * distance + W_SIMILARITY * sims[s.path] + W_FEEDBACK * liked
                 + W_WEIGHT * math.log(weight))
        ranked.append(Ranked(s.path, mood, s.source, score, distance, sims[s.path], liked, p))
    ranked.sort(key=lambda r: (-r.score, str(r.path)))
    return ranked


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.sqrt(np.sum(a * a))), float(np.sqrt(np.sum(b * b)))
    if na < 1e-9 or nb < 1e-9:
        return 0.0
    return float(np.sum(a * b) / (na * nb))


class Rotation:
    """Which songs have played: per mood this round, the last one, and how far into a mood's episode
    (the uplift's step). Not thread-safe: the recommender holds its lock around it."""

    def __init__(self) -> None:
        self.played: dict[str, set[Path]] = {}
        self.last: Path | None = None
        self.episode: tuple[str, int] = ("", 0)  # (mood, songs picked since it began)

    def step(self, mood: str) -> int:
        """How many songs were picked since ``mood`` began (0 when another mood played last)."""
        return self.episode[1] if self.episode[0] == mood else 0

    def choose(self, mood: str, ranked: Sequence[Ranked], noise: float, rng: random.Random) -> Ranked | None:
        """The next of ``ranked`` (best first) under the rules in the module docstring, marked as played."""
        if not ranked:
            return None
        done = self.played.setdefault(mood, set())
        done &= {r.path for r in ranked}
        left = [r for r in ranked if r.path not in done]
        if not left:  # the round is over: start another
            done.clear()
            left = list(ranked)
        if len(left) > 1:
            left = [r for r in left if r.path != self.last] or left
        elif len(ranked) > 1 and left[0].path == self.last:
            done.clear()  # the last of the round just played: start the next round without it
            left = [r for r in ranked if r.path != self.last]
        pick = max(left, key=lambda r: r.score + rng.gauss(0.0, noise)) if noise > 0 else left[0]
        done.add(pick.path)
        self.last = pick.path
        self.episode = (mood, self.step(mood) + 1)
        return pick

    def copy(self) -> Rotation:
        return copy.deepcopy(self)
