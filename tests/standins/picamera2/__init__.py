"""STAND-IN for picamera2 (the real one needs a Raspberry Pi, libcamera and a camera): NOT picamera2.

Written from picamera2's own source (github.com/raspberrypi/picamera2, picamera2/picamera2.py and
request.py at v0.3.36), covering exactly what moodplayer calls:

- ``Picamera2.global_camera_info()``: one dict per camera with ``Model``, ``Location``, ``Rotation``,
  ``Id`` and ``Num``, sorted as picamera2 sorts them (``key=("/usb" not in Id, Id), reverse=True``: USB
  cameras last); ``Picamera2(n)`` takes an index into that list (``global_camera_info()[n]['Num']``).
- ``create_video_configuration(main=, lores=, controls=)``: main defaults to XBGR8888 1280x720, lores
  to YUV420 at main's size; both aligned as ``align_stream(optimal=False)`` does (even sizes).
- ``configure(config)``: picamera2's checks (lores no larger than main; lores YUV on a VC4 Pi) and the
  strides libcamera sets (here: rows padded to 64 bytes, YUV420's chroma rows to half that).
- ``stream_configuration(name)``, ``start()``, ``stop()``, ``close()``.
- ``capture_request(wait=)``: as ``dispatch_functions``: ``wait`` None or True waits for a frame as long
  as it takes, a number waits that many seconds, then ``TimeoutError`` (concurrent.futures' TimeoutError,
  the builtin one since Python 3.11). Time is not simulated: a stalled camera with a numeric ``wait``
  raises at once, and with no bound raises ``StandInWouldBlock`` (the real one would hang forever).
- the request: ``make_array(name)`` (main RGB888: H x W x 3, B,G,R in memory), ``make_buffer(name)``
  (the whole buffer, 1-D, stride padding included: YUV420 as Y rows, then U, then V rows of half the
  stride), ``get_metadata()`` (``SensorTimestamp`` in ns), ``release()`` (reference counted).
- ``cancel_all_and_flush()``: added in 0.3.20 together with numeric ``wait`` (commit ddd2ca3). The
  ``Picamera2Before0320`` class is the same camera without it, as picamera2 0.3.19 and older.

The "hardware" (which cameras exist, what they see, when they stall) is set by tests with ``plug()``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

STANDIN = True


class StandInWouldBlock(RuntimeError):
    """The real picamera2 would wait forever here (a stalled camera, ``capture_request()`` with no wait)."""


def _scene(index: int, width: int, height: int) -> np.ndarray:
    """What the sensor sees: a gradient with a bright square that moves one pixel per frame (BGR)."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = x[None, :].astype(np.uint8)
    image[..., 1] = np.linspace(40, 200, height, dtype=np.float32)[:, None].astype(np.uint8)
    image[..., 2] = 90
    s = max(4, width // 8)
    x0 = (index * 1) % max(1, width - s)
    image[height // 3:height // 3 + s, x0:x0 + s] = 250
    return image


@dataclasses.dataclass
class Hardware:
    """The cameras attached, as libcamera would list them, and how they behave."""

    cameras: list[dict] = dataclasses.field(default_factory=lambda: [
        {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a"}])
    vc4: bool = True  # a Pi 4 or older (lores must be YUV)
    stall_after: int | None = None  # this many frames, then nothing comes ("Camera frontend has timed out")
    scene: Callable[[int, int, int], np.ndarray] = _scene
    # what happened, for the tests
    opened: list[int] = dataclasses.field(default_factory=list)
    closed: int = 0
    flushes: int = 0
    waits: list[Any] = dataclasses.field(default_factory=list)
    released: int = 0
    configs: list[dict] = dataclasses.field(default_factory=list)


HARDWARE = Hardware()


def plug(hardware: Hardware) -> Hardware:
    """Attach ``hardware`` (the stand-in's world) and return it."""
    global HARDWARE
    HARDWARE = hardware
    return hardware


def _align(stream: dict) -> None:
    """picamera2's ``align_stream(stream, optimal=False)``: even width and height."""
    w, h = stream["size"]
    stream["size"] = (w - w % 2, h - h % 2)


def _stride(fmt: str, width: int) -> int:
    bpp = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4, "YUV420": 1}[fmt]
    return -(-width * bpp // 64) * 64


class CompletedRequest:
    def __init__(self, cam: Picamera2, index: int) -> None:
        self.cam = cam
        self.index = index
        self.ref_count = 1
        self.config = {k: dict(v) for k, v in cam.camera_config.items() if isinstance(v, dict)}

    def _stream(self, name: str) -> dict:
        config = self.config.get(name)
        if config is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        return config

    def make_array(self, name: str) -> np.ndarray:
        config = self._stream(name)
        w, h = config["size"]
        if config["format"] not in ("RGB888", "BGR888"):
            raise NotImplementedError(f"the stand-in makes arrays of RGB888 only, not {config['format']}")
        image = HARDWARE.scene(self.index, w, h)  # RGB888 is B,G,R in memory
        return image if config["format"] == "RGB888" else image[..., ::-1].copy()

    def make_buffer(self, name: str) -> np.ndarray:
        config = self._stream(name)
        w, h = config["size"]
        stride = config["stride"]
        if config["format"] != "YUV420":
            raise NotImplementedError("the stand-in makes buffers of YUV420 only")
        main_w, main_h = self.config["main"]["size"]
        small = cv2.resize(HARDWARE.scene(self.index, main_w, main_h), (w, h), interpolation=cv2.INTER_AREA)
        i420 = cv2.cvtColor(small, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        buf = np.full(stride * h * 3 // 2, 0xEE, np.uint8)  # padding that is not picture
        y, c = w * h, (w // 2) * (h // 2)
        buf[:stride * h].reshape(h, stride)[:, :w] = i420[:y].reshape(h, w)
        half = stride // 2
        u0, v0 = stride * h, stride * h + half * (h // 2)
        buf[u0:u0 + half * (h // 2)].reshape(h // 2, half)[:, :w // 2] = i420[y:y + c].reshape(h // 2, w // 2)
        buf[v0:v0 + half * (h // 2)].reshape(h // 2, half)[:, :w // 2] = i420[y + c:].reshape(h // 2, w // 2)
        return buf

    def get_metadata(self) -> dict:
        return {"SensorTimestamp": 7_000_000_000 + self.index * 66_666_667}

    def release(self) -> None:
        self.ref_count -= 1
        if self.ref_count < 0:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        HARDWARE.released += 1


class Picamera2:
    """The stand-in camera (see the module's docstring)."""

    @staticmethod
    def global_camera_info() -> list[dict]:
        cameras = [{**{k: v for k, v in cam.items() if k in ("Model", "Location", "Rotation")}, "Id": cam["Id"],
                    "Num": i} for i, cam in enumerate(HARDWARE.cameras)]
        return sorted(cameras, key=lambda cam: ("/usb" not in cam["Id"], cam["Id"]), reverse=True)

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_idx = self.global_camera_info()[camera_num]["Num"]  # IndexError as the real one
        self.camera_config: dict = {}
        self.started = False
        self.frames = 0
        self.is_open = True
        HARDWARE.opened.append(self.camera_idx)

    def create_video_configuration(self, main: dict | None = None, lores: dict | None = None,
                                   controls: dict | None = None) -> dict:
        main = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True, **(main or {})}
        _align(main)
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], "preserve_ar": False, **lores}
            _align(lores)
        return {"use_case": "video", "buffer_count": 6, "queue": True, "main": main, "lores": lores, "raw": None,
                "controls": dict(controls or {})}

    def configure(self, config: dict) -> None:
        lores = config.get("lores")
        if lores is not None:
            (mw, mh), (lw, lh) = config["main"]["size"], lores["size"]
            if lw > mw or lh > mh:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if HARDWARE.vc4 and lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
        self.camera_config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
        for name in ("main", "lores"):
            stream = self.camera_config.get(name)
            if stream is not None:
                stream["stride"] = _stride(stream["format"], stream["size"][0])
        HARDWARE.configs.append(self.camera_config)

    def stream_configuration(self, name: str = "main") -> dict:
        return self.camera_config[name]

    def start(self) -> None:
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def capture_request(self, wait: Any = None, signal_function: Any = None, flush: Any = None) -> CompletedRequest:
        HARDWARE.waits.append(wait)
        stalled = HARDWARE.stall_after is not None and self.frames >= HARDWARE.stall_after
        if stalled:
            if wait is None or wait is True:
                raise StandInWouldBlock("capture_request() without a timeout on a stalled camera blocks forever")
            raise TimeoutError()  # Job.get_result(timeout) -> concurrent.futures.TimeoutError
        self.frames += 1
        return CompletedRequest(self, self.frames - 1)

    def cancel_all_and_flush(self) -> None:
        HARDWARE.flushes += 1

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            HARDWARE.closed += 1


class Picamera2Before0320(Picamera2):
    """picamera2 0.3.19 and older: no ``cancel_all_and_flush`` (and no numeric ``wait``)."""

    cancel_all_and_flush = None  # type: ignore[assignment]
