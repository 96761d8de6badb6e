"""A camera through OpenCV's VideoCapture (USB webcams, V4L2 devices): by index or device path."""

from __future__ import annotations

import logging
import sys
import time

import cv2

from edge.sources.base import Source, SourceConfig, SourceError, as_bgr8
from edge.types import Frame

log = logging.getLogger(__name__)


class CameraSource(Source):
    """Frames from an OpenCV camera; ``t`` is monotonic capture time since the camera opened.

    A failed read makes ``read()`` return None (iteration then raises ``SourceError``); retrying a lost
    camera is ``edge.sources.resilient``'s job (it opens a new one).
    """

    live = True

    def __init__(self, device: int | str, cfg: SourceConfig) -> None:
        super().__init__(realtime=False)
        self.device = device
        self.name = f"camera {device}"
        self._cfg = cfg
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._t0 = time.monotonic()
        self._open()

    def _open(self) -> None:
        cfg, device = self._cfg, self.device
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cap = cv2.VideoCapture(device, backend)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"camera {device} did not open: check `ls /dev/video*` and the cable, that no other "
                              "program uses it, or pass a video with --source clip.mp4")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the freshest frame, not a queue of old ones
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if (w, h) != (cfg.width, cfg.height):
            log.warning("camera %s gives %dx%d instead of the requested %dx%d", device, w, h, cfg.width, cfg.height)
        self.fps = fps if fps > 0 else None
        self._cap = cap

    def read(self) -> Frame | None:
        if self._closed or self._cap is None:
            return None
        ok, image = self._cap.read()
        t = time.monotonic() - self._t0
        if not ok or image is None:
            return None
        frame = Frame(as_bgr8(image), t, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        super().close()
        if self._cap is not None:
            self._cap.release()
            self._cap = None
