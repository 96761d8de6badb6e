"""A video file through OpenCV: ``t`` is media time (index / fps); optional pacing and looping."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2

from edge.sources.base import Source, SourceConfig, SourceError, as_bgr8
from edge.types import Frame

log = logging.getLogger(__name__)


class VideoSource(Source):
    """Frames of a video file. ``t = index / fps`` keeps growing across loops, so time never jumps back."""

    def __init__(self, path: Path | str, cfg: SourceConfig) -> None:
        super().__init__(cfg.realtime)
        self.path = Path(path)
        self.name = str(self.path)
        self._loop = cfg.loop
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise SourceError(f"cannot open video {self.path}: is it a video OpenCV can read? "
                              f"try re-encoding it: ffmpeg -i {self.path.name} -c:v libx264 clip.mp4")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (math.isfinite(fps) and 0 < fps <= 1000):
            log.warning("%s does not say its frame rate: timing it at %.1f fps (--source-fps)", self.path, cfg.fps)
            fps = cfg.fps
        self.fps = fps
        self._index = 0
        self._pending = self._grab()  # read one now, so an empty or broken file fails at open
        if self._pending is None:
            self._cap.release()
            raise SourceError(f"{self.path} has no readable frames: is it a complete video file?")

    def _grab(self):
        ok, image = self._cap.read()
        return image if ok and image is not None else None

    def read(self) -> Frame | None:
        if self._closed:
            return None
        image, self._pending = self._pending, None
        if image is None:
            image = self._grab()
        if image is None and self._loop and self._index > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            image = self._grab()
            if image is None:  # some containers cannot seek: reopen
                self._cap.release()
                self._cap = cv2.VideoCapture(str(self.path))
                image = self._grab()
        if image is None:
            return None
        frame = Frame(as_bgr8(image), self._index / self.fps, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        super().close()
        self._cap.release()
