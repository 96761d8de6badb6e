"""The Haar detector: OpenCV's cascade on a small gray copy, in the regions the finder asks for.

Without ``lores`` each region is cut from the full frame and shrunk by ``detect_scale`` (to about
``detect_width`` wide), as the design card's detector always did; with a camera's ``lores`` copy the
region is cut from its Y plane, which is that gray copy already. ``sides`` of a region (full-frame px)
bound the face sizes the cascade tries; ``min_face`` is in full-frame px.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.detectors.base import Box, DetectError, Detection, Region, dedupe, detect_scale, luma, to_full
from edge.settings import DetectConfig

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


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


class HaarDetector:
    """Image (+ lores) and regions -> detections (no eyes), with the cascade ``cfg.cascade`` names."""

    def __init__(self, cfg: DetectConfig) -> None:
        self.cfg = cfg
        self.path = cascade_path(cfg)
        self._cascade = load_cascade(self.path)

    def detect(self, image: np.ndarray, regions: Sequence[Region] | None = None,
               lores: np.ndarray | None = None) -> list[Detection]:
        height, width = image.shape[:2]
        gray = luma(lores) if lores is not None else None
        scale = gray.shape[1] / float(width) if gray is not None else detect_scale(width, self.cfg.detect_width)
        boxes: list[Box] = []
        for (x, y, w, h), sides in regions if regions is not None else [((0, 0, width, height), None)]:
            if gray is None:
                found = self._cascade_on(image[y:y + h, x:x + w], scale, sides)
                boxes += [(bx + x, by + y, bw, bh) for bx, by, bw, bh in found]
            else:  # the region of the lores Y plane, already at detection size
                x0, y0 = int(x * scale), int(y * scale)
                crop = gray[y0:int(np.ceil((y + h) * scale)), x0:int(np.ceil((x + w) * scale))]
                small = self._cascade_on(crop, scale, sides, shrunk=True)
                boxes += to_full([(bx + x0, by + y0, bw, bh) for bx, by, bw, bh in small], scale, (width, height))
        boxes = dedupe(boxes) if regions is not None else sorted(boxes, key=lambda b: -b[2] * b[3])
        return [Detection(b) for b in boxes]

    def _cascade_on(self, image: np.ndarray, scale: float, sides: tuple[int, int] | None = None,
                    shrunk: bool = False) -> list[Box]:
        """The cascade on one crop shrunk by ``scale`` (``shrunk``: it already is); ``sides`` (full-frame px)
        bounds the face size. Boxes in the crop's full-frame px (``shrunk``: in its own px)."""
        cfg = self.cfg
        height, width = image.shape[:2]
        if shrunk:
            height, width = int(round(height / scale)), int(round(width / scale))
        low, high = sides or (cfg.min_face, 0)
        side = max(1, int(round(max(cfg.min_face, low) * scale)))
        if min(width, height) * scale < side:
            return []
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if scale < 1.0 and not shrunk:
            small_size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
            gray = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)
        if cfg.equalize:
            gray = cv2.equalizeHist(gray)
        top = int(round(high * scale))
        found = self._cascade.detectMultiScale(gray, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
                                               minSize=(side, side), maxSize=(top, top) if top > side else (0, 0))
        if shrunk:
            return [tuple(int(v) for v in b) for b in (found if len(found) else [])]
        return to_full(found if len(found) else [], scale, (width, height))
