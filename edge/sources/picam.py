"""A Raspberry Pi camera through picamera2 (libcamera). ``picamera2`` is imported only in here."""

from __future__ import annotations

import logging
import time
from typing import Any

from edge.sources.base import Source, SourceConfig, SourceError, as_bgr8
from edge.types import Frame

log = logging.getLogger(__name__)

INSTALL_HINT = ("install it with `sudo apt install python3-picamera2` and make the venv with "
                "--system-site-packages")


def import_picamera2() -> Any:
    """The ``Picamera2`` class, or ``SourceError`` saying how to install it."""
    try:
        from picamera2 import Picamera2
    except Exception as e:  # ImportError, or libcamera failing to load
        raise SourceError(f"picamera2 is not available ({e}): {INSTALL_HINT}") from None
    return Picamera2


def picamera2_cameras() -> int:
    """How many cameras libcamera sees (0 when picamera2 is missing or broken)."""
    try:
        return len(import_picamera2().global_camera_info())
    except Exception as e:
        log.debug("picamera2: %s", e)
        return 0


class PicameraSource(Source):
    """Frames from a libcamera camera: main stream RGB888 (B,G,R in memory, what OpenCV wants) at
    width x height; ``t`` from the sensor timestamp, relative to the first frame."""

    live = True

    def __init__(self, cfg: SourceConfig, camera_num: int = 0) -> None:
        super().__init__(realtime=False)
        Picamera2 = import_picamera2()
        self.name = f"picamera2 {camera_num}"
        self.fps = cfg.fps
        self._cfg = cfg
        self.camera_num = camera_num
        self._swap = cfg.color_order == "rgb"
        self._index = 0
        self._t0_ns: int | None = None
        self._t0 = time.monotonic()
        try:
            if not Picamera2.global_camera_info():
                raise SourceError("picamera2 finds no camera: check the ribbon cable (contacts facing the right "
                                  "way) and `rpicam-hello --list-cameras`, or pass --source 0 for a USB webcam")
            self._cam = Picamera2(camera_num)
            config = self._cam.create_video_configuration(
                main={"size": (cfg.width, cfg.height), "format": "RGB888"},
                controls={"FrameRate": float(cfg.fps)})
            self._cam.configure(config)
            self._cam.start()
        except SourceError:
            raise
        except Exception as e:
            self.close()
            raise SourceError(f"picamera2 camera {camera_num} did not start ({e}): is another program using it? "
                              "try `rpicam-hello`, or pass --source 0 for a USB webcam") from None

    def read(self) -> Frame | None:
        if self._closed:
            return None
        try:
            request = self._cam.capture_request()
            try:
                image = request.make_array("main")
                metadata = request.get_metadata()
            finally:
                request.release()  # buffers must go back to libcamera
        except Exception as e:
            log.warning("picamera2 read failed: %s", e)
            return None
        stamp = metadata.get("SensorTimestamp") if isinstance(metadata, dict) else None
        if stamp is not None:
            if self._t0_ns is None:
                self._t0_ns = int(stamp)
            t = (int(stamp) - self._t0_ns) / 1e9
        else:
            t = time.monotonic() - self._t0
        frame = Frame(as_bgr8(image, swap_rb=self._swap), t, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        cam = getattr(self, "_cam", None)
        if cam is not None:
            try:
                cam.stop()
                cam.close()
            except Exception as e:  # closing must not hide the error that got us here
                log.debug("picamera2 close: %s", e)
