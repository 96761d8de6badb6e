"""A Raspberry Pi camera through picamera2 (libcamera). ``picamera2`` is imported only in here.

Two streams: ``main`` RGB888 (B,G,R in memory, what OpenCV wants) at width x height for the faces'
crops, ``--display`` and ``--record``; and ``lores``, YUV420 at about the detection width with the same
aspect, made by the ISP for free, delivered as ``Frame.lores`` (I420, ``(h*3//2) x w``: its Y plane is
the gray image motion and the detector need, no conversion or resize on the CPU).

A stalled camera ("Camera frontend has timed out"): on picamera2 0.3.20 or newer (it has
``cancel_all_and_flush``, added with timed waits) a capture waits at most ``CAPTURE_WAIT_S``; then the
jobs are cancelled, the camera closed and ``read`` returns None, and the retry layer
(``edge.sources.resilient``) reopens it. Older picamera2 waits without a bound, as before, and the log
says so at start: the service's watchdog is then what ends a stall.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edge.sources.base import Source, SourceConfig, SourceError, as_bgr8
from edge.types import Frame

log = logging.getLogger(__name__)

#: Longest wait for a frame on picamera2 >= 0.3.20 before the camera counts as stalled (seconds).
CAPTURE_WAIT_S = 2.0


def import_picamera2() -> Any:
    """The ``Picamera2`` class; raises what the import raised (ImportError, NumPy's ValueError ...)."""
    from picamera2 import Picamera2

    return Picamera2


def camera_info() -> Sequence[Mapping[str, object]]:
    """``Picamera2.global_camera_info()``: the cameras libcamera sees, in ``Picamera2(n)``'s order."""
    return import_picamera2().global_camera_info()


def has_capture_timeout(picamera2: Any) -> bool:
    """picamera2 0.3.20 added timed waits (``capture_request(wait=seconds)``) and ``cancel_all_and_flush``
    in one change: the method is the check."""
    return callable(getattr(picamera2, "cancel_all_and_flush", None))


def lores_size(main: tuple[int, int], width: int) -> tuple[int, int]:
    """A ``width``-wide size (never wider than ``main``) with ``main``'s aspect, both even (YUV420)."""
    w = max(2, min(width, main[0]) // 2 * 2)
    h = max(2, round(w * main[1] / main[0] / 2) * 2)
    return w, h


def i420(buffer: np.ndarray, size: tuple[int, int], stride: int) -> np.ndarray:
    """A YUV420 buffer (picamera2's ``make_buffer``: ``h`` Y rows of ``stride`` bytes, then ``h/2`` U rows
    and ``h/2`` V rows of ``stride/2``) as packed I420, ``(h*3//2) x w``, without the stride's padding."""
    w, h = size
    flat = buffer.reshape(-1)
    half, rows = stride // 2, h // 2
    y = flat[:stride * h].reshape(h, stride)[:, :w]
    u = flat[stride * h:stride * h + half * rows].reshape(rows, half)[:, :w // 2]
    v = flat[stride * h + half * rows:stride * h + 2 * half * rows].reshape(rows, half)[:, :w // 2]
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


class PicameraSource(Source):
    """Frames from a libcamera camera (``camera_num``: the index in ``global_camera_info()``), with
    ``lores`` at ``lores_width`` (None: no lores stream); ``t`` from the sensor timestamp."""

    live = True

    def __init__(self, cfg: SourceConfig, camera_num: int, picamera2: Any, lores_width: int | None = None) -> None:
        super().__init__(realtime=False)
        self.name = f"picamera2 {camera_num}"
        self.fps = cfg.fps
        self.camera_num = camera_num
        self._swap = cfg.color_order == "rgb"
        self._index = 0
        self._t0_ns: int | None = None
        self._t0 = time.monotonic()
        self._wait = CAPTURE_WAIT_S if has_capture_timeout(picamera2) else None
        self._lores: tuple[tuple[int, int], int] | None = None  # (size, stride) as libcamera set them
        self._cam = None
        try:
            self._cam = picamera2(camera_num)
            streams: dict[str, Any] = {"main": {"size": (cfg.width, cfg.height), "format": "RGB888"}}
            if lores_width is not None:
                streams["lores"] = {"size": lores_size((cfg.width, cfg.height), lores_width), "format": "YUV420"}
            config = self._cam.create_video_configuration(**streams, controls={"FrameRate": float(cfg.fps)})
            self._cam.configure(config)
            if lores_width is not None:
                lores = self._cam.stream_configuration("lores")
                self._lores = (tuple(lores["size"]), int(lores["stride"]))
            self._cam.start()
        except Exception as e:
            self.close()
            raise SourceError(f"picamera2 camera {camera_num} did not start ({e}): is another program using it? "
                              "try `rpicam-hello`, or pass --source 0 for a USB webcam") from None
        if self._wait is None:
            log.info("picamera2 is older than 0.3.20 (no capture timeout): a stalled camera is ended by the "
                     "service's watchdog, not retried in place; `sudo apt upgrade python3-picamera2` fixes that")

    def read(self) -> Frame | None:
        if self._closed:
            return None
        try:
            request = self._cam.capture_request() if self._wait is None else self._cam.capture_request(
                wait=self._wait)
        except TimeoutError:
            self._stalled()
            return None
        except Exception as e:
            log.warning("picamera2 read failed: %s", e)
            return None
        try:
            image = request.make_array("main")
            lores = request.make_buffer("lores") if self._lores is not None else None
            metadata = request.get_metadata()
        except Exception as e:
            log.warning("picamera2 read failed: %s", e)
            return None
        finally:
            request.release()  # buffers must go back to libcamera
        return self._frame(image, lores, metadata)

    def _frame(self, image: np.ndarray, lores: np.ndarray | None, metadata: Any) -> Frame:
        stamp = metadata.get("SensorTimestamp") if isinstance(metadata, dict) else None
        if stamp is not None:
            if self._t0_ns is None:
                self._t0_ns = int(stamp)
            t = (int(stamp) - self._t0_ns) / 1e9
        else:
            t = time.monotonic() - self._t0
        small = i420(lores, *self._lores) if lores is not None and self._lores is not None else None
        frame = Frame(as_bgr8(image, swap_rb=self._swap), t, self._index, lores=small)
        self._index += 1
        return frame

    def _stalled(self) -> None:
        log.warning("%s: no frame within %.1f s (stalled): cancelling its jobs and closing it; it is reopened",
                    self.name, self._wait)
        try:
            self._cam.cancel_all_and_flush()
        except Exception as e:
            log.debug("picamera2 cancel_all_and_flush: %s", e)
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
                cam.close()
            except Exception as e:  # closing must not hide the error that got us here
                log.debug("picamera2 close: %s", e)
