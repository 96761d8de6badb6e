"""Classify faces into emotions with a bundle's TFLite model: crop, preprocess, quantize, one batch."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from edge.bundle import Bundle, BundleError
from edge.interpreter import InterpreterError, load_interpreter
from edge.settings import DEFAULT_MODEL, ClassifyConfig  # noqa: F401 (re-exported: the stage's own config)
from edge.types import Emotions, Face, Frame

log = logging.getLogger(__name__)


_DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}
#: A bundle's ``preprocessing.interpolation`` -> OpenCV's resize flag (``converter.data`` uses it too).
RESIZE = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


def eye_angle(eyes: tuple[tuple[float, float], tuple[float, float]]) -> float:
    """The tilt of the line from the left eye to the right one, in degrees (image axes: y down, so a
    positive angle is a head tilted clockwise as seen on the screen)."""
    (lx, ly), (rx, ry) = eyes
    return math.degrees(math.atan2(ry - ly, rx - lx))


def level(image: np.ndarray, box: Sequence[int], eyes: tuple[tuple[float, float], tuple[float, float]],
          margin: float) -> np.ndarray:
    """The face ``box`` grown by ``margin`` of its sides, cut from ``image`` turned about the box's centre
    so that the eyes lie level (FER2013's faces are upright)::

        M = R(centre, eye_angle) then a shift of the centre to the crop's centre
        crop = warpAffine(image, M, (w (1 + 2 margin), h (1 + 2 margin)))

    One affine warp of the crop's pixels only (never the whole frame); beyond the frame's edge the border
    pixels repeat, as a tilted face near the edge needs corners that the frame lacks."""
    x, y, w, h = box
    cw, ch = max(1, int(round(w * (1 + 2 * margin)))), max(1, int(round(h * (1 + 2 * margin))))
    cx, cy = x + w / 2.0, y + h / 2.0
    rot = cv2.getRotationMatrix2D((cx, cy), eye_angle(eyes), 1.0)
    rot[:, 2] += (cw / 2.0 - cx, ch / 2.0 - cy)
    return cv2.warpAffine(image, rot, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Classifier:
    """Frame + faces -> one ``Emotions`` per face, driven entirely by the bundle's metadata."""

    def __init__(self, bundle: Bundle, threads: int | None = 1, tta_flip: bool = False, *,
                 interpreter: Any | None = None) -> None:
        """``interpreter``: a ready TFLite interpreter for ``bundle``'s model (default: one loaded with
        ``threads``); benchmarks pass one that times ``invoke``."""
        self.bundle = bundle
        self.labels = bundle.labels
        if tta_flip and bundle.extra.get("mirror_average"):
            log.info("%s already averages each face with its mirror image: flip TTA would only double the "
                     "work, so it is off", bundle.name)
            tta_flip = False
        self.tta_flip = tta_flip
        self._interp = interpreter if interpreter is not None else load_interpreter(bundle.model_path, threads)
        self._in = self._interp.get_input_details()[0]  # load_interpreter checked these can be read
        self._out = self._interp.get_output_details()[0]
        self._check_against_model()
        sig = self._in.get("shape_signature", self._in["shape"])
        self._resizable = int(sig[0]) == -1
        self._batch = int(self._in["shape"][0])
        spec = bundle.input
        self._mean = np.asarray(bundle.preprocessing.mean, np.float32)
        self._std = np.asarray(bundle.preprocessing.std, np.float32)
        self._size = (spec.width, spec.height)
        # A damaged model can load and allocate, then fail on its first invoke ("Input tensor 22 lacks
        # data"): one blank face now turns that into a start-up error instead of a failure mid-run.
        self.predict(np.zeros((1, spec.height, spec.width, spec.channels), np.uint8))

    def _check_against_model(self) -> None:
        """The metadata must describe this model: input size, channels, dtype, number of outputs."""
        spec, q, where = self.bundle.input, self.bundle.quantization, self.bundle.path / "model.json"
        shape = tuple(int(v) for v in self._in["shape"])
        if len(shape) != 4 or shape[1:] != (spec.height, spec.width, spec.channels):
            raise BundleError(f"{where}: 'input' says {spec.height}x{spec.width}x{spec.channels} but the model "
                              f"takes {shape[1:]}: the metadata does not belong to this model")
        n_out = int(self._out["shape"][-1])
        if n_out != len(self.labels):
            raise BundleError(f"{where}: {len(self.labels)} 'labels' but the model has {n_out} outputs")
        for side, detail in (("input", self._in), ("output", self._out)):
            actual = np.dtype(detail["dtype"]).name
            declared = getattr(q, f"{side}_dtype")
            if actual != declared:
                raise BundleError(f"{where}: 'quantization.{side}_dtype' is {declared} but the model's "
                                  f"{side} is {actual}")
            if actual in ("int8", "uint8"):  # scale and zero point must be the model's own, or every face reads wrong
                scale, zero = detail.get("quantization", (0.0, 0))
                declared_scale, declared_zero = getattr(q, f"{side}_scale"), getattr(q, f"{side}_zero_point")
                if not math.isclose(declared_scale, float(scale), rel_tol=1e-6) or declared_zero != int(zero):
                    raise BundleError(f"{where}: 'quantization.{side}_scale' / '{side}_zero_point' say "
                                      f"{declared_scale:g} / {declared_zero} but the model's {side} is quantized with "
                                      f"{float(scale):g} / {int(zero)}: the metadata does not belong to this model")

    # -- the parts, each usable alone -------------------------------------------------------------

    def crop(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face from a BGR frame, with the bundle's margin, in its color and size (uint8 HxWxC); levelled
        (``level``) when the face comes with its eyes."""
        m = self.bundle.preprocessing.crop_margin
        if face.eyes is not None:
            patch = level(image, face.box, face.eyes, m)
        else:
            x, y, w, h = face.box
            H, W = image.shape[:2]
            x0, y0 = max(0, int(round(x - m * w))), max(0, int(round(y - m * h)))
            x1, y1 = min(W, int(round(x + w + m * w))), min(H, int(round(y + h + m * h)))
            if x1 <= x0 or y1 <= y0:
                x0, y0, x1, y1 = 0, 0, W, H
            patch = image[y0:y1, x0:x1]
        color = self.bundle.input.color
        if color == "gray":
            patch = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch
        elif color == "rgb":
            patch = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)
        patch = cv2.resize(patch, self._size, interpolation=RESIZE[self.bundle.preprocessing.interpolation])
        return patch.reshape(self.bundle.input.height, self.bundle.input.width, self.bundle.input.channels)

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 faces (N x H x W x C, already cropped) -> float32 probabilities (N x labels)."""
        pixels = np.asarray(pixels)
        spec = self.bundle.input
        if pixels.ndim == 3:
            pixels = pixels[..., None]
        if pixels.shape[1:] != (spec.height, spec.width, spec.channels):
            raise ValueError(f"faces must be N x {spec.height} x {spec.width} x {spec.channels}, got {pixels.shape}")
        if len(pixels) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        probs = self._run(pixels)
        if self.tta_flip:
            probs = 0.5 * (probs + self._run(pixels[:, :, ::-1]))
        return probs

    def classify(self, frame: Frame, faces: Sequence[Face]) -> list[Emotions]:
        """One ``Emotions`` per face, all faces in one batch."""
        if not faces:
            return []
        batch = np.stack([self.crop(frame.image, f) for f in faces])
        return [Emotions(p, self.labels) for p in self.predict(batch)]

    # -- internals -------------------------------------------------------------------------------

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        x = self._quantize((pixels.astype(np.float32) - self._mean) / self._std)
        if self._resizable:
            return self._invoke(x)
        return np.concatenate([self._invoke(x[i:i + 1]) for i in range(len(x))])

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        q = self.bundle.quantization
        dtype = _DTYPES[q.input_dtype]
        if dtype is np.float32:
            return x
        info = np.iinfo(dtype)
        return np.clip(np.round(x / q.input_scale + q.input_zero_point), info.min, info.max).astype(dtype)

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        try:
            if len(x) != self._batch:
                self._interp.resize_tensor_input(self._in["index"], list(x.shape))
                self._interp.allocate_tensors()
                self._batch = len(x)
            self._interp.set_tensor(self._in["index"], np.ascontiguousarray(x))
            self._interp.invoke()
            y = self._interp.get_tensor(self._out["index"])
        except (RuntimeError, ValueError) as e:  # the runtime's own errors; one type for the loop to report
            raise InterpreterError(f"{self.bundle.model_path} failed to run ({e}): the model file is damaged or "
                                   "not a classifier; convert it again or use models/default") from None
        q = self.bundle.quantization
        if q.output_dtype != "float32":
            y = (y.astype(np.float32) - q.output_zero_point) * q.output_scale
        y = np.clip(y.astype(np.float32).reshape(len(x), -1), 0.0, None)
        total = y.sum(axis=1, keepdims=True)
        return np.divide(y, total, out=np.full_like(y, 1.0 / y.shape[1]), where=total > 0)
