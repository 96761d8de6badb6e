"""What every source shares: its config, its error, the ``Source`` base class and pixel clean-up."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge.errors import MoodplayerError
from edge.settings import COLOR_ORDERS, SourceConfig  # noqa: F401 (re-exported: the stage's own config)
from edge.types import Frame

log = logging.getLogger(__name__)


class SourceError(MoodplayerError, RuntimeError):
    """A source cannot be opened or stopped delivering frames; the message says what to try."""


class Source:
    """Frames from somewhere: iterate, then ``close()`` (or use ``with``).

    ``read()`` returns the next ``Frame``, or ``None`` when there is none: the end of a file, or a failed
    camera read. Iterating ends at the end of a file and raises ``SourceError`` for a live source
    (``live``) whose read failed; a retry layer can call ``read()`` itself and decide.
    """

    name: str = "source"
    fps: float | None = None
    live: bool = False  # a camera: frames happen in real time, a failed read is an error

    def __init__(self, realtime: bool = False) -> None:
        self._realtime = realtime and not self.live
        self._closed = False

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __iter__(self) -> Iterator[Frame]:
        anchor: float | None = None  # wall clock minus media time, for realtime pacing
        while not self._closed:
            frame = self.read()
            if frame is None:
                if self.live and not self._closed:
                    raise SourceError(f"{self.name}: the camera stopped delivering frames: check the cable "
                                      "and power, and that no other program uses the camera")
                return
            if self._realtime:
                now = time.monotonic()
                if anchor is None or now - (anchor + frame.t) > 0.5:  # first frame, or far behind: re-anchor
                    anchor = now - frame.t
                delay = anchor + frame.t - now
                if delay > 0:
                    time.sleep(delay)
            yield frame

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def as_bgr8(image: np.ndarray, swap_rb: bool = False) -> np.ndarray:
    """Any image (gray, gray+alpha, BGR, BGRA; uint8, uint16 or float) as a contiguous HxWx3 uint8 BGR."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (2, 3, 4)) or img.size == 0:
        raise SourceError(f"cannot use an image of shape {img.shape} as a frame: expected HxW or HxWx3")
    if img.dtype != np.uint8:
        img = _to_uint8(img)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 2:  # gray + alpha
        img = cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[:, :, :3])
    if swap_rb:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if np.issubdtype(img.dtype, np.floating):
        top = 1.0 if float(np.nanmax(img)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(img) * (255.0 / top), 0, 255).round().astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        top = float(img.max())
        scale = 255.0 / top if top > 255 else 1.0
        return np.clip(img * scale, 0, 255).astype(np.uint8)
    raise SourceError(f"cannot use an image of type {img.dtype} as a frame")


def is_camera_spec(spec: str) -> bool:
    """True for specs that name a camera (auto, picamera2[:N], an index, /dev/...), not a file."""
    spec = spec.strip()
    return spec == "auto" or spec.isdigit() or bool(re.fullmatch(r"picamera2?(?::\d+)?", spec)) or \
        (spec.startswith("/dev/") and not Path(spec).is_file() and not Path(spec).is_dir())
