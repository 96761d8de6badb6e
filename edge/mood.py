"""The room's mood from per-face emotions: per-track smoothing, a room aggregate, hysteresis and a hold.

Users forgive a song change that comes two seconds late; they do not forgive one that is wrong, nor
a song that flickers with every misread frame. So the mood moves through four gates, all timed by
frame time ``t`` only (never the wall clock, so a video gives the same events at any speed):

1. **Smoothing** (per face): an exponential moving average of each track's probabilities with
   ``alpha = 1 - 0.5 ** (dt / half_life)``. ``dt`` is the time since that track's previous
   observation, so the filter is the same at 5, 10 or 30 FPS: for a constant input the EMA at a
   frame equals the continuous one, ``p(t) = B + (A - B) * 0.5 ** (t / half_life)``.
2. **Aggregate** (the room): one probability vector from all remembered tracks, see ``MoodConfig``.
3. **Verdict** (this frame): ``"uncertain"`` when the aggregate's top probability is below
   ``min_confidence`` or the top two are within ``tie_margin``; otherwise the top emotion, provided
   it beats the *anchor* (the last emotion reported, i.e. the one whose music is playing, kept
   while the mood is uncertain) by ``margin``; a challenger that does not is ignored.
4. **Hold**: a verdict that differs from the reported mood must stand, unchanged and on every
   frame, for ``hold`` seconds before it is reported (``since`` is then that frame's time).
   Entering ``"uncertain"`` needs the hold too, so the mood does not flicker into it either; the
   player ignores ``"uncertain"`` and the song plays on.

Step response (the bound ``step_response_bound`` computes): for one face (or faces that step
together) whose probabilities jump from ``A`` to ``B`` and then stay constant, the verdict becomes
``B``'s top label once three conditions hold, each of the form ``f(t) = f_B + (f_A - f_B) * x``
with ``x = 0.5 ** (t / half_life)``: ``p_b >= min_confidence``; ``p_b - p_k >= tie_margin`` for
every other ``k``; ``p_b - p_anchor >= margin``. A condition false under ``A`` and true under ``B``
first holds at ``tau = half_life * log2((f_B - f_A) / (f_B - threshold))``; once true it stays true.
With ``tau_cross`` the largest of these, the mood switches to ``B`` at ``tau_cross + hold``
(``step_response_bound``). At frame period ``dt``, measured from the first frame showing ``B``, the
switch comes after ``(max(ceil(tau_cross / dt), 1) - 1) * dt + ceil(hold / dt) * dt`` seconds, so
within ``[tau_cross + hold - dt, tau_cross + hold]`` when ``hold`` is a multiple of ``dt`` and below
``tau_cross + hold + dt`` always (the first frame's update covers the ``dt`` before it, hence the
``- dt``): the same switch time, to within a frame, at any frame rate. With the defaults a step from
happy 0.8 to sad 0.8 (the rest spread evenly) gives ``tau_cross = 0.39 s``: the mood changes 1.89 s
after the step. During the crossover the verdict may read ``"uncertain"`` for a moment; that
restarts the hold's clock but is not reported while it lasts less than ``hold``, so the mood changes
exactly once. With the defaults this is so for every step between two moods whose top
probabilities are 0.45 or more (tested); a slow ``half_life`` with a high ``min_confidence``, or a
weak ``B``, can make the crossover a genuinely uncertain spell longer than ``hold``, reported as
``"uncertain"`` before ``B`` (the switch to ``B`` still comes at ``tau_cross + hold``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from edge.circumplex import CIRCUMPLEX
from edge.settings import AGGREGATES, MoodConfig  # noqa: F401 (re-exported: the stage's own config)
from edge.types import UNCERTAIN, Emotions, Face, Mood

log = logging.getLogger(__name__)

_EPS = 1e-9  # slack for float time comparisons (frame times like 0.1 * i)


def valence_arousal(probs: Sequence[float] | np.ndarray, labels: Sequence[str],
                    points: np.ndarray | None = None) -> tuple[float, float]:
    """Probability-weighted circumplex position of ``probs`` (in ``labels`` order); (0, 0) if they
    are all zero. Probabilities are normalised first, so a one-hot vector gives its label's point."""
    p = np.asarray(probs, np.float64).reshape(-1)
    if len(p) != len(labels):
        raise ValueError(f"{len(p)} probabilities for {len(labels)} labels")
    points = _points(labels) if points is None else points  # ``_points(labels)``, if the caller keeps it
    total = float(p.sum())
    if total <= 0:
        return 0.0, 0.0
    v, a = (p @ points) / total
    return float(v), float(a)


