"""Every camera-side stage's config dataclass, in one light module: no numpy, OpenCV or pygame, so
``edge.config`` (``--print-config``, the installer, the companion) loads none of them. Each stage module
re-exports its own (``edge.detect.DetectConfig`` is ``edge.settings.DetectConfig``); music's is in
``edge.music.config``, the companion's in ``edge.control`` and ``edge.web.config``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COLOR_ORDERS = ("bgr", "rgb")
#: What the overlay shows (``OverlayConfig.view``).
OVERLAY_VIEWS = ("camera", "now-playing")


def key(default: Any, help: str) -> Any:  # noqa: A002 (argparse's word)
    """A config key: its default and its one line of help (meaning, unit, allowed values), the one source
    for ``--help``, ``--print-config`` and the docs' key table::

        every: int = key(3, "run the detector on every Nth frame (frames; 1: every frame)")
    """
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from (each key's meaning is its help)."""

    spec: str = key("auto", "where frames come from: auto (a ribbon camera through picamera2, else a USB webcam, "
                    "else /dev/video0; it logs which) | picamera2 | demo | a camera index (0) or device "
                    "(/dev/video0) | a video file | an image | a folder of images")
    width: int = key(640, "frame width requested from a camera (px)")
    height: int = key(480, "frame height requested from a camera (px)")
    fps: float = key(15.0, "frame rate requested from a camera; also paces stills and folders (frames/s, > 0)")
    realtime: bool = key(False, "pace a video file at its own fps (false: as fast as the machine allows)")
    loop: bool = key(False, "restart a video file at its end, frame time still increasing "
                     "(a photo: repeat it as a video)")
    color_order: str = key("bgr", "camera byte order: bgr (picamera2's RGB888 is B,G,R in memory) "
                           "| rgb (sensors that swap R/B)")
    camera_wait_s: float = key(120.0, "under systemd, seconds to wait for a camera absent at start before the "
                                      "process exits 75 so that systemd restarts it and libcamera looks again "
                                      "(s, > 0; only where picamera2 is installed)")

    def __post_init__(self) -> None:
        if not self.spec.strip():
            raise ValueError("'spec' is empty: use auto, a camera index, a device, a video, an image or a folder")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"'width' and 'height' must be positive, got {self.width}x{self.height}")
        if not self.fps > 0:
            raise ValueError(f"'fps' must be positive, got {self.fps}")
        if not (0 < self.camera_wait_s < math.inf):
            raise ValueError(f"'camera_wait_s' must be a positive number of seconds, got {self.camera_wait_s}")
        if self.color_order not in COLOR_ORDERS:
            raise ValueError(f"'color_order' must be one of {', '.join(COLOR_ORDERS)}, got {self.color_order!r}")


#: The face detectors ``detect.method`` can name (``edge.detectors``).
DETECT_METHODS: tuple[str, ...] = ("haar", "blazeface")
#: BlazeFace's network as the project ships it (models/blazeface/README.md: where it comes from).
DEFAULT_BLAZEFACE = Path(__file__).resolve().parent.parent / "models" / "blazeface" / "face_detection_full_range.tflite"


@dataclass(frozen=True)
class DetectConfig:
    """Face detection (Haar or BlazeFace), motion gating and tracking. ``min_face`` is in full-frame pixels; ``lost_after``
    is how many detections in a row may miss a face before its track is dropped (1: at the first miss);
    ``heartbeat``, ``still_every`` and ``settle`` are seconds of frame time (``edge.motion``)."""

    detect_width: int = key(320, "the detector runs on a copy of the frame about this wide, never upscaled (px, >= 1)")
    every: int = key(3, "run the detector on every Nth frame, carry boxes in between (frames, >= 1)")
    scale_factor: float = key(1.1, "Haar: image pyramid step between scales (> 1.0; smaller: slower, finds more)")
    min_neighbors: int = key(5, "Haar: overlapping hits a face needs (>= 0; more: fewer false faces)")
    min_face: int = key(48, "smallest face looked for (full-frame px, >= 1)")
    max_faces: int = key(4, "most faces tracked at once, largest first (>= 1)")
    cascade: str = key("", "Haar cascade XML file (empty: OpenCV's haarcascade_frontalface_default.xml)")
    lost_after: int = key(2, "detections in a row that may miss a face before its track is dropped "
                          "(>= 1; 1: at the first miss)")
    equalize: bool = key(False, "equalize the histogram before detection (can help in dim, flat light)")
    match_iou: float = key(0.3, "a detection continues a track when their boxes overlap at least this much "
                           "(IoU, (0, 1])")
    gate: bool = key(True, "motion gating: detect when something moves "
                     "(false: on every `every`-th frame, whatever happens)")
    heartbeat: float = key(5.0, "time between detections in an empty, still room (s, >= 0)")
    still_every: float = key(1.0, "time between detections while tracked faces hold still (s, >= 0)")
    settle: float = key(0.5, "time of full-rate detection after the last motion (s, >= 0)")
    motion_width: int = key(80, "width of the motion detector's tiny copy (px, >= 1)")
    motion_threshold: int = key(25, "change in a pixel that counts as motion (gray levels 1..255)")
    motion_area: float = key(0.002, "share of the frame that must change to count as motion ([0, 1))")
    reread: float = key(0.2, "time between re-reads (classifications) of tracked faces between detections "
                        "(s, >= 0; 0: every frame)")
    threads: int = key(1, "OpenCV threads, process-wide (>= 0; 0: OpenCV's own default)")
    method: str = key("haar", "face detector: haar (OpenCV's cascade: frontal, upright faces) | blazeface "
                              "(MediaPipe's network: turned, tilted and dim faces too, and the eyes to level the crop)")
    blazeface_model: str = key("", "BlazeFace full-range .tflite file for method = blazeface (a "
                                   "face_detection_short_range.tflite beside it searches around tracked faces); "
                                   "empty: models/blazeface/face_detection_full_range.tflite")

    def __post_init__(self) -> None:
        if self.method not in DETECT_METHODS:
            close = difflib.get_close_matches(self.method, DETECT_METHODS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"'method' must be one of {', '.join(DETECT_METHODS)}, got {self.method!r}{hint}")
        for name in ("detect_width", "every", "min_face", "max_faces", "lost_after", "motion_width",
                     "motion_threshold"):
            if getattr(self, name) < 1:
                raise ValueError(f"'{name}' must be at least 1, got {getattr(self, name)}")
        for name in ("heartbeat", "still_every", "settle", "reread"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"'{name}' must be 0 or more seconds, got {getattr(self, name)}")
        if not 0.0 <= self.motion_area < 1.0:
            raise ValueError(f"'motion_area' must be in [0, 1) (a share of the frame), got {self.motion_area}")
        if self.threads < 0:
            raise ValueError(f"'threads' must be 0 (OpenCV's default) or more, got {self.threads}")
        if not self.scale_factor > 1.0:
            raise ValueError(f"'scale_factor' must be above 1.0 (e.g. 1.1), got {self.scale_factor}")
        if self.min_neighbors < 0:
            raise ValueError(f"'min_neighbors' must be 0 or more, got {self.min_neighbors}")
        if not 0.0 < self.match_iou <= 1.0:
            raise ValueError(f"'match_iou' must be in (0, 1], got {self.match_iou}")


