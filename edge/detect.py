"""Find faces: an OpenCV Haar cascade on a small gray frame, only when and where something moved, and a
cheap IoU tracker between.

Doing less work is the point (a Pi has four small cores and sits in a room that is empty most of the
day): the cascade runs on a copy downscaled to about ``detect_width`` pixels wide, and motion gating
(``edge.motion``) decides when: in an empty, still room once a ``heartbeat``; while something moves on
every ``every``-th frame, searching only the moving regions and the tracked faces; while tracked faces
hold still every ``still_every`` seconds, around them. In between, the tracker carries the boxes.
Boxes come back in full-frame pixels with a ``track_id`` that stays the same while a face keeps being
matched (IoU) from one detection to the next.

``DetectConfig.threads`` sets OpenCV's thread count (``cv2.setNumThreads``, process-wide) once, when the
finder is made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from edge.errors import MoodplayerError
from edge.motion import ACTIVE, IDLE, Gate, MotionDetector
from edge.types import Face, Frame
from edge.settings import DetectConfig  # noqa: F401 (re-exported: the stage's own config)

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, w, h
Region = tuple[Box, tuple[int, int]]  # where to search (full-frame px) and the face sides to look for (max 0: any)

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


class DetectError(MoodplayerError, RuntimeError):
    """The face detector cannot start (a missing or broken cascade file); the message names the path."""


def cascade_path(cfg: DetectConfig) -> Path:
    """The cascade file ``cfg`` asks for (OpenCV's frontal-face cascade when empty)."""
    if cfg.cascade:
        return Path(cfg.cascade).expanduser()
    return Path(cv2.data.haarcascades) / DEFAULT_CASCADE


def load_cascade(path: Path | str) -> cv2.CascadeClassifier:
    """A loaded cascade, or ``DetectError`` naming the path."""
    path = Path(path)
    if not path.is_file():
        raise DetectError(f"Haar cascade {path} not found: set detect.cascade to a cascade XML file, or leave "
                          f"it empty for OpenCV's {DEFAULT_CASCADE} (shipped with opencv-python-headless)")
    cascade = cv2.CascadeClassifier()
    try:
        loaded = cascade.load(str(path))
    except (cv2.error, SystemError):  # OpenCV raises on XML it cannot parse
        loaded = False
    if not loaded or cascade.empty():
        raise DetectError(f"Haar cascade {path} did not load: is it an OpenCV cascade XML file? "
                          f"(OpenCV's {cv2.data.haarcascades} has {DEFAULT_CASCADE})")
    return cascade


def detect_scale(width: int, detect_width: int) -> float:
    """The factor that shrinks a frame ``width`` wide to about ``detect_width`` (1.0: never upscale)."""
    return min(1.0, detect_width / float(width))


def to_full(boxes: Sequence[Sequence[float]], scale: float, size: tuple[int, int]) -> list[Box]:
    """Boxes found on a frame shrunk by ``scale`` -> full-frame pixels, clipped to ``size`` (w, h)."""
    width, height = size
    out = []
    for x, y, w, h in boxes:
        x0, y0 = max(0, int(round(x / scale))), max(0, int(round(y / scale)))
        x1, y1 = min(width, int(round((x + w) / scale))), min(height, int(round((y + h) / scale)))
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def pad(box: Box, share: float, size: tuple[int, int]) -> Box:
    """``box`` grown by ``share`` of its larger side on every side, clipped to ``size`` (w, h)."""
    x, y, w, h = box
    m = int(round(share * max(w, h)))
    x0, y0 = max(0, x - m), max(0, y - m)
    return x0, y0, min(size[0], x + w + m) - x0, min(size[1], y + h + m) - y0


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def dedupe(boxes: Sequence[Box], overlap: float = 0.3) -> list[Box]:
    """Largest first, each box kept unless it overlaps (IoU) a kept one by more than ``overlap``: one box
    per face when overlapping search regions found it twice."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if all(iou(box, k) <= overlap for k in kept):
            kept.append(box)
    return kept


@dataclass
class _Track:
    track_id: int
    box: Box
    misses: int = 0


class Tracker:
    """Keeps boxes between detections and their ids across them: greedy IoU matching, best pairs first."""

    def __init__(self, lost_after: int = 2, match_iou: float = 0.3) -> None:
        self.lost_after = lost_after
        self.match_iou = match_iou
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, boxes: Sequence[Box]) -> list[Face]:
        """Fold in one detection's boxes; returns every live track (matched, new, or recently missed)."""
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self._tracks) for bi, b in enumerate(boxes)),
                       reverse=True)
        matched_tracks: set[int] = set()
        matched_boxes: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < self.match_iou:
                break
            if ti in matched_tracks or bi in matched_boxes:
                continue
            matched_tracks.add(ti)
            matched_boxes.add(bi)
            self._tracks[ti].box = tuple(boxes[bi])
            self._tracks[ti].misses = 0
        kept = []
        for ti, track in enumerate(self._tracks):
            if ti not in matched_tracks:
                track.misses += 1
                if track.misses >= self.lost_after:
                    continue
            kept.append(track)
        for bi, box in enumerate(boxes):
            if bi not in matched_boxes:
                kept.append(_Track(self._next_id, tuple(box)))
                self._next_id += 1
        self._tracks = kept
        return self.faces()

    def faces(self) -> list[Face]:
        """The current tracks as faces, largest first."""
        faces = [Face(t.box, t.track_id) for t in self._tracks]
        return sorted(faces, key=lambda f: (-f.area, f.track_id))

    def reset(self) -> None:
        self._tracks = []