def step_response_bound(cfg: MoodConfig, before: Sequence[float], after: Sequence[float]) -> float:
    """Seconds from a step ``before -> after`` (constant probability vectors, same label order) until
    the mood reports ``after``'s top label, in continuous time: ``tau_cross + hold`` (see the module
    docstring; a filter running at frame period ``dt`` switches within ``[bound - dt, bound + dt)`` of
    the first frame that shows ``after``, and at most ``bound`` when ``hold`` is a multiple of
    ``dt``). The anchor is ``before``'s top label. ``inf`` if ``after`` is
    not confident, tied, or does not beat the anchor by ``margin``; ``hold`` alone if ``before``
    already gives ``after``'s verdict. Exact for one face and for ``"weighted"``/``"largest"`` with
    faces that step together; not for ``"majority"``, whose votes jump."""
    a, b = np.asarray(before, np.float64), np.asarray(after, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"before and after differ in length: {a.shape} vs {b.shape}")
    top, anchor = int(np.argmax(b)), int(np.argmax(a))
    # Each condition f >= threshold, with f linear in p: (f under A, f under B, threshold).
    conditions = [(a[top], b[top], cfg.min_confidence)]
    conditions += [(a[top] - a[k], b[top] - b[k], cfg.tie_margin) for k in range(len(b)) if k != top]
    if anchor != top:
        conditions.append((a[top] - a[anchor], b[top] - b[anchor], cfg.margin))
    tau = 0.0
    for f_a, f_b, threshold in conditions:
        if f_b < threshold or (f_a < threshold and f_b == threshold):
            return math.inf  # never reached, or only approached
        if f_a < threshold:
            tau = max(tau, cfg.half_life * math.log2((f_b - f_a) / (f_b - threshold)))
    return tau + cfg.hold


class MoodUpdate(NamedTuple):
    """What ``MoodFilter.update`` decided on one frame: the room's mood, and whether its label changed."""

    mood: Mood
    changed: bool


class _Track:
    """One face's smoothed probabilities (filter's label order) and when and how big it was last seen."""

    __slots__ = ("probs", "area", "last_seen")

    def __init__(self, probs: np.ndarray, area: int, t: float) -> None:
        self.probs, self.area, self.last_seen = probs, area, t


