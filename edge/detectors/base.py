"""What every plain detector shares: its answer (``Detection``), its error, and box arithmetic.

A detector is the lower of detection's two layers (``edge.detect`` is the upper: motion gating, regions,
heartbeat, tracks). It has one method::

    detect(image, regions=None, lores=None) -> list[Detection]

``image`` is the full frame (H x W x 3 BGR, or gray), ``regions`` where to look (full-frame boxes, each
with the face sides to look for; None: everywhere), ``lores`` the camera's own I420 copy at detection
size (``edge.types.Frame.lores``; None: the detector shrinks ``image`` itself). Boxes and eyes come back
in full-frame pixels, largest box first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from edge.errors import MoodplayerError

Box = tuple[int, int, int, int]  # x, y, w, h
T = TypeVar("T")
Region = tuple[Box, tuple[int, int]]  # where to search (full-frame px) and the face sides to look for (max 0: any)
Point = tuple[float, float]


class DetectError(MoodplayerError, RuntimeError):
    """The face detector cannot start (a missing or broken cascade or model file); the message names the path."""


@dataclass(frozen=True)
class Detection:
    """One face a detector found: ``box`` (x, y, w, h, full-frame px), ``eyes`` (two (x, y) centres, the one
    nearer the image's left edge first; None from a detector without keypoints) and ``score`` (0-1)."""

    box: Box
    eyes: tuple[Point, Point] | None = None
    score: float = 1.0


class Detector(Protocol):
    def detect(self, image: np.ndarray, regions: Sequence[Region] | None = None,
               lores: np.ndarray | None = None) -> list[Detection]: ...


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


def dedupe(items: Sequence[T], overlap: float = 0.3, box: Callable[[T], Box] = lambda b: b) -> list[T]:
    """Largest first, each item kept unless its ``box`` overlaps (IoU) a kept one's by more than
    ``overlap``: one per face when overlapping search regions found it twice (boxes, or detections with
    ``box=lambda d: d.box``; an identical box found twice is kept once)."""
    kept: list[T] = []
    for item in sorted(items, key=lambda i: -box(i)[2] * box(i)[3]):
        if all(iou(box(item), box(k)) <= overlap for k in kept):
            kept.append(item)
    return kept


def luma(lores: np.ndarray) -> np.ndarray:
    """The Y plane of an I420 image (``(h * 3 // 2) x w``): its gray ``h x w`` picture, no copy."""
    return lores[:lores.shape[0] * 2 // 3]
