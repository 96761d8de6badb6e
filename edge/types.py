"""The plain values that flow between stages: numpy arrays in frozen dataclasses, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The seven FER2013 emotions, in the data set's alphabetical folder order.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

#: The room's mood when the filter is not sure enough to name an emotion.
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Frame:
    """One camera or video frame.

    ``t`` is seconds: capture time for cameras, media time for files. Every timing decision uses it,
    never the wall clock, so a video gives the same events at any speed.
    """

    image: np.ndarray  # H x W x 3 uint8, BGR
    t: float
    index: int
    #: A camera's own small copy for motion and detection, where it gives one (picamera2's ``lores``
    #: stream): YUV420 planar (I420), ``(h * 3 // 2) x w`` uint8, ``w x h`` about ``detect.detect_width``
    #: wide with the same aspect as ``image``. None: the finder shrinks ``image`` itself.
    lores: np.ndarray | None = None


@dataclass(frozen=True)
class Face:
    """A face box in full-frame pixels; ``track_id`` is stable while the face is tracked. ``eyes``, from a
    detector that finds them, are the two eyes' (x, y) centres in full-frame pixels, the one nearer the image's
    left edge first, so that the classifier can level the crop."""

    box: tuple[int, int, int, int]  # x, y, w, h
    track_id: int = 0
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None

    @property
    def area(self) -> int:
        return int(self.box[2]) * int(self.box[3])


@dataclass(frozen=True)
class Emotions:
    """Class probabilities for one face, in the bundle's label order."""

    probs: np.ndarray  # float32[len(labels)]
    labels: tuple[str, ...]

    @property
    def top(self) -> str:
        return self.labels[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))

    def as_dict(self) -> dict[str, float]:
        return {label: round(float(p), 4) for label, p in zip(self.labels, self.probs)}


@dataclass(frozen=True)
class Mood:
    """The room's mood: an emotion or ``"uncertain"``, and where it sits on the circumplex."""

    label: str
    confidence: float
    since: float  # frame time at which this mood took hold
    faces: int  # how many faces were counted
    valence: float = 0.0
    arousal: float = 0.0
    probs: dict[str, float] = field(default_factory=dict)