class MoodFilter:
    """Per-frame faces and emotions -> the room's ``Mood``, steady against misreads (see the module
    docstring for the rules and the step-response bound).

    ``labels`` is the bundle's output order; every label needs a ``CIRCUMPLEX`` entry. ``Emotions``
    in another order of the same labels are reordered by name. Call ``update`` on every processed
    frame, with empty lists when there are no faces.
    """

    def __init__(self, cfg: MoodConfig, labels: Sequence[str]) -> None:
        self.cfg = cfg
        self.labels: tuple[str, ...] = tuple(labels)
        if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2:
            raise ValueError(f"labels must be at least two distinct names, got {self.labels}")
        if UNCERTAIN in self.labels:
            raise ValueError(f"'{UNCERTAIN}' is reserved and cannot be a label")
        self._points = _points(self.labels)  # every label on the circumplex: a ValueError now, not at a face
        self._index = {label: i for i, label in enumerate(self.labels)}
        self._orders: dict[tuple[str, ...], np.ndarray] = {}  # other label orders -> index into them
        self.reset()

    def reset(self) -> None:
        """Forget everything: tracks, mood, timers (the next ``update`` starts afresh)."""
        self._tracks: dict[int, _Track] = {}
        self._t: float | None = None
        self._label = UNCERTAIN
        self._since = 0.0
        self._anchor: int | None = None  # index of the last emotion reported
        self._candidate: str | None = None
        self._candidate_since = 0.0
        self._mood = Mood(UNCERTAIN, 0.0, 0.0, 0)
        self._warned_duplicates = False

    # -- the public state ------------------------------------------------------------------------

    @property
    def mood(self) -> Mood:
        """The mood returned by the latest ``update``."""
        return self._mood

    @property
    def tracks(self) -> int:
        """How many face tracks are remembered (seen within ``forget_after``)."""
        return len(self._tracks)

    # -- the work ---------------------------------------------------------------------------------

    def update(self, t: float, faces: Sequence[Face], emotions: Sequence[Emotions]) -> MoodUpdate:
        """Take one processed frame (frame time ``t``, its faces and their emotions) and return the
        room's mood and whether its label changed on this frame (the loop then writes one mood event)."""
        if len(faces) != len(emotions):
            raise ValueError(f"{len(faces)} faces but {len(emotions)} emotions")
        t = float(t)
        if self._t is not None and t < self._t:
            log.warning("frame time went back from %.3f to %.3f s: the mood starts afresh", self._t, t)
            self.reset()
        if self._t is None:
            self._since = t
            self._mood = Mood(UNCERTAIN, 0.0, t, 0)
        self._t = t
        self._observe(t, faces, emotions)
        self._forget(t)
        room = self._aggregate()
        changed = self._decide(t, room)
        self._mood = self._report(room)
        return MoodUpdate(self._mood, changed)

    def _observe(self, t: float, faces: Sequence[Face], emotions: Sequence[Emotions]) -> None:
        """Fold this frame's probabilities into each face's track (one observation per track)."""
        seen: dict[int, tuple[Face, np.ndarray]] = {}
        for face, emo in zip(faces, emotions):
            probs = self._ordered(emo)
            if not np.all(np.isfinite(probs)):
                log.warning("t=%.3f s: non-finite probabilities for track %d, skipped", t, face.track_id)
                continue
            if face.track_id in seen:
                if not self._warned_duplicates:
                    log.warning("t=%.3f s: several faces share track id %d; the largest is used",
                                t, face.track_id)
                    self._warned_duplicates = True
                if face.area <= seen[face.track_id][0].area:
                    continue
            seen[face.track_id] = (face, probs)
        half_life = self.cfg.half_life
        for track_id, (face, probs) in seen.items():
            track = self._tracks.get(track_id)
            if track is None:
                self._tracks[track_id] = _Track(probs, face.area, t)
                continue
            dt = t - track.last_seen
            if dt > 0:
                track.probs += (1.0 - 0.5 ** (dt / half_life)) * (probs - track.probs)
            track.area, track.last_seen = face.area, t

    def _forget(self, t: float) -> None:
        for track_id in [k for k, tr in self._tracks.items() if t - tr.last_seen > self.cfg.forget_after + _EPS]:
            log.debug("t=%.3f s: track %d forgotten", t, track_id)
            del self._tracks[track_id]

    def _aggregate(self) -> np.ndarray | None:
        """The room's probability vector from the remembered tracks; None when there are none."""
        if not self._tracks:
            return None
        tracks = list(self._tracks.values())
        kind = self.cfg.aggregate
        if kind == "largest":
            return max(tracks, key=lambda tr: (tr.area, float(tr.probs.max()))).probs.copy()
        if kind == "majority":
            votes = np.zeros(len(self.labels))
            for tr in tracks:
                top, second = _top_two(tr.probs)
                if (tr.probs[top] >= self.cfg.min_confidence
                        and tr.probs[top] - tr.probs[second] >= self.cfg.tie_margin):
                    votes[top] += 1.0
            return votes / len(tracks)
        probs = np.stack([tr.probs for tr in tracks])
        weights = np.array([max(tr.area, 1) for tr in tracks], np.float64) * probs.max(axis=1)
        if weights.sum() <= 0:
            weights = np.ones(len(tracks))
        return weights @ probs / weights.sum()

    def _verdict(self, room: np.ndarray) -> str:
        """What this frame alone says: an emotion, ``UNCERTAIN``, or the current label (no challenge)."""
        top, second = _top_two(room)
        if room[top] < self.cfg.min_confidence or room[top] - room[second] < self.cfg.tie_margin:
            return UNCERTAIN
        anchor = self._anchor
        if anchor is not None and top != anchor and room[top] < room[anchor] + self.cfg.margin:
            return self._label
        return self.labels[top]

    def _decide(self, t: float, room: np.ndarray | None) -> bool:
        """Advance the hold; True when the reported label changes on this frame."""
        verdict = None if room is None else self._verdict(room)
        if verdict is None or verdict == self._label:
            self._candidate = None
            return False
        if verdict != self._candidate:
            self._candidate, self._candidate_since = verdict, t
        if t - self._candidate_since < self.cfg.hold - _EPS:
            return False
        log.debug("t=%.3f s: mood %s -> %s (held since %.3f s)", t, self._label, verdict, self._candidate_since)
        self._label, self._since, self._candidate = verdict, t, None
        if verdict != UNCERTAIN:
            self._anchor = self._index[verdict]
        return True

    def _report(self, room: np.ndarray | None) -> Mood:
        if room is None:  # nobody remembered: the mood and its last figures stay as they were
            m = self._mood
            return Mood(self._label, m.confidence, self._since, 0, m.valence, m.arousal, m.probs)
        top = int(np.argmax(room))
        conf = room[self._index[self._label]] if self._label != UNCERTAIN else room[top]
        v, a = valence_arousal(room, self.labels, self._points)
        probs = {label: round(float(p), 4) for label, p in zip(self.labels, room)}
        return Mood(self._label, round(float(conf), 4), self._since, len(self._tracks),
                    round(float(v), 4), round(float(a), 4), probs)

    def _ordered(self, emo: Emotions) -> np.ndarray:
        """``emo.probs`` as float64 in the filter's label order."""
        probs = np.asarray(emo.probs, np.float64).reshape(-1)
        if len(probs) != len(self.labels):
            raise ValueError(f"{len(probs)} probabilities for {len(self.labels)} labels")
        labels = tuple(emo.labels)
        if labels == self.labels:
            return probs.copy()
        order = self._orders.get(labels)
        if order is None:
            if sorted(labels) != sorted(self.labels):
                raise ValueError(f"emotions have labels {labels}, the mood filter {self.labels}")
            order = self._orders[labels] = np.array([labels.index(label) for label in self.labels])
        return probs[order]


