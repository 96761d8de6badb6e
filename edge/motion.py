"""Motion gating, the way Frigate stays cheap: look for change on a tiny copy, detect faces only where
and when something changed.

``MotionDetector`` keeps a running background of a tiny, blurred gray copy of each frame (about
``width`` pixels wide, resized with nearest-neighbour so that it costs next to nothing) and reports
the regions that differ from it by more than ``threshold`` gray levels. A change over most of the
frame (the lights going on, the camera's exposure jumping, the scene cut in a video) re-learns the
background at once instead of letting it fade in, and reports the whole frame as changed, so that the
finder looks everywhere once. The background follows the scene with a half-life in frame time, so the detector
behaves the same at any frame rate and a video gives the same answers at any speed.

``Gate`` turns motion and the tracker's state into a decision per frame (what ``FaceFinder`` does):

- ``idle``: no motion and no tracked face: detect once every ``heartbeat`` seconds (frame time), and
  once at once when motion has just settled with nobody tracked (a last look at the whole frame);
- ``active``: motion now or within ``settle`` seconds: detect every ``every``-th frame, and at once on
  the frame motion starts;
- ``still``: tracked faces, no motion: detect every ``still_every`` seconds; the tracker carries the
  boxes in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h

IDLE, ACTIVE, STILL = "idle", "active", "still"

_EPS = 1e-9  # slack for float frame times (i / fps)


@dataclass(frozen=True)
class Motion:
    """What changed in one frame: ``boxes`` in full-frame pixels (empty: no motion), ``area`` the share
    of the frame that changed (0-1), ``recalibrated`` when a change over most of the frame re-learnt the
    background (``boxes`` is then the whole frame)."""

    boxes: tuple[Box, ...] = ()
    area: float = 0.0
    recalibrated: bool = False

    @property
    def moving(self) -> bool:
        return bool(self.boxes)


class MotionDetector:
    """Frame + frame time -> ``Motion``, against a running background of a tiny gray copy.

    ``threshold`` is in gray levels (0-255) on the blurred copy; ``min_area`` and ``recalibrate_above``
    are shares of the frame; ``half_life`` (seconds of frame time) is how fast a change that stays
    becomes background (a person who sits still stops counting as motion after about two half-lives).
    """

    def __init__(self, width: int = 80, threshold: int = 25, min_area: float = 0.002, half_life: float = 0.25,
                 recalibrate_above: float = 0.6) -> None:
        self.width = width
        self.threshold = threshold
        self.min_area = min_area
        self.half_life = half_life
        self.recalibrate_above = recalibrate_above
        self._background: np.ndarray | None = None
        self._mask: np.ndarray | None = None  # the latest motion's changed pixels (tiny, dilated)
        self._t = 0.0
        self._full: tuple[int, int] = (0, 0)  # the frame's size: boxes come back in its pixels
        self._image: tuple[int, int] = (0, 0)  # the size of the picture given (the frame or a smaller copy)
        self._small: tuple[int, int] = (0, 0)

    def reset(self) -> None:
        """Forget the background; the next frame becomes it (and reports no motion)."""
        self._background = self._mask = None

    def tiny(self, image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """The blurred gray copy the detector compares (``width`` wide, the frame's aspect). ``size``: the
        full frame's (w, h) when ``image`` is a smaller copy of it (a camera's lores Y plane)."""
        height, width = image.shape[:2]
        full = size or (width, height)
        if self._full != full or self._image != (width, height):
            self._full, self._image = full, (width, height)
            small_w = min(self.width, width)
            self._small = (small_w, max(1, int(round(height * small_w / width))))
            self.reset()  # the background and the last mask are of the old size
        small = cv2.resize(image, self._small, interpolation=cv2.INTER_NEAREST)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(small, (3, 3), 0)

    def update(self, image: np.ndarray, t: float, size: tuple[int, int] | None = None) -> Motion:
        """Compare ``image`` (BGR or gray) at frame time ``t`` with the background, then fold it in;
        ``size`` as for ``tiny``."""
        gray = self.tiny(image, size)
        if self._background is None or t < self._t:  # the first frame, or time went back: start afresh
            self._background, self._t = gray.astype(np.float32), t
            return Motion()
        delta = cv2.absdiff(gray, cv2.convertScaleAbs(self._background))
        mask = cv2.threshold(delta, self.threshold, 255, cv2.THRESH_BINARY)[1]
        area = cv2.countNonZero(mask) / float(mask.size)
        alpha = 1.0 - 0.5 ** ((t - self._t) / self.half_life) if self.half_life > 0 else 1.0
        cv2.accumulateWeighted(gray, self._background, min(1.0, max(0.0, alpha)))
        self._t = t
        if area < self.min_area:
            return Motion((), area)
        if area > self.recalibrate_above:
            self._background = gray.astype(np.float32)
            self._mask = np.full_like(mask, 255)
            return Motion(((0, 0) + self._full,), area, recalibrated=True)
        self._mask = cv2.dilate(mask, None, iterations=1)
        return Motion(self._boxes(self._mask), area)

    def boxes_outside(self, regions: Sequence[Box]) -> tuple[Box, ...]:
        """The latest motion's boxes (full-frame pixels) once the parts inside ``regions`` are left out:
        the change that the regions do not explain."""
        if self._mask is None:
            return ()
        mask = self._mask.copy()
        sx, sy = self._full[0] / self._small[0], self._full[1] / self._small[1]
        for x, y, w, h in regions:  # blank the tiny pixels wholly inside the region
            mask[int(np.ceil(y / sy)):int((y + h) // sy), int(np.ceil(x / sx)):int((x + w) // sx)] = 0
        return self._boxes(mask)

    def _boxes(self, mask: np.ndarray) -> tuple[Box, ...]:
        contours = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        sx = self._full[0] / self._small[0]
        sy = self._full[1] / self._small[1]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append((int(x * sx), int(y * sy), int(np.ceil(w * sx)), int(np.ceil(h * sy))))
        return tuple(boxes)


class Gate:
    """Frame time, motion and whether faces are tracked -> (state, detect now?). See the module doc.

    ``every`` is in frames; ``heartbeat``, ``still_every`` and ``settle`` in seconds of frame time.
    """

    def __init__(self, every: int = 3, heartbeat: float = 5.0, still_every: float = 1.0, settle: float = 0.5) -> None:
        self.every = every
        self.heartbeat = heartbeat
        self.still_every = still_every
        self.settle = settle
        self.state = IDLE
        self.reset()

    def reset(self) -> None:
        """The next frame detects, whatever it shows."""
        self._last_detect: float | None = None
        self._moved: float | None = None
        self._frames_since = 0

    def decide(self, t: float, moving: bool, tracked: bool) -> tuple[str, bool]:
        if self._last_detect is not None and t < self._last_detect:  # time went back (a new clip): start afresh
            self.reset()
        if moving:
            self._moved = t
        active = self._moved is not None and t - self._moved <= self.settle + _EPS
        if active:
            state = ACTIVE
            due = self.state != ACTIVE or self._frames_since + 1 >= self.every
        elif tracked:
            state = STILL
            due = self._last_detect is None or t - self._last_detect >= self.still_every - _EPS
        else:  # idle: once a heartbeat, and a last look everywhere when activity ends
            state = IDLE
            due = (self._last_detect is None or self.state == ACTIVE
                   or t - self._last_detect >= self.heartbeat - _EPS)
        due = due or self._last_detect is None
        if due:
            self._last_detect, self._frames_since = t, 0
        else:
            self._frames_since += 1
        self.state = state
        return state, due