#: Search regions: motion and track boxes grown by this share of their side (a face moves between
#: detections; Haar needs the whole face in view) ...
REGION_PAD = 0.25
#: ... around a tracked face, for faces of this range of its side (most of Haar's time goes on the
#: scales near a face: a narrow band costs a fifth of a full search; a coarser scale step than the
#: cascade's own lost tracked faces in the loop's tests) ...
TRACK_SIDES = (0.8, 1.25)
#: ... and the whole frame once they cover more than this share of it (one pass is then cheaper).
FULL_FRAME_ABOVE = 0.6


class FaceFinder:
    """Frame -> faces: the cascade when the gate says so (``edge.motion``), the tracker's boxes between.

    After each ``find``: ``state`` is the gate's state (``idle``, ``active``, ``still``), ``detected``
    whether the cascade ran, ``searched`` the share of the frame it searched (0 when it did not run),
    and ``reread`` whether the faces' expressions should be
    read (classified) on this frame: when the tracks changed, or ``cfg.reread`` seconds after the last
    read; in between the previous reading holds (the mood filter's smoothing is
    timed by frame time, so reading at 5 Hz instead of 15 changes its answer by a frame or two).
    """

    def __init__(self, cfg: DetectConfig | None = None) -> None:
        self.cfg = cfg or DetectConfig()
        if self.cfg.threads:
            cv2.setNumThreads(self.cfg.threads)
        self.path = cascade_path(self.cfg)
        self._cascade = load_cascade(self.path)
        self._tracker = Tracker(self.cfg.lost_after, self.cfg.match_iou)
        self._motion = MotionDetector(self.cfg.motion_width, self.cfg.motion_threshold, self.cfg.motion_area)
        self._gate = Gate(self.cfg.every, self.cfg.heartbeat, self.cfg.still_every, self.cfg.settle)
        self._calls = 0
        self._faces: list[Face] = []
        self.state, self.detected, self.searched = ACTIVE, False, 0.0
        self.reread = True
        self._read: tuple[float, list[int]] | None = None  # frame time and track ids of the last read
        self._whole: float | None = None  # frame time of the last whole-frame search
        self._lost = False  # a track was dropped at the last detection: look everywhere next time

    def detect(self, image: np.ndarray, regions: Sequence[Region] | None = None) -> list[Box]:
        """Run the cascade once on a BGR (or gray) image, in ``regions`` (None: all of it): boxes in its
        pixels, largest first, no tracking."""
        height, width = image.shape[:2]
        scale = detect_scale(width, self.cfg.detect_width)
        boxes: list[Box] = []
        for (x, y, w, h), sides in regions if regions is not None else [((0, 0, width, height), None)]:
            found = self._cascade_on(image[y:y + h, x:x + w], scale, sides)
            boxes += [(bx + x, by + y, bw, bh) for bx, by, bw, bh in found]
        return dedupe(boxes) if regions is not None else sorted(boxes, key=lambda b: -b[2] * b[3])

    def _cascade_on(self, image: np.ndarray, scale: float, sides: tuple[int, int] | None = None) -> list[Box]:
        """The cascade on one crop shrunk by ``scale``; ``sides`` (full-frame px) bounds the face size."""
        cfg = self.cfg
        height, width = image.shape[:2]
        low, high = sides or (cfg.min_face, 0)
        side = max(1, int(round(max(cfg.min_face, low) * scale)))
        if min(width, height) * scale < side:
            return []
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if scale < 1.0:
            small_size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
            gray = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)
        if cfg.equalize:
            gray = cv2.equalizeHist(gray)
        top = int(round(high * scale))
        found = self._cascade.detectMultiScale(gray, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
                                               minSize=(side, side), maxSize=(top, top) if top > side else (0, 0))
        return to_full(found if len(found) else [], scale, (width, height))

    def find(self, frame: Frame) -> list[Face]:
        """The faces in ``frame``, largest first, at most ``max_faces``; the cascade runs when the gate says
        (``gate`` off: on every ``every``-th call, on the whole frame)."""
        cfg = self.cfg
        if cfg.gate:
            motion = self._motion.update(frame.image, frame.t)
            self.state, due = self._gate.decide(frame.t, motion.moving, bool(self._faces))
        else:
            due = self._calls % cfg.every == 0
        self.detected, self.searched = due, 0.0
        if due:
            regions = self._regions(frame.image.shape, frame.t) if cfg.gate else None
            height, width = frame.image.shape[:2]
            self.searched = 1.0 if regions is None else sum(w * h for (_, _, w, h), _ in regions) / float(width * height)
            if regions is None:
                self._whole = frame.t
            before = {f.track_id for f in self._tracker.faces()}
            tracks = self._tracker.update(self.detect(frame.image, regions))
            self._lost = bool(before - {f.track_id for f in tracks})
            self._faces = tracks[:cfg.max_faces]
        self._calls += 1
        self._mark_reread(frame.t)
        return list(self._faces)

    @property
    def faces(self) -> list[Face]:
        """The faces the latest ``find`` returned."""
        return list(self._faces)

    def _mark_reread(self, t: float) -> None:
        ids = [f.track_id for f in self._faces]
        last = self._read
        self.reread = last is None or last[1] != ids or t < last[0] or t - last[0] >= self.cfg.reread - 1e-9
        if self.reread:
            self._read = (t, ids)

    def _regions(self, shape: tuple[int, ...], t: float) -> list[Region] | None:
        """Where to search now (None: the whole frame). The whole frame when idle, after a track was lost,
        and once every ``heartbeat`` seconds whatever the state (a face the tracker lost while nothing
        moved is found again). Otherwise around each tracked face, for faces of about its size
        (``TRACK_SIDES``), and while active around the latest motion that those regions do not explain,
        for faces of any size. Every box is grown by ``REGION_PAD``; the whole frame is searched instead
        when any-size regions would cover most of it."""
        if (self.state == IDLE or self._lost or self._whole is None or t < self._whole
                or t - self._whole >= self.cfg.heartbeat - 1e-9):
            return None
        size = (shape[1], shape[0])
        regions = [(pad(f.box, REGION_PAD, size), (int(TRACK_SIDES[0] * f.box[2]), int(TRACK_SIDES[1] * f.box[2])))
                   for f in self._faces]
        if self.state == ACTIVE:
            regions += [(pad(box, REGION_PAD, size), (self.cfg.min_face, 0))
                        for box in self._motion.boxes_outside([box for box, _ in regions])]
        open_area = sum(w * h for (_, _, w, h), (_, top) in regions if top == 0)
        if not regions or open_area > FULL_FRAME_ABOVE * size[0] * size[1]:
            return None
        return regions

    def reset(self) -> None:
        """Forget tracks and the background; the next ``find`` detects."""
        self._tracker.reset()
        self._motion.reset()
        self._gate.reset()
        self._calls = 0
        self._faces = []
        self._read = self._whole = None
        self._lost = False