def room_from(cfg: MoodConfig, labels: Sequence[str], faces: Sequence[Face], emotions: Sequence[Emotions]) -> Mood:
    """The room's mood from one still alone: ``cfg``'s aggregate and verdict (``min_confidence``,
    ``tie_margin``) without smoothing, hold or hysteresis, which belong to frames in time. Each face
    counts once (track ids are ignored); no faces give ``"uncertain"`` with ``faces == 0``."""
    still = MoodFilter(replace(cfg, hold=0.0), labels)
    return still.update(0.0, [Face(f.box, i + 1) for i, f in enumerate(faces)], emotions).mood


def _points(labels: Sequence[str]) -> np.ndarray:
    """labels x 2 array of circumplex (valence, arousal); a label without a place is an error."""
    missing = [label for label in labels if label not in CIRCUMPLEX]
    if missing:
        raise ValueError(f"no circumplex position for label(s) {', '.join(missing)} "
                         f"(known: {', '.join(CIRCUMPLEX)})")
    return np.array([CIRCUMPLEX[label] for label in labels], np.float64)


def _top_two(p: np.ndarray) -> tuple[int, int]:
    """Indices of the largest and second-largest entries (the first wins a tie)."""
    order = np.argsort(-p, kind="stable")
    return int(order[0]), int(order[1])
