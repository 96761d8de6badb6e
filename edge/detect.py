"""Find faces: an OpenCV Haar cascade on a small gray frame every N frames, a cheap IoU tracker between.

Doing less work is the point (a Pi has four small cores): the cascade runs on a frame downscaled to
about ``detect_width`` pixels wide and only on every ``every``-th frame; in between, the last boxes are
carried. Boxes come back in full-frame pixels with a ``track_id`` that stays the same while a face
keeps being matched (IoU) from one detection to the next.

``cv2.setNumThreads`` is process-wide: this module leaves it to the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from edge.types import Face, Frame

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, w, h

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


class DetectError(RuntimeError):
    """The face detector cannot start (a missing or broken cascade file); the message names the path."""


@dataclass(frozen=True)
class DetectConfig:
    """Haar detection and tracking. ``min_face`` is in full-frame pixels; ``lost_after`` is how many
    detections in a row may miss a face before its track is dropped (1: at the first miss)."""

    detect_width: int = 320  # the cascade runs on a frame about this wide (never upscaled)
    every: int = 3  # run the cascade on every Nth frame, carry boxes in between
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face: int = 48
    max_faces: int = 4
    cascade: str = ""  # empty: OpenCV's haarcascade_frontalface_default.xml
    lost_after: int = 2
    equalize: bool = False  # equalizeHist before the cascade (can help in dim, flat light)
    match_iou: float = 0.3  # a detection continues a track when their boxes overlap at least this much

    def __post_init__(self) -> None:
        for name in ("detect_width", "every", "min_face", "max_faces", "lost_after"):
            if getattr(self, name) < 1:
                raise ValueError(f"'{name}' must be at least 1, got {getattr(self, name)}")
        if not self.scale_factor > 1.0:
            raise ValueError(f"'scale_factor' must be above 1.0 (e.g. 1.1), got {self.scale_factor}")
        if self.min_neighbors < 0:
            raise ValueError(f"'min_neighbors' must be 0 or more, got {self.min_neighbors}")
        if not 0.0 < self.match_iou <= 1.0:
            raise ValueError(f"'match_iou' must be in (0, 1], got {self.match_iou}")


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


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


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


class FaceFinder:
    """Frame -> faces: the cascade on every ``every``-th call, the tracker's boxes in between."""

    def __init__(self, cfg: DetectConfig | None = None) -> None:
        self.cfg = cfg or DetectConfig()
        self.path = cascade_path(self.cfg)
        self._cascade = load_cascade(self.path)
        self._tracker = Tracker(self.cfg.lost_after, self.cfg.match_iou)
        self._calls = 0
        self._faces: list[Face] = []

    def detect(self, image: np.ndarray) -> list[Box]:
        """Run the cascade once on a BGR (or gray) image: boxes in its pixels, largest first, no tracking."""
        cfg = self.cfg
        height, width = image.shape[:2]
        scale = detect_scale(width, cfg.detect_width)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if scale < 1.0:
            small_size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
            gray = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)
        if cfg.equalize:
            gray = cv2.equalizeHist(gray)
        side = max(1, int(round(cfg.min_face * scale)))
        found = self._cascade.detectMultiScale(gray, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
                                               minSize=(side, side))
        boxes = to_full(found if len(found) else [], scale, (width, height))
        return sorted(boxes, key=lambda b: -b[2] * b[3])

    def find(self, frame: Frame) -> list[Face]:
        """The faces in ``frame``, largest first, at most ``max_faces``; detects on every ``every``-th call."""
        if self._calls % self.cfg.every == 0:
            tracks = self._tracker.update(self.detect(frame.image))
            self._faces = tracks[:self.cfg.max_faces]
        self._calls += 1
        return list(self._faces)

    def reset(self) -> None:
        """Forget tracks; the next ``find`` detects."""
        self._tracker.reset()
        self._calls = 0
        self._faces = []
