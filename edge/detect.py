"""Find faces: a detector (``edge.detectors``: Haar or BlazeFace) only when and where something moved,
and a cheap IoU tracker between. This is the upper of detection's two layers (gating and tracking); the
detector below it is a plain ``image, regions -> boxes (+ eyes)``.

Doing less work is the point (a Pi has four small cores and sits in a room that is empty most of the
day): the detector runs on a copy at about ``detect_width`` pixels wide (a camera's ``lores`` stream
when the frame carries one, else the frame shrunk), and motion gating (``edge.motion``, on the same
small copy) decides when: in an empty, still room once a ``heartbeat``; while something moves on every
``every``-th frame, searching only the moving regions and the tracked faces; while tracked faces hold
still every ``still_every`` seconds, around them. In between, the tracker carries the boxes.
Boxes come back in full-frame pixels with a ``track_id`` that stays the same while a face keeps being
matched (IoU) from one detection to the next, and the eyes where the detector finds them.

``DetectConfig.threads`` sets OpenCV's thread count (``cv2.setNumThreads``, process-wide) once, when the
finder is made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge import detectors
from edge.detectors.base import Box, DetectError, Detection, Detector, Region, dedupe, detect_scale, iou, luma, to_full
from edge.detectors.haar import DEFAULT_CASCADE, cascade_path, load_cascade
from edge.motion import ACTIVE, IDLE, Gate, MotionDetector
from edge.settings import DetectConfig  # noqa: F401 (re-exported: the stage's own config)
from edge.types import Face, Frame

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CASCADE", "Box", "DetectConfig", "DetectError", "Detection", "FaceFinder", "Found", "Region",
           "Tracker", "cascade_path", "dedupe", "detect_scale", "iou", "load_cascade", "pad", "to_full"]

Eyes = tuple[tuple[float, float], tuple[float, float]]


def pad(box: Box, share: float, size: tuple[int, int]) -> Box:
    """``box`` grown by ``share`` of its larger side on every side, clipped to ``size`` (w, h)."""
    x, y, w, h = box
    m = int(round(share * max(w, h)))
    x0, y0 = max(0, x - m), max(0, y - m)
    return x0, y0, min(size[0], x + w + m) - x0, min(size[1], y + h + m) - y0


@dataclass
class _Track:
    track_id: int
    box: Box
    eyes: Eyes | None = None
    misses: int = 0


class Tracker:
    """Keeps boxes between detections and their ids across them: greedy IoU matching, best pairs first."""

    def __init__(self, lost_after: int = 2, match_iou: float = 0.3) -> None:
        self.lost_after = lost_after
        self.match_iou = match_iou
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, boxes: Sequence[Box], eyes: Sequence[Eyes | None] | None = None) -> list[Face]:
        """Fold in one detection's boxes (and each one's eyes, where the detector found them); returns every
        live track (matched, new, or recently missed). A track between detections keeps its last eyes."""
        eyes = list(eyes) if eyes is not None else [None] * len(boxes)
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
            self._tracks[ti].eyes = eyes[bi]
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
                kept.append(_Track(self._next_id, tuple(box), eyes[bi]))
                self._next_id += 1
        self._tracks = kept
        return self.faces()

    def faces(self) -> list[Face]:
        """The current tracks as faces, largest first."""
        faces = [Face(t.box, t.track_id, t.eyes) for t in self._tracks]
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


@dataclass(frozen=True)
class Found:
    """What ``FaceFinder.find`` decided for one frame.

    ``faces``: largest first, at most ``max_faces``; ``reread``: whether to read (classify) their
    expressions on this frame (the tracks changed, or ``reread`` seconds passed since the last read; in
    between the previous reading holds: the mood filter's smoothing is timed by frame time, so reading at
    5 Hz instead of 15 changes its answer by a frame or two); ``state``: the gate's (``idle``, ``active``,
    ``still``); ``detected``: whether the detector ran; ``searched``: the share of the frame it searched
    (0 when it did not run).
    """

    faces: tuple[Face, ...]
    reread: bool
    state: str
    detected: bool
    searched: float


class FaceFinder:
    """Frame -> ``Found``: the detector when the gate says so (``edge.motion``), the tracker's boxes between.

    ``detector`` (default: the one ``cfg.method`` names, ``edge.detectors.make``) is the plain lower layer.
    """

    def __init__(self, cfg: DetectConfig | None = None, detector: Detector | None = None) -> None:
        self.cfg = cfg or DetectConfig()
        if self.cfg.threads:
            cv2.setNumThreads(self.cfg.threads)
        self.detector = detector if detector is not None else detectors.make(self.cfg)
        self._tracker = Tracker(self.cfg.lost_after, self.cfg.match_iou)
        self._motion = MotionDetector(self.cfg.motion_width, self.cfg.motion_threshold, self.cfg.motion_area)
        self._gate = Gate(self.cfg.every, self.cfg.heartbeat, self.cfg.still_every, self.cfg.settle)
        self._calls = 0
        self._faces: tuple[Face, ...] = ()
        self._state = ACTIVE
        self._read: tuple[float, list[int]] | None = None  # frame time and track ids of the last read
        self._whole: float | None = None  # frame time of the last whole-frame search
        self._lost = False  # a track was dropped at the last detection: look everywhere next time

    def detect(self, image: np.ndarray, regions: Sequence[Region] | None = None) -> list[Box]:
        """The detector once on a BGR (or gray) image, in ``regions`` (None: all of it): boxes in its
        pixels, largest first, no tracking."""
        return [d.box for d in self.detector.detect(image, regions)]

    def faces_in(self, image: np.ndarray) -> list[Face]:
        """One detection on a still picture: at most ``max_faces`` faces, ids 1, 2 ..., eyes where found."""
        found = self.detector.detect(image)[:self.cfg.max_faces]
        return [Face(d.box, i + 1, d.eyes) for i, d in enumerate(found)]

    def find(self, frame: Frame) -> Found:
        """The faces in ``frame`` and what was decided; the detector runs when the gate says (``gate`` off:
        on every ``every``-th call, on the whole frame)."""
        cfg = self.cfg
        height, width = frame.image.shape[:2]
        if cfg.gate:
            small = luma(frame.lores) if frame.lores is not None else frame.image
            motion = self._motion.update(small, frame.t, size=(width, height))
            self._state, due = self._gate.decide(frame.t, motion.moving, bool(self._faces))
        else:
            due = self._calls % cfg.every == 0
        searched = 0.0
        if due:
            regions = self._regions(frame.image.shape, frame.t) if cfg.gate else None
            searched = 1.0 if regions is None else sum(w * h for (_, _, w, h), _ in regions) / float(width * height)
            if regions is None:
                self._whole = frame.t
            before = {f.track_id for f in self._tracker.faces()}
            found = self.detector.detect(frame.image, regions, frame.lores)
            tracks = self._tracker.update([d.box for d in found], [d.eyes for d in found])
            self._lost = bool(before - {f.track_id for f in tracks})
            self._faces = tuple(tracks[:cfg.max_faces])
        self._calls += 1
        return Found(self._faces, self._reread(frame.t), self._state, due, searched)

    def _reread(self, t: float) -> bool:
        """Whether to read the faces now (``Found.reread``); a read is remembered."""
        ids = [f.track_id for f in self._faces]
        last = self._read
        again = last is None or last[1] != ids or t < last[0] or t - last[0] >= self.cfg.reread - 1e-9
        if again:
            self._read = (t, ids)
        return again

    def _regions(self, shape: tuple[int, ...], t: float) -> list[Region] | None:
        """Where to search now (None: the whole frame). The whole frame when idle, after a track was lost,
        and once every ``heartbeat`` seconds whatever the state (a face the tracker lost while nothing
        moved is found again). Otherwise around each tracked face, for faces of about its size
        (``TRACK_SIDES``), and while active around the latest motion that those regions do not explain,
        for faces of any size. Every box is grown by ``REGION_PAD``; the whole frame is searched instead
        when any-size regions would cover most of it."""
        if (self._state == IDLE or self._lost or self._whole is None or t < self._whole
                or t - self._whole >= self.cfg.heartbeat - 1e-9):
            return None
        size = (shape[1], shape[0])
        regions = [(pad(f.box, REGION_PAD, size), (int(TRACK_SIDES[0] * f.box[2]), int(TRACK_SIDES[1] * f.box[2])))
                   for f in self._faces]
        if self._state == ACTIVE:
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
        self._faces = ()
        self._read = self._whole = None
        self._lost = False
