"""Rooms for the CPU benchmark, as 640x480 videos at camera rate (15 fps), with ground truth per frame.

- ``empty``: a textured wall, sensor noise and a slow exposure drift, nobody there;
- ``still``: one FER2013 face holding still, with a live camera's wobble (a pixel or two of jitter,
  a slow 3 px sway) over the same noise;
- ``two_moving``: two faces moving about the frame (60-120 px swings, a few seconds a swing);
- ``come_go``: people coming and going: empty for 4 s, one walks in from the left (in 1 s) and stays,
  a second walks in from the right at 9 s, the first leaves at 14 s, the second at 18 s, empty after.
  Used for the timeline plot and for how soon a face entering an empty room is found.

Faces come from ``clips.pick_faces`` (FER2013 val, faces the strict cascade finds); nothing is
committed, the videos are made at run time and cached by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks import clips

FPS = 15.0
SIZE = 170  # face side, px
Box = tuple[int, int, int, int]
#: (frame time) -> the faces in view: (face index, x, y) each
Script = Callable[[float], list[tuple[int, int, int]]]
SCENES = ("empty", "still", "two_moving", "come_go")


@dataclass
class Scene:
    name: str
    path: Path
    fps: float
    boxes: list[list[Box]] = field(default_factory=list)  # per frame, the faces in view

    @property
    def frames(self) -> int:
        return len(self.boxes)


def _slide(t: float, start: float, seconds: float, x0: float, x1: float) -> float:
    u = min(1.0, max(0.0, (t - start) / seconds))
    return x0 + (x1 - x0) * u


def script(name: str) -> Script:
    """Where the faces are at frame time ``t`` in scene ``name``."""
    if name == "empty":
        return lambda t: []
    if name == "still":
        return lambda t: [(0, 235 + int(round(3 * np.sin(2 * np.pi * t / 6))), 150)]
    if name == "two_moving":
        return lambda t: [(0, 120 + int(round(90 * np.sin(2 * np.pi * t / 5))), 60 + int(round(30 * np.sin(t)))),
                          (1, 380 + int(round(60 * np.sin(2 * np.pi * t / 3 + 1))), 250)]
    if name == "come_go":
        def come_go(t: float) -> list[tuple[int, int, int]]:
            out = []
            if 4.0 <= t < 15.0:  # walks in from the left (4-5 s), leaves to the left (14-15 s)
                x = _slide(t, 4.0, 1.0, -SIZE, 120) if t < 14.0 else _slide(t, 14.0, 1.0, 120, -SIZE)
                out.append((0, int(round(x)), 140))
            if 9.0 <= t < 19.0:  # from the right (9-10 s), leaves to the right (18-19 s)
                x = _slide(t, 9.0, 1.0, 640, 380) if t < 18.0 else _slide(t, 18.0, 1.0, 380, 640)
                out.append((1, int(round(x)), 170))
            return out
        return come_go
    raise ValueError(f"unknown scene {name!r} (scenes: {', '.join(SCENES)})")


def render(name: str, faces: Sequence[np.ndarray], seconds: float, fps: float = FPS,
           seed: int = 0) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """(BGR frame, boxes of the faces in view) for each frame of the scene."""
    where = script(name)
    backdrop = clips.background(clips.FRAME_SIZE, "texture", seed)
    rng = np.random.default_rng(seed)
    cv2.setRNGSeed(seed)
    noise = [cv2.randn(np.empty(backdrop.shape, np.int16), 0, 3) for _ in range(8)]
    patches = [clips.face_patch(f, SIZE) for f in faces]
    m = int(round(clips.MARGIN * SIZE))
    for i in range(int(round(seconds * fps))):
        t = i / fps
        image = backdrop.copy()
        boxes = []
        for k, x, y in where(t):
            jx, jy = (int(rng.integers(-1, 2)), int(rng.integers(-1, 2))) if name == "still" else (0, 0)
            clips.paste(image, *patches[k], x + jx - m, y + jy - m)
            boxes.append((x + jx, y + jy, SIZE, SIZE))
        gain = 1.0 + 0.03 * np.sin(2 * np.pi * t / 11)
        image = cv2.add(cv2.convertScaleAbs(image, alpha=gain), noise[i % len(noise)], dtype=cv2.CV_8U)
        yield image, boxes


def make(name: str, path: Path, seconds: float, fer_dir: Path | None, fps: float = FPS, seed: int = 0) -> Scene:
    """Write scene ``name`` to ``path`` (mp4v); faces from ``fer_dir`` (not needed for ``empty``)."""
    faces: list[np.ndarray] = []
    if name != "empty":
        if fer_dir is None:
            raise FileNotFoundError(f"scene {name!r} needs FER2013 faces: {clips.no_fer2013(clips.FER2013_DIR)}")
        faces = clips.pick_faces(fer_dir, "happy", 1, seed=seed) + clips.pick_faces(fer_dir, "surprise", 1, seed=seed)
    scene = Scene(name, Path(path), fps)

    def frames() -> Iterator[np.ndarray]:
        for image, boxes in render(name, faces, seconds, fps, seed):
            scene.boxes.append(boxes)
            yield image

    clips.write_video(path, frames(), fps)
    return scene


def entries(scene: Scene) -> list[tuple[int, Box]]:
    """(frame index, box) where a face has just come wholly into view (it was not, the frame before)."""
    out = []
    w, h = clips.FRAME_SIZE
    inside = [[b for b in boxes if b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= w and b[1] + b[3] <= h]
              for boxes in scene.boxes]
    for i in range(1, len(inside)):
        for box in inside[i]:
            if not any(abs(box[1] - b[1]) < 5 for b in inside[i - 1]):
                out.append((i, box))
    return out
