"""Frame sources: a Pi camera, an OpenCV camera, a video file, an image or a folder of images.

``open_source(SourceConfig(spec=...))`` picks the kind from the spec; every kind iterates ``Frame``s
(HxWx3 uint8 BGR, ``t`` in seconds, ``index``) and closes, also as a context manager::

    with open_source(SourceConfig(spec="clip.mp4")) as source:
        for frame in source:
            ...
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from edge.sources.base import Source, SourceConfig, SourceError, as_bgr8, is_camera_spec
from edge.sources.camera import CameraSource
from edge.sources.choice import DEFAULT_DEVICE, CameraChoice, Probe, choose, probe
from edge.sources.images import IMAGE_SUFFIXES, FolderSource, ImageSource
from edge.sources.picam import PicameraSource, camera_info, import_picamera2
from edge.sources.resilient import OnState, Resilient
from edge.sources.video import VideoSource

__all__ = ["Source", "SourceConfig", "SourceError", "open_source", "as_bgr8", "CameraSource", "FolderSource",
           "ImageSource", "PicameraSource", "Resilient", "VideoSource", "CameraAbsent", "DEFAULT_DEVICE", "EXIT_RESCAN",
           "open_camera"]

log = logging.getLogger(__name__)


class CameraAbsent(SourceError):
    """A service waited ``source.camera_wait_s`` for a camera that picamera2 could not see: the process
    ends (exit ``EXIT_RESCAN``) so that systemd starts a fresh one, whose libcamera looks again."""


#: The exit code for ``CameraAbsent`` (EX_TEMPFAIL): Restart=on-failure restarts on it.
EXIT_RESCAN = 75


def open_source(cfg: SourceConfig, *, stop: threading.Event | None = None, on_state: OnState | None = None,
                resilient: bool = True, wait_for_camera: bool = False, lores_width: int | None = None,
                look: Callable[[], Probe] | None = None) -> Source:
    """An open source for ``cfg.spec``; ``SourceError`` says what to try when there is none.

    A live camera comes wrapped in ``Resilient`` (unless ``resilient=False``): when it disappears it is
    reopened with backoff and the frames go on; ``stop`` ends such a wait, ``on_state(event, message)``
    hears "lost", "waiting" and "back" (see ``edge.sources.resilient``). With ``wait_for_camera`` (a
    service) a camera spec that finds no camera is an outage to wait out: each try looks again (sysfs,
    /dev/v4l/by-id); libcamera's list is read once per process, so where picamera2 is installed the wait
    ends after ``cfg.camera_wait_s`` with ``CameraAbsent`` (a fresh process sees new cameras). Once a
    camera ran, no outage ends the run. ``lores_width``: picamera2's lores stream width (Frame.lores).
    ``look``: what the system shows (``edge.sources.choice.probe`` on the real system; tests pass theirs).
    """
    spec = cfg.spec.strip()
    if not is_camera_spec(spec):
        return _open_file(cfg)
    look = look or _look
    seen = look()
    choice = choose(spec, seen)
    for warning in choice.warnings:
        log.warning("%s", warning)
    log.info("camera: %s", choice)
    try:
        source = open_camera(choice, cfg, lores_width)
    except SourceError as e:
        if not (wait_for_camera and resilient):
            raise
        bound: dict = {"give_up_s": None}
        if not isinstance(seen.picamera2, str) and not (spec.isdigit() or spec.startswith("/dev/")):
            # libcamera's list is stale in this process: bounded, then exit for a fresh one
            bound = {"give_up_s": cfg.camera_wait_s, "give_up": CameraAbsent}
        return Resilient.waiting(lambda: open_camera(_again(spec, look), cfg, lores_width), f"camera {spec}", str(e),
                                 stop=stop, on_state=on_state, **bound)
    if resilient:  # the same camera again (a retry stays quiet)
        return Resilient(lambda: open_camera(choice, cfg, lores_width), first=source, stop=stop, on_state=on_state,
                         **({"give_up_s": None} if wait_for_camera else {}))
    return source


def _look() -> Probe:
    return probe(camera_info)


def _again(spec: str, look: Callable[[], Probe]) -> CameraChoice:
    """A fresh decision for a retry (new USB cameras, nodes); logged at DEBUG."""
    choice = choose(spec, look())
    log.debug("camera (retry): %s", choice)
    return choice


def open_camera(choice: CameraChoice, cfg: SourceConfig, lores_width: int | None = None) -> Source:
    """Open what ``choose`` decided; ``SourceError`` when it found nothing or the camera did not open."""
    if choice.backend == "picamera2":
        try:
            picamera2 = import_picamera2()
        except Exception as e:
            raise SourceError(f"picamera2 is not available ({e})") from None
        return PicameraSource(cfg, int(choice.device), picamera2, lores_width)
    if choice.backend == "opencv":
        device = choice.device
        if isinstance(device, str) and not Path(device).exists():
            raise SourceError(f"no camera at {device}: check `ls /dev/video*` and the cable")
        return CameraSource(device, cfg)
    raise SourceError(choice.why)


def _open_file(cfg: SourceConfig) -> Source:
    spec = cfg.spec.strip()
    if spec == "demo":  # the demo scene: public-domain portraits, no camera or data set (edge.sources.demo)
        from edge.sources.demo import DemoSource

        return DemoSource(cfg)
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path, cfg)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageSource(path, cfg)
        return VideoSource(path, cfg)
    raise SourceError(f"no such file or folder: {spec} (a source is auto, picamera2, a camera index like 0, "
                      "a device like /dev/video0, a video, an image or a folder of images)")
