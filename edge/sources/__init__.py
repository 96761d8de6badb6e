"""Frame sources: a Pi camera, an OpenCV camera, a video file, an image or a folder of images.

``open_source(SourceConfig(spec=...))`` picks the kind from the spec; every kind iterates ``Frame``s
(HxWx3 uint8 BGR, ``t`` in seconds, ``index``) and closes, also as a context manager::

    with open_source(SourceConfig(spec="clip.mp4")) as source:
        for frame in source:
            ...
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Callable

from edge.sources.base import Source, SourceConfig, SourceError, as_bgr8, is_camera_spec
from edge.sources.camera import CameraSource
from edge.sources.images import IMAGE_SUFFIXES, FolderSource, ImageSource
from edge.sources.picam import PicameraSource, picamera2_cameras
from edge.sources.resilient import OnState, Resilient
from edge.sources.video import VideoSource

__all__ = ["Source", "SourceConfig", "SourceError", "open_source", "as_bgr8", "CameraSource", "FolderSource",
           "ImageSource", "PicameraSource", "Resilient", "VideoSource"]

log = logging.getLogger(__name__)

#: The camera ``auto`` tries after picamera2.
DEFAULT_DEVICE = "/dev/video0"


def open_source(cfg: SourceConfig, *, stop: threading.Event | None = None, on_state: OnState | None = None,
                resilient: bool = True, wait_for_camera: bool = False) -> Source:
    """An open source for ``cfg.spec``; ``SourceError`` says what to try when there is none.

    A live camera comes wrapped in ``Resilient`` (unless ``resilient=False``): when it disappears it is
    reopened with backoff and the frames go on; ``stop`` ends such a wait, ``on_state(event, message)``
    hears "lost", "waiting" and "back" (see ``edge.sources.resilient``). With ``wait_for_camera`` (a
    service) a camera spec that finds no camera is an outage to wait out, and no outage ever ends the run.
    """
    give_up = {"give_up_s": None} if wait_for_camera else {}
    try:
        source = _open(cfg)
    except SourceError as e:
        if not (wait_for_camera and resilient and is_camera_spec(cfg.spec)):
            raise
        return Resilient.waiting(lambda: _open(cfg), f"camera {cfg.spec.strip()}", str(e), stop=stop,
                                 on_state=on_state, **give_up)
    if resilient and source.live:
        return Resilient(_reopener(source, cfg), first=source, stop=stop, on_state=on_state, **give_up)
    return source


def _reopener(source: Source, cfg: SourceConfig) -> Callable[[], Source]:
    """Opens the same camera again (for ``auto``: the kind it found, so a retry stays quiet)."""
    if isinstance(source, PicameraSource):
        num = source.camera_num
        return lambda: PicameraSource(cfg, num)
    if isinstance(source, CameraSource):
        device = source.device
        return lambda: CameraSource(device, cfg)
    return lambda: _open(cfg)


def _open(cfg: SourceConfig) -> Source:
    spec = cfg.spec.strip()
    if spec == "auto":
        return _auto(cfg)
    match = re.fullmatch(r"picamera2?(?::(\d+))?", spec)
    if match:
        return PicameraSource(cfg, int(match.group(1) or 0))
    if spec.isdigit():
        return CameraSource(int(spec), cfg)
    path = Path(spec).expanduser()
    if spec.startswith("/dev/") and not path.is_file() and not path.is_dir():  # /dev/shm/clip.mp4 is a file
        if not path.exists():
            raise SourceError(f"no camera at {spec}: check `ls /dev/video*` and the cable")
        return CameraSource(spec, cfg)
    if path.is_dir():
        return FolderSource(path, cfg)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageSource(path, cfg)
        return VideoSource(path, cfg)
    raise SourceError(f"no such file or folder: {spec} (a source is auto, picamera2, a camera index like 0, "
                      "a device like /dev/video0, a video, an image or a folder of images)")


def _auto(cfg: SourceConfig) -> Source:
    """picamera2 if it is installed and sees a camera, else /dev/video0 if it opens."""
    if picamera2_cameras() > 0:
        try:
            source = PicameraSource(cfg)
            log.info("auto source: picamera2 camera 0")
            return source
        except SourceError as e:
            log.warning("auto source: %s; trying %s", e, DEFAULT_DEVICE)
    if Path(DEFAULT_DEVICE).exists():
        try:
            source = CameraSource(DEFAULT_DEVICE, cfg)
            log.info("auto source: %s (OpenCV)", DEFAULT_DEVICE)
            return source
        except SourceError as e:
            log.warning("auto source: %s", e)
    raise SourceError(f"no camera found (tried picamera2 and {DEFAULT_DEVICE}): pass a video with --source "
                      "clip.mp4 or a photo with --source photo.jpg (or a folder of them), or check the cable / "
                      "`ls /dev/video*`")