#: The model that ships with the project (trained here; see models/README.md).
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "default"


@dataclass(frozen=True)
class ClassifyConfig:
    model: str = key("", "model bundle folder (empty: the embedded default, models/default)")
    threads: int = key(1, "TFLite interpreter threads (>= 1; one gives the least CPU a frame, docs/benchmarks.md)")
    tta_flip: bool = key(False, "also classify the mirrored face and average the two (twice the inference time)")

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"'threads' must be at least 1, got {self.threads}")

    @property
    def model_path(self) -> Path:
        return Path(self.model) if self.model else DEFAULT_MODEL


#: The ways to make one room vector from several faces (``MoodConfig.aggregate``).
AGGREGATES: tuple[str, ...] = ("weighted", "largest", "majority")


@dataclass(frozen=True)
class MoodConfig:
    """How the room's mood follows the faces; times in seconds of frame time. The defaults are
    measured, and each key's trade is in docs/stability.md (``python -m benchmarks.stability``).

    ``aggregate``: ``"weighted"`` averages the faces' smoothed probabilities with weight
    ``area x confidence``; ``"largest"`` uses the largest face only; ``"majority"`` gives each
    confident, untied face one vote for its smoothed top label (the room vector is the vote shares).

    Nobody in the room is the music's business (``music.idle_after``), not the mood's: the mood stays.
    """

    half_life: float = key(0.3, "half-life of each face's smoothing of its probabilities (s, > 0)")
    hold: float = key(1.5, "how long a new mood must stand, unbroken, before it is reported (s, >= 0)")
    margin: float = key(0.15, "a new mood must beat the playing one by this much "
                        "(probability, >= 0; keep it above tie_margin)")
    min_confidence: float = key(0.2, "a top room probability below this reads \"uncertain\" (probability, 0..1)")
    tie_margin: float = key(0.03, "the top two moods within this read \"uncertain\" (probability, >= 0)")
    aggregate: str = key("weighted", "one room mood from several faces: "
                         "weighted (by area x confidence) | largest | majority")
    forget_after: float = key(1.0, "a face not seen for this long leaves the smoothing and the room (s, > 0)")

    def __post_init__(self) -> None:
        positive = ("half_life", "forget_after")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"'{name}' must be > 0, got {getattr(self, name)!r}")
        for name in ("hold", "margin", "tie_margin"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"'{name}' must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"'min_confidence' must be within [0, 1], got {self.min_confidence!r}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"'aggregate' must be one of {', '.join(AGGREGATES)}, got {self.aggregate!r}")


@dataclass(frozen=True)
class OverlayConfig:
    """The overlay window (``--display``)."""

    fullscreen: bool = key(False, "overlay window fullscreen (HDMI)")
    width: int = key(0, "overlay window width (px; 0: the frame's width)")
    height: int = key(0, "overlay window height (px; 0: the frame's height)")
    view: str = key("camera", "what the overlay shows: camera (the image, face boxes and labels; for setting up) | "
                              "now-playing (the mood, the song and a valence/arousal dot, large; no camera image)")

    def __post_init__(self) -> None:
        if self.width < 0 or self.height < 0:
            raise ValueError(f"'width' and 'height' must be 0 (frame size) or positive, got {self.width}x{self.height}")
        if self.view not in OVERLAY_VIEWS:
            raise ValueError(f"'view' must be one of {', '.join(OVERLAY_VIEWS)}, got {self.view!r}")
