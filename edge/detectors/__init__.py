"""Plain face detectors, the lower of detection's two layers (``edge.detect`` is the upper one):
``haar`` (OpenCV's cascade, ``edge.detectors.haar``) and ``blazeface`` (MediaPipe's network,
``edge.detectors.blazeface``). ``make(cfg)`` builds the one ``detect.method`` names."""

from __future__ import annotations

from edge.detectors.base import Box, DetectError, Detection, Detector, Region, dedupe, detect_scale, iou, to_full
from edge.settings import DetectConfig

__all__ = ["Box", "DetectError", "Detection", "Detector", "Region", "dedupe", "detect_scale", "iou", "make",
           "to_full"]


def make(cfg: DetectConfig) -> Detector:
    """The detector ``cfg.method`` names, loaded (``DetectError`` names a missing or damaged file)."""
    if cfg.method == "blazeface":
        from edge.detectors.blazeface import BlazeFace

        return BlazeFace(cfg)
    from edge.detectors.haar import HaarDetector

    return HaarDetector(cfg)
