"""How steady is the room's mood, and how fast does it follow a real change? Measured on the real loop.

    python -m benchmarks.stability [--fer DIR] [--out DIR] [--json FILE] [--quick] [--seed N] [--cache FILE]

Clips are made at run time from FER2013 **val** faces (never committed, never trained on; nothing is
written to disk but the figures) and played frame by frame through the device loop itself,
``edge.loop.Pipeline.step`` (the body of ``edge.loop.run``: Haar detection every 3rd frame with the
IoU tracker between, the TFLite classifier, the mood filter, mood events), headless, music off, every
key at its shipped default, frame ``i`` at ``t = i / 10`` s as a 10 fps video gives it:

- **constant clips** (60 s): one face held still but for a camera's trouble on every frame: a slow sway
  plus up to 3 px of jitter, a slow 5 % scale change plus 2 px of jitter, brightness drifting by 18 %
  and 10 levels, sensor noise, JPEG artefacts (quality 55-80), three spells with the face hidden (0.3,
  0.6 and 1 s: the detector misses it, the tracker carries its box over the background for a frame or
  more), and a second, smaller face walking across behind it for 5 s (its expression another one).
  Half of them (rounded up) are faces the model finds **hard**: its top probability on the face, read
  in place through the runtime's detector and classifier, is under 0.6, right or wrong (two in three
  at 0.45-0.6, where one class leads but not by much, one in three under 0.45, where the model is
  lost); the others are **easy**: read right at 0.6 or more.
- **change clips** (40 s): expression A for 20 s, then another person's expression B for 20 s in the
  same place, with the same per-frame trouble but no hidden spells and no passer; faces the model reads
  right in place, at any confidence. Only pairs where the held face's raw per-frame top-1 majority
  agrees with the change (A in A's half, B in B's) are scored; the others are listed as dropped.

The faces are picked with the model under test at run time (a seeded shuffle of each emotion's val
faces, ``--seed``; a face must also be found by the stricter cascade of ``clips.pick_faces`` at four
sizes and places), so a new ``models/default`` needs no edit here: run the command again.

Figures, for the shipped ``MoodConfig`` and for every setting of the grid (``half_life x hold x
margin x`` the not-sure pair ``min_confidence, tie_margin``):

- mood changes per minute on constant clips: every mood event after a clip's first one (to and from
  "uncertain" included), pooled over the clips; beside it the raw per-frame top-1 changes per minute of
  the held face (what a player with no filter would do), the song switches (named mood to another named
  mood) and the figure for the hard faces alone;
- switch time on change clips: from the first frame showing B to the mood event naming B, median and
  90th percentile; a clip whose mood never names B is a miss and counts as slower than any;
- the share of frame time the mood is "uncertain" (after each clip's first 5 s), and the share it
  names the true expression (beside the raw per-frame share).

Detection and classification run once per clip; the mood filter's inputs (each frame's faces, track ids
and exact probabilities) are recorded on their way into ``MoodFilter.update`` and the sweep replays
them through a fresh ``edge.mood.MoodFilter`` for each setting: a setting costs a fraction of a second
instead of a pass of Haar and TFLite, and the replay of the loop's own setting is checked to give the
loop's own mood events. Outputs: a table on stdout, ``--json`` (default ``OUT/stability.json``),
``OUT/stability_timeline.png`` (one clip: raw top-1 per frame, the smoothed room probabilities, the
mood; ``--timeline NAME`` picks it, default the change clip with the most raw flicker) and
``OUT/stability_tradeoff.png`` (flips per minute against median switch time across the grid).
``--cache FILE`` keeps the recorded inputs, keyed by the model's checksums and the clip options, so
that a second run with the same model only replays (new filter settings or figures in seconds).

Targets (issue 12): at most 0.5 mood changes per minute on constant clips, median switch within 2.5 s
and 90th percentile within 4 s on change clips. The grid's setting with the largest worst-case relative
slack to the three targets is printed as a recommendation for this draw of faces; docs/stability.md
says how the shipped defaults were chosen.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import pickle
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import cv2
import numpy as np

from benchmarks import clips
from edge import bundle as bundles
from edge.mood import MoodFilter
from edge.types import UNCERTAIN, Emotions, Face, Frame

log = logging.getLogger("benchmarks.stability")

VERSION = 6  # bump when clip making changes, so old caches are not reused

FPS = 10.0
CONSTANT_S = 60.0
SEGMENT_S = 20.0  # each half of a change clip
WARMUP_S = 5.0  # the "uncertain" and "correct" shares skip each clip's first seconds
HARD_BELOW = 0.6  # a face is hard when the model's top probability on it is under this (issue 12)
EASY_FROM = 0.6
#: The hard clips cycle through these bands of the model's top probability: mostly just under 0.6,
#: where a class leads but not by much (flicker lives there), and some where the model is lost.
HARD_BANDS = ((0.45, HARD_BELOW), (0.45, HARD_BELOW), (0.0, 0.45))
PRESCREEN_SLACK = 0.15  # how far a bare-crop reading may be from what is wanted to be tried first

TARGETS = {"flips_per_min": 0.5, "switch_median_s": 2.5, "switch_p90_s": 4.0}

#: The sweep: every combination of these (other keys at the shipped defaults). Beside the issue's
#: half_life x hold x margin, the not-sure pair (min_confidence, tie_margin) moves as one axis, from
#: strict to lenient: it decides whether a face the model reads consistently but softly (a FER2013-sized
#: model's right answers often sit at 0.35-0.5) ever names a mood, and how often a mood whose top two
#: are close drops into "uncertain" and back (that threshold has no hysteresis; the hold is its guard).
GRID: dict[str | tuple[str, ...], tuple] = {
    "half_life": (0.3, 0.6),
    "hold": (1.0, 1.5, 2.0, 2.5),
    "margin": (0.05, 0.1, 0.15, 0.2),
    ("min_confidence", "tie_margin"): ((0.4, 0.05), (0.3, 0.04), (0.2, 0.03)),
}
QUICK_GRID: dict[str | tuple[str, ...], tuple] = {
    "half_life": (0.3, 0.6), "hold": (1.0, 2.0), "margin": (0.15,),
    ("min_confidence", "tie_margin"): ((0.4, 0.05), (0.2, 0.03)),
}


def grid_settings(grid: dict[str | tuple[str, ...], tuple]) -> list[dict[str, float]]:
    """Every combination of ``grid`` as ``MoodConfig`` keyword arguments (a tuple key sets its keys together)."""
    settings = []
    for values in itertools.product(*grid.values()):
        setting: dict[str, float] = {}
        for key, value in zip(grid, values):
            setting.update(zip(key, value) if isinstance(key, tuple) else {key: value})
        settings.append(setting)
    return settings


#: Change clips, in order of use: every emotion leaves and arrives at least once in the first seven.
PAIRS: tuple[tuple[str, str], ...] = (
    ("happy", "sad"), ("sad", "angry"), ("angry", "surprise"), ("surprise", "neutral"), ("neutral", "fear"),
    ("fear", "disgust"), ("disgust", "happy"), ("happy", "neutral"), ("neutral", "sad"), ("sad", "surprise"),
    ("surprise", "fear"), ("fear", "angry"), ("angry", "disgust"), ("sad", "happy"), ("happy", "surprise"),
    ("neutral", "angry"),
)

# Where things are in the 640x480 frame.
MAIN_XY = (370, 140)  # the held face's top-left corner (right of centre)
PASSER_SIZE = 120
PASSER_Y = 20  # the passer walks along the top, behind the held face
PASSER_S = 5.0  # in view this long, crossing the whole frame behind the held face


# -- the measures (pure functions, tested in tests/test_stability.py) -----------------------------------


def count_changes(labels: Iterable[str | None]) -> int:
    """How often a sequence changes value; ``None`` (no reading) is skipped, not a value."""
    changes, last = 0, None
    for label in labels:
        if label is None:
            continue
        if last is not None and label != last:
            changes += 1
        last = label
    return changes


def mood_changes(events: Sequence[tuple[float, str]]) -> int:
    """Mood changes after the first mood: every event but the first (to and from "uncertain" count)."""
    return max(0, len(events) - 1)


def song_switches(events: Sequence[tuple[float, str]], uncertain: str = UNCERTAIN) -> int:
    """Changes from one named mood to another (what switches the song; "uncertain" keeps it playing)."""
    return count_changes(label for _, label in events if label != uncertain)


def per_minute(count: float, seconds: float) -> float:
    return 60.0 * count / seconds if seconds > 0 else 0.0


def switch_time(events: Sequence[tuple[float, str]], t_change: float, target: str) -> float:
    """Seconds from ``t_change`` to the first mood event naming ``target`` at or after it; 0 if the mood
    already was ``target`` then; ``inf`` if it never names it."""
    before = [label for t, label in events if t < t_change - 1e-9]
    if before and before[-1] == target:
        return 0.0
    for t, label in events:
        if t >= t_change - 1e-9 and label == target:
            return t - t_change
    return math.inf


def share(times: Sequence[float], labels: Sequence[str], wanted: str, start: float = 0.0) -> float:
    """The share of frames at ``t >= start`` whose label is ``wanted`` (0 when there are none)."""
    picked = [label for t, label in zip(times, labels) if t >= start - 1e-9]
    return sum(label == wanted for label in picked) / len(picked) if picked else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation between the two nearest values), where ``inf`` (a
    switch that never came) is larger than anything: a percentile on or past an infinite value is
    ``inf``. ``nan`` for no values."""
    v = sorted(float(x) for x in values)
    if not v:
        return math.nan
    pos = (len(v) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    frac = pos - lo
    if math.isinf(v[lo]) or (math.isinf(v[hi]) and frac > 0):
        return math.inf
    return v[lo] + (v[hi] - v[lo]) * frac if frac > 0 else v[lo]


def slack(summary: dict[str, float], targets: dict[str, float] = TARGETS) -> float:
    """The worst relative slack of a setting's figures to the targets: 1 - figure / target, minimum over
    the targets (> 0: all met; larger is safer)."""
    return min(1.0 - summary[key] / bound for key, bound in targets.items())


def meets(summary: dict[str, float], targets: dict[str, float] = TARGETS) -> bool:
    return all(summary[key] <= bound for key, bound in targets.items())


# -- clips ----------------------------------------------------------------------------------------------


@dataclass
class ClipSpec:
    """One clip to make: its segments (true label, face), trouble and seed; everything picklable."""

    name: str
    kind: str  # "constant" or "change"
    labels: list[str]
    faces: list[np.ndarray]
    seconds: list[float]
    probe: list[dict[str, Any]]  # per segment: the model's reading of the face in place
    seed: int
    hidden: list[tuple[float, float]] = field(default_factory=list)  # spells with the face hidden
    passer: np.ndarray | None = None
    passer_label: str = ""
    passer_at: float = 0.0
    difficulty: str = ""  # constant clips: "hard" or "easy"

    @property
    def duration(self) -> float:
        return float(sum(self.seconds))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "difficulty": self.difficulty or None, "labels": self.labels,
                "seconds": self.seconds,
                "probe": self.probe, "hidden": [list(h) for h in self.hidden], "passer": self.passer_label or None,
                "passer_at": self.passer_at if self.passer is not None else None}


