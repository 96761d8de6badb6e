"""Which camera a camera spec opens, and through what: decided once, by ``choose``, from what the system
shows (a ``Probe``); ``edge.sources.open_camera`` opens what it decided.

The inputs, gathered by ``probe()`` and passed in whole (so the rules are testable on any machine):

- ``picamera2``: ``Picamera2.global_camera_info()`` (dicts with ``Id``, ``Model``, ``Num`` ...), whose
  order is the index ``Picamera2(n)`` takes; or picamera2's import error, as text.
- ``nodes``: each ``/dev/videoN`` and its name from ``/sys/class/video4linux/videoN/name``.
- ``usb``: udev's stable names for USB cameras' capture nodes, ``/dev/v4l/by-id/*-video-index0``.

The rules for ``auto``, in order:

1. a libcamera camera whose ``Id`` has no ``/usb`` (a ribbon camera): picamera2. libcamera lists UVC
   webcams too (``Id`` ``/base/.../usb@...-1.2:1.0-046d:0825``), but through picamera2 their RGB888
   is adjusted to YUYV (gray frames) or MJPEG (RGB, not BGR): they go to OpenCV instead;
2. a USB camera by id: OpenCV, through its by-id name (stable across replugs and boots);
3. else ``/dev/video0`` (a webcam without a by-id name: no udev, a container): OpenCV, unless
4. its name says it is no webcam: a CSI receiver (``unicam-image`` on a Pi 0-4, ``rp1-cfe-*`` on a
   Pi 5: the ribbon camera's raw Bayer node, which only libcamera can drive), an ISP or a codec.
   Such a node is never opened as a webcam, whatever the spec.

A picamera2 that fails to import is a warning with its cause and fix (most often NumPy vs simplejpeg).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

SYSFS = Path("/sys/class/video4linux")
BY_ID = Path("/dev/v4l/by-id")
DEFAULT_DEVICE = "/dev/video0"

#: /sys/class/video4linux/*/name prefixes of the Pi's nodes that are not webcams (kernel drivers
#: bcm2835-unicam, rp1-cfe, bcm2835-isp, pisp_be, bcm2835-codec, rpi-hevc-dec; libcamera's
#: raspberrypi pipelines match "unicam-image", "rp1-cfe-csi2_ch0", "bcm2835-isp0-output0" ...).
NOT_WEBCAMS: tuple[tuple[str, str], ...] = (
    ("unicam", "the Pi's CSI receiver (the ribbon camera's raw node, for libcamera)"),
    ("rp1-cfe", "the Pi 5's CSI receiver (the ribbon camera's raw node, for libcamera)"),
    ("bcm2835-isp", "the Pi's ISP"),
    ("pispbe", "the Pi 5's ISP"),
    ("bcm2835-codec", "the Pi's video codec"),
    ("rpi-hevc-dec", "the Pi's HEVC decoder"),
)

NUMPY_FIX = "pip install --force-reinstall --no-deps simplejpeg"


@dataclasses.dataclass(frozen=True)
class Probe:
    """What the system shows about cameras (see the module's docstring)."""

    picamera2: tuple[Mapping[str, object], ...] | str = ()
    nodes: Mapping[str, str] = dataclasses.field(default_factory=dict)  # /dev/videoN -> sysfs name
    usb: tuple[str, ...] = ()  # /dev/v4l/by-id/*-video-index0, sorted


@dataclasses.dataclass(frozen=True)
class CameraChoice:
    """``backend`` "picamera2" (``device``: the index for ``Picamera2(n)``), "opencv" (``device``: an
    index or a /dev path) or "" (none: ``why`` says what to try); ``warnings`` go to the log once."""

    backend: str
    device: int | str | None
    why: str
    warnings: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.backend)

    def __str__(self) -> str:
        if not self.found:
            return f"no camera: {self.why}"
        return f"{self.backend} {self.device} ({self.why})"


def not_a_webcam(name: str) -> str:
    """What the node named ``name`` is when it is no webcam (see NOT_WEBCAMS), else ""."""
    return next((what for prefix, what in NOT_WEBCAMS if name.startswith(prefix)), "")


def import_hint(error: str) -> str:
    """The cause and fix for picamera2's import error ``error`` (its text)."""
    if re.search(r"numpy\.dtype size changed|binary incompatib|compiled using NumPy|_ARRAY_API|simplejpeg",
                 error):
        return (f"picamera2's simplejpeg was built for another NumPy than this venv's: {NUMPY_FIX} (or "
                "`pip install 'numpy<2'` if the venv pulled NumPy 2 over the system's)")
    if re.search(r"No module named '?(picamera2|libcamera)", error):
        return "install it with `sudo apt install python3-picamera2` and make the venv with --system-site-packages"
    return "`python3 -c 'import picamera2'` shows the whole error"


