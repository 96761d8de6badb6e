"""Test and demo footage made from FER2013 faces: frames and videos where Haar reliably finds the face.

FER2013 crops are 48x48 gray and tight (forehead to chin). Upscaled to ~200 px, given a blurred margin
that fades into the background, and placed on a 640x480 frame, about 78% of random crops are found by
OpenCV's frontal-face cascade at ``DetectConfig()`` defaults (sad 70% ... disgust 86%). ``pick_faces``
keeps only faces a stricter cascade finds at four sizes and places (66% of crops pass), and clips made
of those were detected in 100% of their frames (10 clips, 1000 mp4v frames, the cascade on each).

    python -m benchmarks.clips --out /tmp/clip.mp4      # a happy -> sad clip, and its detection rate

The images are never committed: everything here reads them from the FER2013 folder at run time.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
FER2013_DIR = Path(os.environ.get("FER2013_DIR", ROOT.parent / "shared" / "datasets" / "fer2013"))

FRAME_SIZE = (640, 480)  # w, h
FACE_SIZE = 200  # upscaled face side, px
MARGIN = 0.3  # blurred border around the face, as a fraction of its side

Box = tuple[int, int, int, int]


# -- faces ---------------------------------------------------------------------------------------

def no_fer2013(where: Path | str) -> str:
    """The one line for a missing FER2013: what it is and where to put it."""
    from converter.data import FER2013_HINT  # light: numpy and cv2, no TensorFlow

    return f"no FER2013 at {where}. {FER2013_HINT}; or run `python -m edge --source demo`, which needs none"


def fer_files(fer_dir: Path | str, emotion: str, split: str = "val") -> list[Path]:
    """The FER2013 image paths of one emotion, sorted; ``FileNotFoundError`` if the folder is absent."""
    folder = Path(fer_dir) / split / emotion
    if not folder.is_dir():
        raise FileNotFoundError(no_fer2013(folder))
    return sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))


def load_face(path: Path | str) -> np.ndarray:
    """A FER2013 face as a 48x48 uint8 gray array."""
    face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if face is None:
        raise ValueError(f"cannot read face image {path}")
    return face


def face_patch(face: np.ndarray, size: int = FACE_SIZE, margin: float = MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """The face upscaled to ``size`` with a blurred, replicated border ``margin * size`` wide on each side.

    Returns (gray patch, alpha) of the same shape: alpha is 1 over the face and fades to 0 at the patch's
    edge, so the border melts into any background.
    """
    gray = face if face.ndim == 2 else cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    up = cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)
    m = int(round(margin * size))
    if m == 0:
        return up, np.ones(up.shape, np.float32)
    padded = cv2.copyMakeBorder(up, m, m, m, m, cv2.BORDER_REPLICATE)
    blurred = cv2.GaussianBlur(padded, (0, 0), size / 10)
    inner = np.zeros(padded.shape, np.float32)
    inner[m:m + size, m:m + size] = 1.0
    inner = cv2.GaussianBlur(inner, (0, 0), max(1.0, size / 40))  # the face's own edge, softened
    patch = inner * padded + (1.0 - inner) * blurred
    ph, pw = padded.shape
    ys, xs = np.arange(ph)[:, None], np.arange(pw)[None, :]
    edge = np.minimum(np.minimum(ys, ph - 1 - ys), np.minimum(xs, pw - 1 - xs))  # px to the patch's edge
    alpha = np.clip(edge / float(m), 0.0, 1.0).astype(np.float32)
    return np.clip(patch, 0, 255).astype(np.uint8), alpha


def background(frame_size: tuple[int, int] = FRAME_SIZE, kind: str = "texture", seed: int = 0) -> np.ndarray:
    """A BGR background: ``plain`` mid-gray, or ``texture`` (a soft, wall-like colour gradient with noise)."""
    return _background(tuple(frame_size), kind, seed).copy()


@functools.lru_cache(maxsize=8)
def _background(frame_size: tuple[int, int], kind: str, seed: int) -> np.ndarray:
    w, h = frame_size
    if kind == "plain":
        return np.full((h, w, 3), 128, np.uint8)
    if kind != "texture":
        raise ValueError(f"background kind must be 'plain' or 'texture', got {kind!r}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([110 + 30 * xx / w, 120 + 20 * yy / h, 135 - 25 * xx / w], axis=2)
    blobs = cv2.GaussianBlur(rng.normal(0, 60, (h, w)).astype(np.float32), (0, 0), 25)[..., None]
    grain = rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    return np.clip(base + blobs + grain, 0, 255).astype(np.uint8)


def face_canvas(faces: Sequence[np.ndarray], positions: Sequence[tuple[int, int]],
                frame_size: tuple[int, int] = FRAME_SIZE, size: int = FACE_SIZE, margin: float = MARGIN,
                bg: np.ndarray | str = "texture", seed: int = 0) -> np.ndarray:
    """A BGR frame with each 48x48 face upscaled to ``size`` and its top-left corner at ``positions[i]``
    (face ``i`` covers ``(x, y, size, size)``; faces may hang over the frame's edge). ``bg`` is an image
    or a ``background`` kind."""
    if len(faces) != len(positions):
        raise ValueError(f"{len(faces)} faces but {len(positions)} positions")
    image = background(frame_size, bg, seed) if isinstance(bg, str) else bg.copy()
    m = int(round(margin * size))
    for face, (x, y) in zip(faces, positions):
        paste(image, *face_patch(face, size, margin), int(x) - m, int(y) - m)
    return image


def paste(image: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    """Blend a gray ``patch`` (with its ``alpha``) into the BGR ``image`` in place, its top-left corner at
    (``x0``, ``y0``); the parts outside the image are cut off."""
    fh, fw = image.shape[:2]
    ph, pw = patch.shape
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(fw, x0 + pw), min(fh, y0 + ph)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    p = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0].astype(np.float32)[..., None]
    a = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0][..., None]
    region = image[cy0:cy1, cx0:cx1].astype(np.float32)
    image[cy0:cy1, cx0:cx1] = np.clip(a * p + (1 - a) * region, 0, 255).astype(np.uint8)


# -- checking with the real detector ------------------------------------------------------------

#: ``pick_faces`` checks with a stricter cascade than the runtime's (min_neighbors 5), so that the faces it
#: keeps are found at any pixel offset: clips of them were detected in 100% of frames, against 87-100% for
#: faces picked at 5 (Haar is sensitive to where the face falls on its scan grid).
PICK_NEIGHBORS = 10


def _default_detector(min_neighbors: int | None = None):
    from edge.detect import DetectConfig, FaceFinder

    return FaceFinder(DetectConfig() if min_neighbors is None else DetectConfig(min_neighbors=min_neighbors))


def hits(boxes: Iterable[Box], face_box: Box) -> bool:
    """Whether some detected box is this face: its centre inside the face, its side 0.5-1.5x the face's."""
    fx, fy, fw, fh = face_box
    for x, y, w, h in boxes:
        cx, cy = x + w / 2, y + h / 2
        if fx <= cx <= fx + fw and fy <= cy <= fy + fh and 0.5 * fw <= w <= 1.5 * fw:
            return True
    return False


#: Where ``pick_faces`` tries each face: (size, x, y) in a 640x480 frame.
CHECKS: tuple[tuple[int, int, int], ...] = ((200, 220, 140), (160, 60, 80), (220, 380, 200), (180, 300, 40))


def detected(face: np.ndarray, detector=None, checks: Sequence[tuple[int, int, int]] = CHECKS,
             bg: str = "texture") -> int:
    """In how many of ``checks`` (size, x, y) the detector finds ``face`` where it was put."""
    detector = detector or _default_detector()
    found = 0
    for i, (size, x, y) in enumerate(checks):
        frame = face_canvas([face], [(x, y)], size=size, bg=bg, seed=i)
        if hits(detector.detect(frame), (x, y, size, size)):
            found += 1
    return found


def pick_faces(fer_dir: Path | str, emotion: str, n: int, detector=None, split: str = "val", seed: int = 0,
               checks: Sequence[tuple[int, int, int]] = CHECKS, limit: int = 400,
               accept: Callable[[np.ndarray, str], bool] | None = None) -> list[np.ndarray]:
    """``n`` faces of ``emotion`` that the detector finds in every one of ``checks`` (sizes and places),
    from a seeded shuffle of the split; ``ValueError`` if fewer than ``n`` of the first ``limit`` pass.
    ``detector`` (anything with ``detect(image) -> boxes``) defaults to the strict ``PICK_NEIGHBORS`` one;
    ``accept(face, emotion)`` is an extra test, e.g. that a model classifies the face right."""
    detector = detector or _default_detector(PICK_NEIGHBORS)
    files = fer_files(fer_dir, emotion, split)
    order = np.random.default_rng(seed).permutation(len(files))
    picked: list[np.ndarray] = []
    tried = 0
    for i in order[:limit]:
        face = load_face(files[i])
        tried += 1
        if detected(face, detector, checks) == len(checks) and (accept is None or accept(face, emotion)):
            picked.append(face)
            if len(picked) == n:
                log.debug("pick_faces %s: %d of %d tried pass", emotion, n, tried)
                return picked
    raise ValueError(f"only {len(picked)} of {tried} {emotion} faces in {fer_dir}/{split} pass the detector; "
                     "ask for fewer or raise limit")


# -- videos --------------------------------------------------------------------------------------

def write_video(path: Path | str, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write BGR frames (all one size) to an .mp4 (mp4v); returns how many were written."""
    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
                if not writer.isOpened():
                    raise OSError(f"cannot write video {path}: check the folder exists and is writable")
            writer.write(np.ascontiguousarray(frame))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def empty_video(path: Path | str, frames: int, fps: float = 10.0, frame_size: tuple[int, int] = FRAME_SIZE,
                kind: str = "texture", seed: int = 3) -> Path:
    """A video of ``frames`` frames of one background and no face; returns ``path``."""
    bg = background(frame_size, kind=kind, seed=seed)
    write_video(path, (bg for _ in range(frames)), fps)
    return Path(path)


@dataclass
class Clip:
    """A made clip and its ground truth, one entry per frame."""

    path: Path
    fps: float
    labels: list[str] = field(default_factory=list)  # the expression shown
    boxes: list[Box] = field(default_factory=list)  # where the (upscaled) face is

    @property
    def frames(self) -> int:
        return len(self.labels)


def clip_frames(faces: Sequence[tuple[str, np.ndarray, int]], frame_size: tuple[int, int] = FRAME_SIZE,
                size: int = FACE_SIZE, drift: int = 12, bg: str = "texture", seed: int = 0):
    """Yield (frame, label, box) for ``faces`` = [(label, face, frames)], one segment after another, the
    face near the centre drifting gently (``drift`` px) over a fixed background."""
    backdrop = background(frame_size, bg, seed)
    w, h = frame_size
    cx, cy = (w - size) // 2, (h - size) // 2
    i = 0
    for label, face, count in faces:
        for _ in range(count):
            x = cx + int(round(drift * np.sin(2 * np.pi * i / 40)))
            y = cy + int(round(drift / 2 * np.sin(2 * np.pi * i / 27)))
            yield face_canvas([face], [(x, y)], frame_size, size, bg=backdrop), label, (x, y, size, size)
            i += 1


def make_clip(path: Path | str, segments: Sequence[tuple[str, float]] = (("happy", 3.0), ("sad", 3.0)),
              fps: float = 10.0, fer_dir: Path | str = FER2013_DIR, size: int = FACE_SIZE, drift: int = 12,
              bg: str = "texture", seed: int = 0, detector=None, split: str = "val",
              frame_size: tuple[int, int] = FRAME_SIZE,
              accept: Callable[[np.ndarray, str], bool] | None = None) -> Clip:
    """A video of one face per segment: [("happy", 3.0), ("sad", 3.0)] shows a happy face for 3 s, then a
    sad one, drifting gently near the centre. Faces come from ``pick_faces`` (``detector``, ``accept``);
    returns the per-frame ground truth."""
    detector = detector or _default_detector(PICK_NEIGHBORS)
    plan = []
    for k, (emotion, seconds) in enumerate(segments):
        face = pick_faces(fer_dir, emotion, 1, detector, split=split, seed=seed + k, accept=accept)[0]
        plan.append((emotion, face, max(1, int(round(seconds * fps)))))
    clip = Clip(Path(path), float(fps))

    def frames():
        for frame, label, box in clip_frames(plan, frame_size, size, drift, bg, seed):
            clip.labels.append(label)
            clip.boxes.append(box)
            yield frame

    write_video(path, frames(), fps)
    return clip


def detection_rate(clip: Clip, detector=None) -> float:
    """The share of the clip's decoded frames in which the detector finds its face (cascade on every frame)."""
    detector = detector or _default_detector()
    cap = cv2.VideoCapture(str(clip.path))
    found = total = 0
    try:
        for box in clip.boxes:
            ok, frame = cap.read()
            if not ok:
                break
            total += 1
            found += hits(detector.detect(frame), box)
    finally:
        cap.release()
    return found / total if total else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clips", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="clip.mp4", help="the video to write")
    parser.add_argument("--fer", default=str(FER2013_DIR), help="FER2013 folder")
    parser.add_argument("--segments", default="happy:3,sad:3", help="emotion:seconds,...")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    segments = [(name, float(sec)) for name, sec in (s.split(":") for s in args.segments.split(","))]
    try:
        clip = make_clip(args.out, segments, args.fps, args.fer, seed=args.seed)
    except FileNotFoundError as e:  # no FER2013: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    log.info("%s: %d frames at %.0f fps (%s); the face is detected in %.1f%% of them", clip.path, clip.frames,
             clip.fps, " -> ".join(name for name, _ in segments), 100 * detection_rate(clip))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