class _Patches:
    """``clips.face_patch`` results, cached per face and size (a clip reuses a few dozen sizes)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def get(self, key: int, face: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get((key, size))
        if hit is None:
            patch, alpha = clips.face_patch(face, size)
            hit = self._cache[(key, size)] = (patch.astype(np.float32)[..., None], alpha[..., None])
        return hit


def _paste(image: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x: int, y: int, size: int) -> None:
    """Blend one cached patch into ``image`` in place, the face's top-left corner at (x, y)
    (``clips.face_canvas``'s geometry)."""
    fh, fw = image.shape[:2]
    m = (patch.shape[0] - size) // 2
    x0, y0 = x - m, y - m
    ph, pw = patch.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(fw, x0 + pw), min(fh, y0 + ph)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    p = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    a = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    region = image[cy0:cy1, cx0:cx1].astype(np.float32)
    image[cy0:cy1, cx0:cx1] = np.clip(a * p + (1 - a) * region, 0, 255).astype(np.uint8)


def passer_x(t: float, start: float, seconds: float = PASSER_S, size: int = PASSER_SIZE,
             width: int = clips.FRAME_SIZE[0]) -> int | None:
    """The passer's x at frame time ``t``: walking left to right across the frame in ``seconds``, or None
    when out of view."""
    u = (t - start) / seconds
    if not 0.0 <= u <= 1.0:
        return None
    return int(round(-size + u * (width + size)))


def render(spec: ClipSpec, fps: float = FPS) -> Iterator[tuple[np.ndarray, str, tuple[int, int, int, int] | None]]:
    """Yield (BGR frame, true label, the held face's box or None while hidden) for each frame of ``spec``."""
    rng = np.random.default_rng(spec.seed)
    backdrop = clips.background(clips.FRAME_SIZE, "texture", spec.seed % 8)
    patches = _Patches()
    phase = rng.uniform(0, 2 * np.pi, 6)
    bounds = np.cumsum(spec.seconds)
    n = int(round(spec.duration * fps))
    cv2.setRNGSeed(spec.seed)  # cv2.randn draws from OpenCV's per-thread generator: seed it, or a clip's
    noise = [cv2.randn(np.empty(backdrop.shape, np.int16), 0, 4) for _ in range(12)]  # noise hangs on its worker
    for i in range(n):
        t = i / fps
        seg = min(int(np.searchsorted(bounds, t + 1e-9, side="right")), len(spec.faces) - 1)
        image = backdrop.copy()
        if spec.passer is not None:
            px = passer_x(t, spec.passer_at)
            if px is not None:
                patch, alpha = patches.get(-1, spec.passer, PASSER_SIZE)
                _paste(image, patch, alpha, px, PASSER_Y + int(round(4 * np.sin(2 * np.pi * t / 0.9))), PASSER_SIZE)
        # the held face: slow sway + a few px of jitter; slow scale change + a px or two of jitter
        size = int(round(clips.FACE_SIZE * (1 + 0.05 * np.sin(2 * np.pi * t / 13 + phase[0]))
                         + rng.integers(-2, 3)))
        size -= size % 2
        x = MAIN_XY[0] + int(round(6 * np.sin(2 * np.pi * t / 7 + phase[1]))) + int(rng.integers(-3, 4))
        y = MAIN_XY[1] + int(round(4 * np.sin(2 * np.pi * t / 5 + phase[2]))) + int(rng.integers(-3, 4))
        x = max(0, min(clips.FRAME_SIZE[0] - size - 8, x - (size - clips.FACE_SIZE) // 2))
        y = max(0, min(clips.FRAME_SIZE[1] - size - 8, y - (size - clips.FACE_SIZE) // 2))
        hidden = any(a <= t < b for a, b in spec.hidden)
        box = None
        if not hidden:
            patch, alpha = patches.get(seg, spec.faces[seg], size)
            _paste(image, patch, alpha, x, y, size)
            box = (x, y, size, size)
        # the camera: brightness drift, sensor noise, JPEG
        gain = 1.0 + 0.18 * np.sin(2 * np.pi * t / 23 + phase[3])
        offset = 10.0 * np.sin(2 * np.pi * t / 17 + phase[4])
        image = cv2.convertScaleAbs(image, alpha=gain, beta=offset)
        image = cv2.add(image, noise[int(rng.integers(len(noise)))], dtype=cv2.CV_8U)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 81))])
        yield cv2.imdecode(jpeg, cv2.IMREAD_COLOR), spec.labels[seg], box


# -- choosing faces with the model under test -----------------------------------------------------------


class FacePicker:
    """Val faces for the clips: the model's in-place reading decides easy / hard / right."""

    def __init__(self, fer_dir: Path, model_dir: Path, seed: int = 0) -> None:
        from edge.classify import Classifier
        from edge.detect import DetectConfig, FaceFinder

        self.fer_dir = Path(fer_dir)
        self.seed = seed
        self.classifier = Classifier(bundles.load(model_dir), threads=1)
        self.labels = self.classifier.labels
        self.runtime = FaceFinder(DetectConfig())
        self.strict = FaceFinder(DetectConfig(min_neighbors=clips.PICK_NEIGHBORS))
        self.used: set[str] = set()
        self.tried = 0
        self._raw: dict[tuple[str, int], tuple[list[Path], np.ndarray]] = {}

    def probe(self, face: np.ndarray) -> np.ndarray | None:
        """The model's probabilities for ``face`` as the loop sees it (rendered where clips hold it,
        found by the runtime cascade, cropped by the classifier); None if the cascade misses it."""
        frame = clips.face_canvas([face], [MAIN_XY], seed=1)
        box = (*MAIN_XY, clips.FACE_SIZE, clips.FACE_SIZE)
        found = [b for b in self.runtime.detect(frame) if clips.hits([b], box)]
        if not found:
            return None
        return self.classifier.classify(Frame(frame, 0.0, 0), [Face(found[0], 1)])[0].probs

    def _candidates(self, emotion: str, limit: int) -> tuple[list[Path], np.ndarray]:
        """The first ``limit`` files of the emotion's seeded shuffle, and the model's reading of each bare
        48x48 crop (cheap, one batch; it only orders the tries, the in-place probe decides)."""
        key = (emotion, limit)
        if key not in self._raw:
            files = clips.fer_files(self.fer_dir, emotion, "val")
            order = np.random.default_rng([self.seed, self.labels.index(emotion) if emotion in self.labels else 0])
            picked = [files[i] for i in order.permutation(len(files))[:limit]]
            whole = Face((0, 0, 48, 48))
            crops = [self.classifier.crop(cv2.cvtColor(clips.load_face(f), cv2.COLOR_GRAY2BGR), whole) for f in picked]
            raw = self.classifier.predict(np.stack(crops)) if crops else np.zeros((0, len(self.labels)))
            self._raw[key] = (picked, raw)
        return self._raw[key]

    def pick(self, emotion: str, want: str, limit: int = 400, band: tuple[float, float] = (0.0, HARD_BELOW)
             ) -> tuple[np.ndarray, dict[str, Any]] | None:
        """An unused face of ``emotion`` that is ``want``: "easy" (read right, top probability >= 0.6),
        "hard" (top probability within ``band``, right or wrong), "right" (read right) or "any"; and that
        the strict cascade finds at ``clips.CHECKS``. Faces are tried in a seeded shuffle of the first
        ``limit``, those whose bare-crop reading looks like ``want`` first. None if none is."""
        files, raw = self._candidates(emotion, limit)
        k = self.labels.index(emotion) if emotion in self.labels else -1
        top_raw, conf_raw = raw.argmax(axis=1), raw.max(axis=1)
        likely = {"easy": (top_raw == k) & (conf_raw >= EASY_FROM - PRESCREEN_SLACK),
                  "hard": (conf_raw >= band[0] - PRESCREEN_SLACK) & (conf_raw < band[1] + PRESCREEN_SLACK),
                  "right": top_raw == k, "any": np.ones(len(files), bool)}[want]
        for i in [*np.flatnonzero(likely), *np.flatnonzero(~likely)]:
            path = files[i]
            if str(path) in self.used:
                continue
            face = clips.load_face(path)
            self.tried += 1
            probs = self.probe(face)
            if probs is None:
                continue
            top, conf = self.labels[int(np.argmax(probs))], float(np.max(probs))
            ok = {"easy": top == emotion and conf >= EASY_FROM, "hard": band[0] <= conf < band[1],
                  "right": top == emotion, "any": True}[want]
            if not ok or clips.detected(face, self.strict) < len(clips.CHECKS):
                continue
            self.used.add(str(path))
            return face, {"file": path.name, "top": top, "confidence": round(conf, 3),
                          "true_prob": round(float(probs[self.labels.index(emotion)]), 3)}
        return None


#: A face wanted: (emotion, [(want, band), ...] tried in order).
Request = tuple[str, list[tuple[str, tuple[float, float]]]]


def plan_clips(labels: Sequence[str], n_constant: int, n_change: int, seed: int = 0
               ) -> tuple[list[dict[str, Any]], list[Request]]:
    """The clips to make, each naming its faces by index into the face requests (picked separately, so
    that picking can run in parallel, one emotion per job)."""
    rng = np.random.default_rng(seed)
    emotions = list(labels)
    plans: list[dict[str, Any]] = []
    requests: list[Request] = []

    def ask(emotion: str, *wants: tuple[str, tuple[float, float]]) -> int:
        requests.append((emotion, list(wants)))
        return len(requests) - 1

    passers: dict[str, int] = {}  # one passer face per emotion, shared by the clips

    anyband = (0.0, 1.0 + 1e-9)
    n_hard = (n_constant + 1) // 2
    for k in range(n_constant):
        hard = k < n_hard
        emotion = emotions[k % len(emotions)]  # hard: the first emotions, easy: the next ones, round again
        if hard:
            face = ask(emotion, ("hard", HARD_BANDS[k % len(HARD_BANDS)]), ("hard", (0.0, HARD_BELOW)))
        else:
            face = ask(emotion, ("easy", anyband), ("right", anyband))
        others = [e for e in emotions if e != emotion]
        passer_label = others[int(rng.integers(len(others)))]
        if passer_label not in passers:
            passers[passer_label] = ask(passer_label, ("any", anyband))
        plans.append({"name": f"const-{'hard' if hard else 'easy'}-{emotion}", "kind": "constant",
                      "difficulty": "hard" if hard else "easy", "labels": [emotion],
                      "faces": [face], "seconds": [CONSTANT_S], "seed": seed * 1000 + k,
                      "hidden": _hidden_spells(rng, CONSTANT_S),
                      "passer": passers[passer_label],
                      "passer_label": passer_label, "passer_at": round(float(rng.uniform(30, 36)), 1)})
    for k, (a, b) in enumerate(PAIRS[:n_change]):
        plans.append({"name": f"change-{a}-{b}", "kind": "change", "labels": [a, b],
                      "faces": [ask(a, ("right", anyband)), ask(b, ("right", anyband))],
                      "seconds": [SEGMENT_S, SEGMENT_S], "seed": seed * 1000 + 500 + k})
    return plans, requests


def pick_group(fer_dir: str, model_dir: str, seed: int, emotion: str, wants: list[list[tuple[str, tuple[float, float]]]]
               ) -> tuple[list[tuple[np.ndarray, dict[str, Any]] | None], int]:
    """Pick the faces of one emotion, in order (each face used once); and how many were tried."""
    cv2.setNumThreads(1)
    picker = FacePicker(Path(fer_dir), Path(model_dir), seed=seed)
    out = []
    for options in wants:
        got = None
        for want, band in options:
            got = picker.pick(emotion, want, band=band)
            if got is not None:
                break
        out.append(got)
    return out, picker.tried


def make_specs(plans: list[dict[str, Any]], requests: list[Request],
               picked: list[tuple[np.ndarray, dict[str, Any]] | None]) -> tuple[list[ClipSpec], list[str]]:
    """Clip specs from the plans and the picked faces; notes on clips left out for want of a face."""
    specs, notes = [], []
    for plan in plans:
        faces = [picked[i] for i in plan["faces"]]
        missing = [requests[i] for i, f in zip(plan["faces"], faces) if f is None]
        if missing:
            notes.append(f"{plan['name']} left out: no {' / '.join(w for w, _ in missing[0][1])} "
                         f"{missing[0][0]} face that the strict cascade finds among the first 400 tried")
            continue
        passer = picked[plan["passer"]] if "passer" in plan else None
        specs.append(ClipSpec(plan["name"], plan["kind"], plan["labels"], [f[0] for f in faces], plan["seconds"],
                              [f[1] for f in faces], seed=plan["seed"], hidden=plan.get("hidden", []),
                              passer=passer[0] if passer else None,
                              passer_label=plan.get("passer_label", "") if passer else "",
                              passer_at=plan.get("passer_at", 0.0), difficulty=plan.get("difficulty", "")))
    return specs, notes


def _hidden_spells(rng: np.random.Generator, seconds: float) -> list[tuple[float, float]]:
    """Three spells with the face hidden (0.3, 0.6 and 1.0 s) at random times after the start-up, clear
    of the passer's window (30-41 s), so that each trouble is met on its own."""
    spells = []
    for length, lo, hi in ((0.3, 8, 18), (0.6, 20, 28), (1.0, 44, seconds - 5)):
        start = round(float(rng.uniform(lo, hi)), 1)
        spells.append((start, start + length))
    return spells


# -- the loop, once per clip ----------------------------------------------------------------------------


class RecordingMoodFilter(MoodFilter):
    """The loop's mood filter, recording its inputs on their way in and its answer: (t, faces as (box,
    track id, probabilities), mood label) for every frame."""

    def __init__(self, cfg, labels, seen: list) -> None:
        super().__init__(cfg, labels)
        self.seen = seen

    def update(self, t, faces, emotions):
        mood = super().update(t, faces, emotions)
        self.seen.append((float(t), [(tuple(int(v) for v in f.box), f.track_id,
                                      np.asarray(e.probs, np.float32).copy()) for f, e in zip(faces, emotions)],
                          mood.label))
        return mood


def measure_clip(spec: ClipSpec, model_dir: str, workdir: str, fps: float = FPS) -> dict[str, Any]:
    """Play the clip's frames through the real loop, ``edge.loop.Pipeline.step`` (the body of
    ``edge.loop.run``), headless with music off, every other key at its shipped default, frame ``i`` at
    ``t = i / fps`` as a video source gives it. Returns what the loop's mood filter was given on every
    frame (faces: box, track id; their probabilities, exactly), what it answered, the loop's own mood
    events, and the ground truth."""
    import threading

    from edge import config as configs
    from edge.loop import Pipeline

    cv2.setNumThreads(1)
    logging.getLogger("edge").setLevel(logging.WARNING)
    started = time.perf_counter()
    events = Path(workdir) / f"{spec.name}.jsonl"
    cfg = configs.load(None, {"output.events": str(events), "music.enabled": False,
                              "classify.model": str(model_dir), "classify.threads": 1})
    seen: list[tuple[float, list[tuple[tuple[int, ...], int, np.ndarray]], str]] = []
    bundle = bundles.load(model_dir)
    pipe = Pipeline(cfg, bundle=bundle, moods=RecordingMoodFilter(cfg.mood, bundle.labels, seen))
    stop = threading.Event()
    truth: list[str] = []
    boxes: list[tuple[int, int, int, int] | None] = []
    render_s = 0.0
    try:
        pipe.player.start()
        frames = render(spec, fps)
        for i in itertools.count():
            t0 = time.perf_counter()
            item = next(frames, None)
            render_s += time.perf_counter() - t0
            if item is None:
                break
            image, label, box = item
            truth.append(label)
            boxes.append(box)
            pipe.timer.start()
            pipe.step(Frame(image, i / fps, i), stop)
    finally:
        pipe.close()
    moods = [e for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "mood"]
    events.unlink(missing_ok=True)
    total = time.perf_counter() - started
    return {"name": spec.name, "frames": seen, "moods": moods, "truth": truth, "boxes": boxes,
            "labels": list(pipe.bundle.labels), "mood_config": dataclasses.asdict(cfg.mood),
            "render_s": round(render_s, 2), "loop_s": round(total - render_s, 2)}


# -- replaying recorded frames through the mood filter ---------------------------------------------------


@dataclass
class Recorded:
    """One clip as the loop saw it, ready to replay: per frame (t, faces, emotions), and the truth."""

    spec: dict[str, Any]
    times: list[float]
    inputs: list[tuple[list, list]]
    main_top: list[str | None]  # the held face's raw top-1 per frame (None: not found)
    main_probs: list[np.ndarray | None]
    truth: list[str]
    loop_moods: list[dict[str, Any]]
    loop_labels: list[str]


def to_recorded(spec: ClipSpec, result: dict[str, Any], labels: Sequence[str]) -> Recorded:
    times, inputs, main_top, main_probs, loop_labels = [], [], [], [], []
    for (t, faces, mood), box in zip(result["frames"], result["boxes"]):
        fs = [Face(tuple(b), track) for b, track, _ in faces]
        es = [Emotions(p, tuple(labels)) for _, _, p in faces]
        times.append(float(t))
        inputs.append((fs, es))
        loop_labels.append(mood)
        # the held face: a box on it (while it is hidden, a box the tracker carries over is not a face)
        main = [(f.area, e) for f, e in zip(fs, es) if box is not None and clips.hits([f.box], box)]
        best = max(main, key=lambda m: m[0])[1] if main else None
        main_top.append(best.top if best is not None else None)
        main_probs.append(best.probs if best is not None else None)
    return Recorded(spec.describe(), times, inputs, main_top, main_probs, list(result["truth"]),
                    result["moods"], loop_labels)


def replay(rec: Recorded, cfg, labels: Sequence[str], keep_probs: bool = False) -> dict[str, Any]:
    """Run ``MoodFilter(cfg)`` over the recorded frames: the mood label per frame, the mood events
    [(t, label)], and (``keep_probs``) the room's smoothed probabilities per frame."""

    filt = MoodFilter(cfg, labels)
    per_frame, events, probs, points = [], [], [], []
    for t, (faces, emotions) in zip(rec.times, rec.inputs):
        mood = filt.update(t, faces, emotions)
        per_frame.append(mood.label)
        if filt.last_change:
            events.append((t, mood.label))
        if keep_probs:
            probs.append([mood.probs.get(label, np.nan) for label in labels])
            points.append((mood.valence, mood.arousal))
    out: dict[str, Any] = {"labels": per_frame, "events": events}
    if keep_probs:
        out["probs"], out["points"] = np.array(probs, np.float64), points
    return out


def clip_figures(rec: Recorded, run: dict[str, Any]) -> dict[str, Any]:
    """One clip's figures for one filter setting."""
    spec, times = rec.spec, rec.times
    duration = len(times) / FPS
    fig: dict[str, Any] = {
        "difficulty": spec.get("difficulty"),
        "raw_changes_per_min": round(per_minute(count_changes(rec.main_top), duration), 2),
        "mood_changes": mood_changes(run["events"]),
        "song_switches": song_switches(run["events"]),
        "uncertain": round(share(times, run["labels"], UNCERTAIN, WARMUP_S), 4),
        "correct": round(sum(1 for t, m, g in zip(times, run["labels"], rec.truth) if t >= WARMUP_S and m == g)
                         / max(1, sum(t >= WARMUP_S for t in times)), 4),
        "raw_correct": round(sum(1 for top, g in zip(rec.main_top, rec.truth) if top == g)
                             / max(1, sum(top is not None for top in rec.main_top)), 4),
        "found": round(sum(top is not None for top in rec.main_top) / max(1, len(times)), 4),
        "events": [(round(t, 2), label) for t, label in run["events"]],
    }
    fig["mood_changes_per_min"] = round(per_minute(fig["mood_changes"], duration), 2)
    if spec["kind"] == "change":
        t_change = spec["seconds"][0]
        fig["switch_s"] = switch_time(run["events"], t_change, spec["labels"][1])
        before = [m for t, m in zip(times, run["labels"]) if t < t_change]
        fig["mood_before"] = before[-1] if before else None
    return fig


def majority_agrees(rec: Recorded) -> tuple[bool, list[str | None]]:
    """Whether the held face's most frequent raw top-1 is A in A's half and B in B's; those two labels."""
    t_change = rec.spec["seconds"][0]
    majorities = []
    for inside in (lambda t: t < t_change, lambda t: t >= t_change):
        tops = [top for t, top in zip(rec.times, rec.main_top) if inside(t) and top is not None]
        majorities.append(max(set(tops), key=tops.count) if tops else None)
    return majorities == list(rec.spec["labels"]), majorities


def summarize(constant: list[dict[str, Any]], change: list[dict[str, Any]], minutes: float) -> dict[str, float]:
    """The headline figures of one setting over all scored clips (``minutes``: of constant clips, all of
    equal length)."""
    def mean(figs: list[dict[str, Any]], key: str, digits: int = 4) -> float:
        return round(float(np.mean([f[key] for f in figs])), digits) if figs else math.nan

    def rate(count: float, share_of_clips: float = 1.0) -> float:
        return round(count / (minutes * share_of_clips), 3) if minutes and share_of_clips else math.nan

    switches = [f["switch_s"] for f in change]
    hard = [f for f in constant if f.get("difficulty") == "hard"]
    return {
        "flips_per_min": rate(sum(f["mood_changes"] for f in constant)),
        "flips_per_min_hard": rate(sum(f["mood_changes"] for f in hard), len(hard) / max(1, len(constant))),
        "worst_clip_flips_per_min": max((f["mood_changes_per_min"] for f in constant), default=math.nan),
        "song_switches_per_min": rate(sum(f["song_switches"] for f in constant)),
        "raw_changes_per_min": mean(constant, "raw_changes_per_min", 2),
        "switch_median_s": round(percentile(switches, 50), 2),
        "switch_p90_s": round(percentile(switches, 90), 2),
        "missed": sum(math.isinf(s) for s in switches),
        "uncertain_constant": mean(constant, "uncertain"),
        "uncertain_change": mean(change, "uncertain"),
        "correct_constant": mean(constant, "correct"),
        "raw_correct_constant": mean(constant, "raw_correct"),
    }


def evaluate(recs: list[Recorded], cfg, labels: Sequence[str]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    figs = [clip_figures(rec, replay(rec, cfg, labels)) for rec in recs]
    constant = [f for f, r in zip(figs, recs) if r.spec["kind"] == "constant"]
    change = [f for f, r in zip(figs, recs) if r.spec["kind"] == "change"]
    minutes = sum(len(r.times) for r in recs if r.spec["kind"] == "constant") / FPS / 60.0
    return summarize(constant, change, minutes), figs


def _sweep_chunk(args: tuple[list[Recorded], list[dict[str, float]], list[str]]) -> list[dict[str, Any]]:
    from edge.mood import MoodConfig

    recs, settings, labels = args
    out = []
    for setting in settings:
        summary, _ = evaluate(recs, dataclasses.replace(MoodConfig(), **setting), labels)
        out.append({**setting, **summary})
    return out


# -- figures --------------------------------------------------------------------------------------------


def plot_timeline(path: Path, rec: Recorded, run: dict[str, Any], labels: Sequence[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge.overlay import COLORS

    def rgb(label: str) -> tuple[float, float, float]:
        b, g, r = COLORS.get(label, (150, 150, 150))
        return (r / 255, g / 255, b / 255)

    times = np.array(rec.times)
    fig, (ax_raw, ax_p, ax_m) = plt.subplots(3, 1, figsize=(9, 5.6), sharex=True,
                                             gridspec_kw={"height_ratios": [2.2, 2.6, 0.7]})
    rows = {label: i for i, label in enumerate(labels)}
    for label in labels:
        ts = [t for t, top in zip(times, rec.main_top) if top == label]
        ax_raw.scatter(ts, [rows[label]] * len(ts), s=6, color=rgb(label), marker="|", linewidths=1.2)
    lost = [t for t, top in zip(times, rec.main_top) if top is None]
    ax_raw.scatter(lost, [-1] * len(lost), s=6, color="k", marker="|")
    ax_raw.set_yticks([-1, *rows.values()], ["(no face)", *labels], fontsize=7)
    ax_raw.set_ylim(-1.7, len(labels) - 0.3)
    ax_raw.set_title(title, fontsize=9)
    ax_raw.set_ylabel("raw top-1\nper frame", fontsize=8)
    probs = run["probs"]
    for j, label in enumerate(labels):
        ax_p.plot(times, probs[:, j], color=rgb(label), lw=1.1, label=label)
    ax_p.set_ylim(0, 1)
    ax_p.set_ylabel("smoothed room\nprobabilities", fontsize=8)
    ax_p.legend(fontsize=6.5, ncol=7, loc="upper center", bbox_to_anchor=(0.5, 1.13), frameon=False)
    # the reported mood as a band, the events as ticks
    per_frame = run["labels"]
    start = 0
    for i in range(1, len(per_frame) + 1):
        if i == len(per_frame) or per_frame[i] != per_frame[start]:
            end = times[i] if i < len(per_frame) else times[-1] + 1 / FPS
            ax_m.axvspan(times[start], end, color=rgb(per_frame[start]), alpha=0.9, lw=0)
            if end - times[start] > 1.5:
                ax_m.text((times[start] + end) / 2, 0.5, per_frame[start], ha="center", va="center", fontsize=7)
            start = i
    for t, label in run["events"]:
        for ax in (ax_raw, ax_p, ax_m):
            ax.axvline(t, color="k", lw=0.8, ls="--")
    if rec.spec["kind"] == "change":
        for ax in (ax_raw, ax_p, ax_m):
            ax.axvline(rec.spec["seconds"][0], color="r", lw=1.0, alpha=0.6)
    for a, b in rec.spec.get("hidden", []):
        ax_raw.axvspan(a, b, color="0.8", lw=0)
    if rec.spec.get("passer"):
        ax_raw.axvspan(rec.spec["passer_at"], rec.spec["passer_at"] + PASSER_S, color="y", alpha=0.15, lw=0)
    ax_m.set_yticks([])
    ax_m.set_ylabel("mood", fontsize=8)
    ax_m.set_xlabel("frame time (s); dashed: mood events" + ("; red: the real change" if rec.spec["kind"] == "change"
                                                              else ""), fontsize=8)
    for ax in (ax_raw, ax_p, ax_m):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_tradeoff(path: Path, sweep: list[dict[str, Any]], shipped: dict[str, Any], raw: float) -> None:
    """Flips per minute against median switch time, one point per grid setting; a panel per margin
    (columns) and not-sure pair min_confidence / tie_margin (rows); colour: hold, marker: half-life,
    hollow: p90 over target; the shipped setting ringed in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    margins = sorted({s["margin"] for s in sweep})
    confs = sorted({(s.get("min_confidence", shipped["min_confidence"]), s.get("tie_margin", shipped["tie_margin"]))
                    for s in sweep}, reverse=True)
    holds = sorted({s["hold"] for s in sweep})
    halves = sorted({s["half_life"] for s in sweep})
    cmap = plt.get_cmap("viridis", len(holds))
    markers = "os^Dv<>p*h"
    fig, axes = plt.subplots(len(confs), len(margins), figsize=(2.2 * len(margins) + 1.4, 1.9 * len(confs) + 0.7),
                             sharex=True, sharey=True, squeeze=False)
    finite = [s["switch_median_s"] for s in sweep if math.isfinite(s["switch_median_s"])]
    xmax = max(finite + [TARGETS["switch_median_s"] + 1]) * 1.05
    ymax = max([s["flips_per_min"] for s in sweep] + [TARGETS["flips_per_min"] * 2]) * 1.1
    for r, conf in enumerate(confs):
        for c, margin in enumerate(margins):
            ax = axes[r, c]
            ax.add_patch(plt.Rectangle((0, -1), TARGETS["switch_median_s"], TARGETS["flips_per_min"] + 1,
                                       color="g", alpha=0.1, lw=0))
            for s in sweep:
                if s["margin"] != margin or (s.get("min_confidence", shipped["min_confidence"]),
                                             s.get("tie_margin", shipped["tie_margin"])) != conf:
                    continue
                ok = s["switch_p90_s"] <= TARGETS["switch_p90_s"]
                color = cmap(holds.index(s["hold"]))
                x = s["switch_median_s"] if math.isfinite(s["switch_median_s"]) else xmax * 0.98
                ax.scatter(x, s["flips_per_min"], marker=markers[halves.index(s["half_life"]) % len(markers)], s=22,
                           facecolor=color if ok else "none", edgecolor=color, linewidths=1)
            if (abs(shipped["margin"] - margin) < 1e-9 and abs(shipped["min_confidence"] - conf[0]) < 1e-9
                    and abs(shipped["tie_margin"] - conf[1]) < 1e-9):
                ax.scatter(shipped["switch_median_s"], shipped["flips_per_min"], s=150, facecolor="none",
                           edgecolor="r", linewidths=1.5)
            ax.set_xlim(0, xmax)
            ax.set_ylim(-0.05 * ymax, ymax)
            ax.tick_params(labelsize=6.5)
            if r == 0:
                ax.set_title(f"margin {margin:g}", fontsize=8)
            if c == len(margins) - 1:
                ax.yaxis.set_label_position("right")
                ax.set_ylabel(f"min_conf {conf[0]:g}\ntie_margin {conf[1]:g}", fontsize=7)
            if r == len(confs) - 1:
                ax.set_xlabel("median switch time (s)", fontsize=7.5)
    fig.text(0.01, 0.5, f"mood changes per minute on constant clips (raw per-frame top-1: {raw:.0f} / min)",
             rotation=90, va="center", fontsize=7.5)
    hold_handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(i), label=f"hold {h:g} s")
                    for i, h in enumerate(holds)]
    half_handles = [plt.Line2D([], [], marker=markers[i % len(markers)], ls="", color="0.4", label=f"half-life {h:g} s")
                    for i, h in enumerate(halves)]
    extra = [plt.Line2D([], [], marker="o", ls="", mfc="none", color="0.4", label="p90 > 4 s"),
             plt.Line2D([], [], marker="o", ls="", mfc="none", ms=11, color="r", label="shipped")]
    fig.legend(handles=hold_handles + half_handles + extra, fontsize=6.5, loc="center right", frameon=False)
    fig.suptitle("Flicker against speed across the mood filter's settings (green: the targets)", fontsize=9)
    fig.tight_layout(rect=(0.02, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -- the command ----------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _fmt(x: float, digits: int = 2) -> str:
    return "inf" if isinstance(x, float) and math.isinf(x) else f"{x:.{digits}f}"


def collect(args: argparse.Namespace, model_dir: Path) -> tuple[list[ClipSpec], list[dict], list[str], list[str], dict]:
    """Pick the faces and run the loop on every clip (or read all that from ``--cache``)."""
    n_constant, n_change = (4, 4) if args.quick else (args.constant, args.change)
    key = {"version": VERSION, "model": _sha256(model_dir / "model.tflite"), "meta": _sha256(model_dir / "model.json"),
           "fer": str(Path(args.fer).resolve()), "constant": n_constant, "change": n_change, "seed": args.seed}
    if args.cache and Path(args.cache).is_file():
        with open(args.cache, "rb") as fh:
            cached = pickle.load(fh)
        if cached.get("key") == key:
            log.info("recorded frames from %s (same model and clips)", args.cache)
            timing = {"cached_from": str(args.cache), "measured": cached["timing"]}
            return cached["specs"], cached["results"], cached["labels"], cached["notes"], timing
        log.info("%s is for another model or other clips: measuring again", args.cache)
    import multiprocessing

    from edge import bundle as bundles

    t0 = time.perf_counter()
    labels = list(bundles.load(model_dir).labels)
    plans, requests = plan_clips(labels, n_constant, n_change, seed=args.seed)
    jobs = max(1, args.jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        groups = {}
        for i, (emotion, wants) in enumerate(requests):
            groups.setdefault(emotion, []).append(i)
        futures = {emotion: pool.submit(pick_group, args.fer, str(model_dir), args.seed, emotion,
                                        [requests[i][1] for i in idx]) for emotion, idx in groups.items()}
        picked: list = [None] * len(requests)
        tried = 0
        for emotion, idx in groups.items():
            faces, n = futures[emotion].result()
            tried += n
            for i, face in zip(idx, faces):
                picked[i] = face
        specs, notes = make_specs(plans, requests, picked)
        t_pick = time.perf_counter() - t0
        log.info("picked faces for %d clips in %.0f s (%d faces tried)", len(specs), t_pick, tried)
        with tempfile.TemporaryDirectory(prefix="stability_") as work:
            futures = [pool.submit(measure_clip, spec, str(model_dir), work) for spec in specs]
            results = []
            for spec, fut in zip(specs, futures):
                results.append(fut.result())
                log.info("  %-26s frames made in %5.1f s, loop %5.1f s", spec.name, results[-1]["render_s"],
                         results[-1]["loop_s"])
    timing = {"pick_s": round(t_pick, 1), "clips_s": round(time.perf_counter() - t0 - t_pick, 1)}
    if args.cache:
        Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
        with open(args.cache, "wb") as fh:
            pickle.dump({"key": key, "specs": specs, "results": results, "labels": labels, "notes": notes,
                         "timing": timing}, fh)
    return specs, results, labels, notes, timing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fer", default=str(clips.FER2013_DIR), help="FER2013 folder (with val/); default %(default)s")
    parser.add_argument("--model", default="", help="bundle folder (default: models/default)")
    parser.add_argument("--out", default=str(clips.ROOT / "runs" / "stability"), help="folder for the PNGs")
    parser.add_argument("--json", default="", help="JSON file (default OUT/stability.json)")
    parser.add_argument("--quick", action="store_true",
                        help="4 constant + 4 change clips and an 8-point grid (a smoke test)")
    parser.add_argument("--constant", type=int, default=8, help="constant clips, 60 s each (half of them hard)")
    parser.add_argument("--change", type=int, default=16, help=f"change clips, 40 s each (at most {len(PAIRS)})")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes for the loop runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="", help="keep the recorded frames here and reuse them when they match")
    parser.add_argument("--timeline", default="", help="the clip to draw (default: the change clip with the most "
                                                       "raw flicker)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from edge.classify import DEFAULT_MODEL
    from edge.mood import MoodConfig

    started = time.perf_counter()
    model_dir = Path(args.model) if args.model else DEFAULT_MODEL
    if not (Path(args.fer) / "val").is_dir():
        log.error("no FER2013 val folder under %s: pass --fer DIR or set FER2013_DIR", args.fer)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = Path(args.json) if args.json else out / "stability.json"

    specs, results, labels, notes, timing = collect(args, model_dir)
    recs_all = [to_recorded(spec, res, labels) for spec, res in zip(specs, results)]
    scored, dropped = [], []
    for rec in recs_all:
        if rec.spec["kind"] == "change":
            agrees, majority = majority_agrees(rec)
            if not agrees:
                dropped.append({"name": rec.spec["name"], "majority": majority})
                continue
        scored.append(rec)

    shipped_cfg = MoodConfig()
    shipped, figs = evaluate(scored, shipped_cfg, labels)
    # The replay is the loop's filter on the loop's inputs: it must give the loop's own mood events.
    mismatched = []
    for rec, res in zip(recs_all, results):
        mine = replay(rec, MoodConfig(**res["mood_config"]), labels)["events"]  # the config the loop ran with
        theirs = [(round(e["t"], 3), e["mood"]) for e in res["moods"]]
        if [(round(t, 3), label) for t, label in mine] != theirs:
            mismatched.append(rec.spec["name"])
    va_in_events = all({"valence", "arousal"} <= set(e) for res in results for e in res["moods"])

    grid = QUICK_GRID if args.quick else GRID
    settings = grid_settings(grid)
    t_sweep = time.perf_counter()
    jobs = max(1, args.jobs)
    chunks = [(scored, settings[i::jobs], labels) for i in range(jobs)]
    if jobs == 1:
        sweep = _sweep_chunk(chunks[0])
    else:
        import multiprocessing

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            sweep = [row for part in pool.map(_sweep_chunk, chunks) for row in part]
    sweep.sort(key=lambda s: (s["half_life"], s["hold"], s["margin"]))
    timing["sweep_s"] = round(time.perf_counter() - t_sweep, 1)
    feasible = [s for s in sweep if meets(s)]
    best = max(sweep, key=slack) if sweep else None

    # -- the table
    width = 28
    print(f"\nMood stability: model {model_dir.name} ({_sha256(model_dir / 'model.tflite')[:12]}), "
          f"{FPS:g} fps, shipped MoodConfig: half_life {shipped_cfg.half_life:g} s, hold {shipped_cfg.hold:g} s, "
          f"margin {shipped_cfg.margin:g}, min_confidence {shipped_cfg.min_confidence:g}, "
          f"tie_margin {shipped_cfg.tie_margin:g}\n")
    print(f"{'clip':<{width}} {'probe':>11} {'found':>6} {'raw/min':>8} {'mood/min':>9} {'songs':>6} "
          f"{'uncert':>7} {'right':>6} {'switch s':>9}  events")
    for rec, f in zip(scored, figs):
        probe = "/".join(f"{p['top'][:3]} {p['confidence']:.2f}" for p in rec.spec["probe"])
        evs = " ".join(f"{t:g}:{label[:4]}" for t, label in f["events"])
        switch = _fmt(f["switch_s"], 1) if "switch_s" in f else ""
        print(f"{rec.spec['name']:<{width}} {probe[:11]:>11} {f['found']:>6.0%} {f['raw_changes_per_min']:>8.1f} "
              f"{f['mood_changes_per_min']:>9.1f} {f['song_switches']:>6d} {f['uncertain']:>7.0%} {f['correct']:>6.0%} "
              f"{switch:>9}  {evs[:60]}")
    for d in dropped:
        print(f"{d['name']:<{width}} dropped: raw majority {d['majority']} does not follow the change")
    for note in notes:
        print(f"note: {note}")
    print()
    rows = [
        ("mood changes / min, constant clips", _fmt(shipped["flips_per_min"]), f"<= {TARGETS['flips_per_min']}"),
        ("  hard faces only", _fmt(shipped["flips_per_min_hard"]), ""),
        ("  worst constant clip", _fmt(shipped["worst_clip_flips_per_min"]), ""),
        ("  song switches / min (named -> named)", _fmt(shipped["song_switches_per_min"]), ""),
        ("raw per-frame top-1 changes / min", _fmt(shipped["raw_changes_per_min"], 1), ""),
        ("switch time, median (s)", _fmt(shipped["switch_median_s"]), f"<= {TARGETS['switch_median_s']}"),
        ("switch time, 90th percentile (s)", _fmt(shipped["switch_p90_s"]), f"<= {TARGETS['switch_p90_s']}"),
        ("change clips missed (never switched)",
         f"{shipped['missed']} of {sum(r.spec['kind'] == 'change' for r in scored)}", ""),
        ("time uncertain, constant clips", f"{shipped['uncertain_constant']:.1%}", ""),
        ("time uncertain, change clips", f"{shipped['uncertain_change']:.1%}", ""),
        ("time the mood is right, constant clips", f"{shipped['correct_constant']:.1%}",
         f"(raw per frame {shipped['raw_correct_constant']:.1%})"),
    ]
    for name, value, target in rows:
        print(f"{name:<42} {value:>9}  {target}")
    print(f"\ntargets met with the shipped defaults: {'yes' if meets(shipped) else 'NO'}; "
          f"{len(feasible)} of {len(sweep)} grid settings meet them")
    if best is not None:
        setting = ", ".join(f"{k} {best[k]:g}" for k in settings[0])
        print(f"best grid setting (largest worst-case slack to the targets, {slack(best):.2f}): {setting} -> "
              f"{best['flips_per_min']:.2f} changes/min, switch median {_fmt(best['switch_median_s'])} s, "
              f"p90 {_fmt(best['switch_p90_s'])} s")
    print(f"replay reproduces the loop's mood events: {len(recs_all) - len(mismatched)} of {len(recs_all)} clips"
          + (f" (differs: {', '.join(mismatched)})" if mismatched else ""))
    print(f"valence/arousal in every mood event: {'yes' if va_in_events else 'NO'}")

    # -- the figures
    pick = None
    if args.timeline:
        pick = next((r for r in recs_all if r.spec["name"] == args.timeline), None)
    if pick is None:
        candidates = [r for r in scored if r.spec["kind"] == "change"] or scored
        pick = max(candidates, key=lambda r: count_changes(r.main_top)) if candidates else None
    if pick is not None:
        run_pick = replay(pick, shipped_cfg, labels, keep_probs=True)
        plot_timeline(out / "stability_timeline.png", pick, run_pick, labels,
                      f"{pick.spec['name']} with the shipped defaults (half_life {shipped_cfg.half_life:g} s, "
                      f"hold {shipped_cfg.hold:g} s, margin {shipped_cfg.margin:g})")
    if sweep:
        plot_tradeoff(out / "stability_tradeoff.png", sweep,
                      {**dataclasses.asdict(shipped_cfg), **shipped}, shipped["raw_changes_per_min"])
    timing["total_s"] = round(time.perf_counter() - started, 1)
    report = {
        "benchmark": "stability", "version": VERSION,
        "model": {"name": model_dir.name, "path": str(model_dir), "sha256": _sha256(model_dir / "model.tflite")},
        "fps": FPS, "targets": TARGETS, "shipped_config": dataclasses.asdict(shipped_cfg),
        "shipped": shipped, "targets_met": meets(shipped),
        "clips": [{**rec.spec, **{k: v for k, v in f.items()}} for rec, f in zip(scored, figs)],
        "dropped": dropped, "notes": notes,
        "replay_matches_loop": {"clips": len(recs_all), "mismatched": mismatched},
        "valence_arousal_in_mood_events": va_in_events,
        "grid": {" + ".join(k) if isinstance(k, tuple) else k: v for k, v in grid.items()},
        "sweep": sweep, "feasible": len(feasible), "best": best,
        "timeline_clip": pick.spec["name"] if pick is not None else None,
        "loop": {r["name"]: {"render_s": r["render_s"], "loop_s": r["loop_s"]} for r in results},
        "timing": timing, "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                      "platform": platform.platform()},
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(_finite(report), indent=1, default=_json_default, allow_nan=False))
    done = (f"faces {timing['pick_s']:.0f} s, clips {timing['clips_s']:.0f} s" if "pick_s" in timing
            else f"frames from {timing['cached_from']}")
    print(f"\nwrote {json_path}, {out / 'stability_timeline.png'}, {out / 'stability_tradeoff.png'} "
          f"in {timing['total_s']:.0f} s ({done}, sweep {timing['sweep_s']:.0f} s)")
    return 0


def _finite(x: Any) -> Any:
    """``x`` with every non-finite float as None (JSON has no inf; an infinite switch time is a miss)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON: {type(x)}")


if __name__ == "__main__":
    # Run as the importable module, so that worker processes and the cache pickle name its classes
    # benchmarks.stability.X rather than __main__.X.
    from benchmarks import stability

    sys.exit(stability.main())