def choose(spec: str, probe: Probe) -> CameraChoice:
    """The camera ``spec`` (auto, picamera2[:N], an index, a /dev path) opens, from ``probe``. Pure."""
    spec = spec.strip()
    warnings: tuple[str, ...] = ()
    if isinstance(probe.picamera2, str) and not _just_not_a_pi(spec, probe):
        warnings = (f"picamera2 is not available ({probe.picamera2}): {import_hint(probe.picamera2)}",)
    match = re.fullmatch(r"picamera2?(?::(\d+))?", spec)
    if match:
        return dataclasses.replace(_picamera2(int(match.group(1) or 0), probe), warnings=warnings)
    if spec.isdigit() or spec.startswith("/dev/"):
        device: int | str = int(spec) if spec.isdigit() else spec
        node = f"/dev/video{spec}" if spec.isdigit() else spec
        what = not_a_webcam(probe.nodes.get(node, ""))
        if what:
            return CameraChoice("", None, f"{node} ({probe.nodes[node]}) is {what}, not a webcam: use --source "
                                          "picamera2 for a ribbon camera", warnings)
        return CameraChoice("opencv", device, "as asked", warnings)
    if spec != "auto":
        raise ValueError(f"{spec!r} is not a camera spec")
    return dataclasses.replace(_auto(probe), warnings=warnings)


def _just_not_a_pi(spec: str, probe: Probe) -> bool:
    """picamera2 is simply not installed, ``auto`` was asked and no CSI receiver is there: a laptop or a
    desktop, where its absence is nothing to warn about (on a Pi with a ribbon camera it is)."""
    absent = re.search(r"No module named '?(picamera2|libcamera)", str(probe.picamera2))
    receiver = any(name.startswith(("unicam", "rp1-cfe")) for name in probe.nodes.values())
    return bool(absent) and spec == "auto" and not receiver


def _picamera2(num: int, probe: Probe) -> CameraChoice:
    if isinstance(probe.picamera2, str):
        return CameraChoice("", None, f"picamera2 is not available: {import_hint(probe.picamera2)}")
    cameras = probe.picamera2
    if num >= len(cameras):
        return CameraChoice("", None, f"picamera2 sees {len(cameras)} camera(s), so no camera {num}: check the "
                                      "ribbon cable (contacts the right way) and `rpicam-hello --list-cameras`")
    info = cameras[num]
    notes = ()
    if "/usb" in str(info.get("Id", "")):
        notes = ("a USB camera through picamera2 may give gray or RGB frames: --source auto opens it through "
                 "OpenCV",)
    return CameraChoice("picamera2", num, f"{info.get('Model', '?')} at {info.get('Id', '?')}, as asked", notes)


def _auto(probe: Probe) -> CameraChoice:
    cameras = probe.picamera2 if not isinstance(probe.picamera2, str) else ()
    usb_in_libcamera = 0
    for num, info in enumerate(cameras):
        if "/usb" in str(info.get("Id", "")):
            usb_in_libcamera += 1
            continue
        return CameraChoice("picamera2", num, f"{info.get('Model', '?')} on the camera connector ({info.get('Id')})")
    if probe.usb:
        aside = "; libcamera lists it too, but OpenCV gives it in BGR" if usb_in_libcamera else ""
        return CameraChoice("opencv", probe.usb[0], f"USB camera{aside}")
    refused = [f"{node} ({name}: {not_a_webcam(name)})" for node, name in sorted(probe.nodes.items())
               if not_a_webcam(name)]
    name = probe.nodes.get(DEFAULT_DEVICE)
    if name is not None and not not_a_webcam(name):
        return CameraChoice("opencv", DEFAULT_DEVICE, f"{name}, the first video node (no /dev/v4l/by-id)")
    seen = "not available" if isinstance(probe.picamera2, str) else f"{len(cameras)} camera(s)"
    why = (f"no camera found (tried picamera2 and {DEFAULT_DEVICE}, and USB cameras in {BY_ID}; picamera2: {seen}"
           + (f"; not webcams: {', '.join(refused)}" if refused else "") + "): check the cable and "
           "`rpicam-hello --list-cameras` / `ls /dev/v4l/by-id`, or pass a video with --source clip.mp4 or a "
           "photo with --source photo.jpg, or watch the demo: --source demo")
    return CameraChoice("", None, why)


# -- gathering the inputs (the only part that looks at the system) -------------------------------------

def video_nodes(sysfs: Path = SYSFS) -> dict[str, str]:
    """``/dev/videoN`` -> its name, for every ``videoN`` under ``sysfs``."""
    nodes = {}
    try:
        entries = sorted(sysfs.iterdir(), key=lambda p: (len(p.name), p.name))
    except OSError:
        return {}
    for entry in entries:
        if re.fullmatch(r"video\d+", entry.name):
            try:
                nodes[f"/dev/{entry.name}"] = (entry / "name").read_text().strip()
            except OSError:
                nodes[f"/dev/{entry.name}"] = ""
    return nodes


def usb_cameras(by_id: Path = BY_ID) -> tuple[str, ...]:
    """udev's by-id names of USB cameras' capture nodes (``*-video-index0``), sorted."""
    try:
        return tuple(sorted(str(p) for p in by_id.glob("*-video-index0")))
    except OSError:
        return ()


def probe(picamera2_info: Callable[[], Sequence[Mapping[str, object]]], sysfs: Path = SYSFS,
          by_id: Path = BY_ID) -> Probe:
    """What this system shows now; ``picamera2_info`` is ``Picamera2.global_camera_info`` behind the
    import (``edge.sources.picam.camera_info``), whose failure is kept as its text."""
    try:
        cameras: tuple[Mapping[str, object], ...] | str = tuple(picamera2_info())
    except Exception as e:  # ImportError, or NumPy's ValueError from simplejpeg, or libcamera failing
        cameras = f"{type(e).__name__}: {e}"
    return Probe(cameras, video_nodes(sysfs), usb_cameras(by_id))
