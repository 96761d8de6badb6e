"""``--source demo``: the whole product without a camera or a data set. A short scene of two real
public-domain portraits (``demo_faces/README.md`` says where each comes from) that cross-fade into each
other, so the room's mood changes and the music follows: Grace Hopper, then Eileen Collins, then Grace
Hopper again. Nothing about the moods is scripted: the detector, the model and the mood stage read the
pictures as they would read a camera.

The scene plays in real time (so that the songs can be heard and the overlay watched) at
``source.fps``; frame time is ``index / fps``, as for a video file, so the events are the same at any
speed. The portraits drift a few pixels a second, as a sitter would, which keeps motion gating awake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.sources.base import Source, SourceConfig, SourceError
from edge.types import Frame

FACES = Path(__file__).resolve().parent / "demo_faces"

#: The canvas: a camera's usual 640x480.
WIDTH, HEIGHT = 640, 480
PORTRAIT_HEIGHT = 380  # px on the canvas
FADE_S = 0.5  # cross-fade between shots
DRIFT_PX = 6.0  # the sitter's sway, each way
BACKGROUND = (58, 52, 48)  # BGR


@dataclass(frozen=True)
class Shot:
    """One portrait on screen for ``seconds``; ``credit`` is printed under it."""

    file: str
    seconds: float
    credit: str


HOPPER = "Grace Hopper: U.S. Navy photo, public domain"
COLLINS = "Eileen Collins: NASA photo, public domain"

#: The scene, in order.
SCENE = (Shot("hopper.jpg", 4.0, HOPPER), Shot("collins.jpg", 4.5, COLLINS), Shot("hopper.jpg", 4.0, HOPPER))


def scene_seconds(scene: tuple[Shot, ...] = SCENE) -> float:
    return sum(shot.seconds for shot in scene)


class DemoSource(Source):
    """The demo scene as frames (``t = index / fps``), paced in real time; it ends after the last shot, or
    with ``source.loop`` plays again, ``t`` still increasing (a companion can steer it for as long as it likes)."""

    def __init__(self, cfg: SourceConfig, scene: tuple[Shot, ...] = SCENE, realtime: bool = True) -> None:
        super().__init__(realtime)
        self.name = "demo (public-domain portraits, edge/sources/demo_faces)"
        self.fps = cfg.fps
        self.scene = scene
        self._pictures = {shot.file: _portrait(FACES / shot.file) for shot in scene}
        self._frames = round(scene_seconds(scene) * self.fps)
        self._loop = cfg.loop
        self._index = 0

    def read(self) -> Frame | None:
        if self._closed or (self._index >= self._frames and not self._loop):
            return None
        t = self._index / self.fps
        frame = Frame(self.render((self._index % self._frames) / self.fps), t, self._index)
        self._index += 1
        return frame

    def render(self, t: float) -> np.ndarray:
        """The scene at ``t`` seconds: the shot on screen, cross-faded into the next at its end."""
        start = 0.0
        for i, shot in enumerate(self.scene):
            end = start + shot.seconds
            if t < end or i == len(self.scene) - 1:
                image = self._compose(shot, t)
                nxt = self.scene[i + 1] if i + 1 < len(self.scene) else None
                if nxt is not None and t > end - FADE_S:
                    mix = (t - (end - FADE_S)) / FADE_S
                    image = cv2.addWeighted(image, 1.0 - mix, self._compose(nxt, t), mix, 0.0)
                return image
            start = end
        raise AssertionError("unreachable")

    def _compose(self, shot: Shot, t: float) -> np.ndarray:
        canvas = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        canvas[:] = BACKGROUND
        picture = self._pictures[shot.file]
        h, w = picture.shape[:2]
        x = (WIDTH - w) // 2 + round(DRIFT_PX * math.sin(2 * math.pi * t / 3.0))
        y = (HEIGHT - 56 - h) // 2 + round(DRIFT_PX / 2 * math.sin(2 * math.pi * t / 4.0))
        canvas[y:y + h, x:x + w] = picture
        (text_w, _), _ = cv2.getTextSize(shot.credit, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)  # bottom right: the
        cv2.putText(canvas, shot.credit, (WIDTH - text_w - 10, HEIGHT - 36),  # overlay's song is bottom left
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (220, 220, 220), 1, cv2.LINE_AA)
        return canvas


def _portrait(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"demo picture {path} is missing or unreadable: restore it from the repository "
                          "(git checkout -- edge/sources/demo_faces)")
    scale = PORTRAIT_HEIGHT / image.shape[0]
    size = (round(image.shape[1] * scale), PORTRAIT_HEIGHT)
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
