"""The model bundle: ``model.tflite`` + ``model.json``, the one format the converter and the device share.

``load(dir)`` reads and validates a bundle and names the bad key when something is off; ``to_json`` /
``write_metadata`` are what the converter uses to write one. Nothing here needs TensorFlow.

``model.json`` (format version 1)::

    {
      "format": "moodplayer-bundle", "format_version": 1,
      "name": "default",
      "labels": ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"],
      "input": {"height": 48, "width": 48, "channels": 1, "color": "gray"},
      "preprocessing": {"mode": "0_1", "mean": [0.0], "std": [255.0], "crop_margin": 0.0,
                        "interpolation": "area"},
      "quantization": {"mode": "int8", "input_dtype": "int8", "input_scale": 0.0039,
                       "input_zero_point": -128, "output_dtype": "int8", "output_scale": 0.0039,
                       "output_zero_point": -128},
      "source": {"file": "model.keras", "sha256": "..."},
      "model_sha256": "...",   # of model.tflite: a changed or damaged file is refused at load
      "converter_version": "0.1.0",
      "verification": {"n": 500, "top1_agreement": 0.99, ...}
    }

Preprocessing maps a pixel ``p`` (0..255, gray or RGB in the model's channel order) to the model's
float input ``x = (p - mean[c]) / std[c]``; ``mode`` names the common cases (``0_1``: mean 0, std 255;
``-1_1``: mean 127.5, std 127.5; ``mean_std``: explicit values). ``interpolation`` is how a face is
resized to the input size, as the model was trained: ``area`` (crops from camera frames, shrunk; the
default, and what a bundle without the key means) or ``linear`` (bilinear, for models trained on 48x48
faces upscaled bilinearly, such as fer's mini-Xception).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import MoodplayerError

FORMAT = "moodplayer-bundle"
FORMAT_VERSION = 1
MODEL_FILE = "model.tflite"
META_FILE = "model.json"

#: Named input scalings: mode -> (mean, std) in pixel units.
SCALES: dict[str, tuple[float, float]] = {"0_1": (0.0, 255.0), "-1_1": (127.5, 127.5)}
QUANT_MODES = ("int8", "float16", "dynamic", "none")
COLORS = ("gray", "rgb", "bgr")
#: Resize interpolations a bundle may name (``edge.classify.RESIZE`` maps them to OpenCV's flags).
INTERPOLATIONS = ("area", "linear")


class BundleError(MoodplayerError, ValueError):
    """A bundle is missing, unreadable or inconsistent; the message says which file or key."""


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    channels: int
    color: str  # gray | rgb | bgr


@dataclass(frozen=True)
class Preprocessing:
    mode: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_margin: float = 0.0  # fraction of the face box added on each side before resizing
    interpolation: str = "area"  # resize to the input size: one of INTERPOLATIONS

    @classmethod
    def named(cls, mode: str, channels: int = 1, crop_margin: float = 0.0,
              interpolation: str = "area") -> Preprocessing:
        """``0_1`` or ``-1_1`` for ``channels`` channels."""
        if mode not in SCALES:
            raise BundleError(f"unknown input scale {mode!r}: use one of {', '.join(SCALES)} or mean_std")
        mean, std = SCALES[mode]
        return cls(mode, (mean,) * channels, (std,) * channels, crop_margin, interpolation)

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels (..., C) -> the model's float32 input."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return (pixels.astype(np.float32) - mean) / std


@dataclass(frozen=True)
class Quantization:
    mode: str  # int8 | float16 | dynamic | none
    input_dtype: str = "float32"
    input_scale: float = 0.0
    input_zero_point: int = 0
    output_dtype: str = "float32"
    output_scale: float = 0.0
    output_zero_point: int = 0


@dataclass(frozen=True)
class Bundle:
    """A validated bundle on disk."""

    path: Path
    name: str
    labels: tuple[str, ...]
    input: InputSpec
    preprocessing: Preprocessing
    quantization: Quantization
    source: dict[str, Any] = field(default_factory=dict)
    converter_version: str = ""
    verification: dict[str, Any] = field(default_factory=dict)
    model_sha256: str = ""  # of model.tflite; empty: not checked
    extra: dict[str, Any] = field(default_factory=dict)  # other top-level keys, kept as they are

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "labels": list(self.labels),
            "input": asdict(self.input),
            "preprocessing": {**asdict(self.preprocessing), "mean": list(self.preprocessing.mean),
                              "std": list(self.preprocessing.std)},
            "quantization": asdict(self.quantization),
            "source": dict(self.source),
            "converter_version": self.converter_version,
            "verification": dict(self.verification),
        }
        if self.model_sha256:
            data["model_sha256"] = self.model_sha256
        data.update(self.extra)
        return data


def write_metadata(bundle: Bundle, directory: Path | str) -> Path:
    """Write ``model.json`` for ``bundle`` into ``directory`` (validated by a round trip first)."""
    data = bundle.to_json()
    parse(data)  # never write what load() would refuse
    out = Path(directory) / META_FILE
    out.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return out


def load(directory: Path | str) -> Bundle:
    """Read and validate a bundle folder (or the ``model.tflite`` / ``model.json`` inside one)."""
    path = Path(directory)
    if path.is_file() and path.name in (MODEL_FILE, META_FILE):
        path = path.parent
    if not path.exists():
        raise BundleError(f"model bundle {path} does not exist: pass a folder holding {MODEL_FILE} and {META_FILE}")
    if not path.is_dir():
        raise BundleError(f"{path} is not a bundle folder: pass the folder holding {MODEL_FILE} and {META_FILE}")
    meta = path / META_FILE
    model = path / MODEL_FILE
    for f in (meta, model):
        if not f.is_file():
            raise BundleError(f"{path} has no {f.name}: a bundle holds {MODEL_FILE} and {META_FILE} "
                              f"(make one with `python -m converter convert`)")
    try:
        data = json.loads(meta.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:  # RecursionError: absurdly deep nesting
        raise BundleError(f"{meta} is not valid JSON: {e}") from None
    check_tflite_file(model)
    bundle = parse(data, path=path)
    if bundle.model_sha256 and file_sha256(model) != bundle.model_sha256:
        raise BundleError(f"{model} does not match the 'model_sha256' in {meta}: the file was changed or damaged "
                          f"since conversion; copy the bundle again or convert the model again")
    return bundle


def file_sha256(path: Path | str) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_tflite_file(model: Path) -> None:
    """Refuse a file that is not a TFLite flatbuffer before an interpreter crashes on it."""
    size = model.stat().st_size
    with open(model, "rb") as f:
        head = f.read(8)
    if size < 16 or head[4:8] != b"TFL3":
        raise BundleError(f"{model} is not a TFLite model (no 'TFL3' identifier; {size} bytes): "
                          f"re-run `python -m converter convert`, or copy the file again")


def parse(data: Mapping[str, Any], path: Path | str = ".") -> Bundle:
    """Validate ``model.json`` contents; every error names the key at fault."""
    where = f"{Path(path) / META_FILE}"
    if not isinstance(data, Mapping):
        raise BundleError(f"{where}: expected a JSON object, got {type(data).__name__}")
    need = _Need(where)
    if data.get("format", FORMAT) != FORMAT:
        raise BundleError(f"{where}: 'format' is {data.get('format')!r}, expected {FORMAT!r}")
    version = need(data, "format_version", int)
    if version != FORMAT_VERSION:
        raise BundleError(f"{where}: 'format_version' {version} is not supported (this moodplayer reads "
                          f"{FORMAT_VERSION}); convert the model again with this version")
    labels = need(data, "labels", list)
    if not labels or not all(isinstance(x, str) and x for x in labels):
        raise BundleError(f"{where}: 'labels' must be a non-empty list of names, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{where}: 'labels' has duplicates: {labels!r}")
    spec = _input(need, need(data, "input", dict))
    source = data.get("source", {})
    verification = data.get("verification", {})
    for key, value in (("source", source), ("verification", verification)):
        if not isinstance(value, dict):
            raise BundleError(f"{where}: '{key}' must be an object, got {value!r}")
    model_sha = data.get("model_sha256", "")
    if not isinstance(model_sha, str) or (model_sha and (len(model_sha) != 64 or
                                                         any(c not in "0123456789abcdef" for c in model_sha))):
        raise BundleError(f"{where}: 'model_sha256' must be 64 lowercase hex digits, got {model_sha!r}")
    known = {"format", "format_version", "name", "labels", "input", "preprocessing", "quantization",
             "source", "converter_version", "verification", "model_sha256"}
    return Bundle(
        path=Path(path),
        name=str(data.get("name", Path(path).name)),
        labels=tuple(labels),
        input=spec,
        preprocessing=_preprocessing(need, need(data, "preprocessing", dict), spec.channels),
        quantization=_quantization(need, need(data, "quantization", dict)),
        source=source,
        converter_version=str(data.get("converter_version", "")),
        verification=verification,
        model_sha256=model_sha,
        extra={k: v for k, v in data.items() if k not in known},
    )


class _Need:
    """``need(obj, key, type, prefix)``: ``obj[key]`` if present and of ``type``, else a ``BundleError``
    naming the key (``prefix + key``) in ``where``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __call__(self, obj: Mapping[str, Any], key: str, typ: type | tuple[type, ...], prefix: str = "") -> Any:
        name = prefix + key
        if key not in obj:
            raise BundleError(f"{self.where}: missing key '{name}'")
        value = obj[key]
        ok = isinstance(value, typ) and not (isinstance(value, bool) and bool not in _as_tuple(typ))
        if not ok:
            raise BundleError(f"{self.where}: '{name}' must be {_typename(typ)}, got {value!r}")
        return value


def _input(need: _Need, inp: Mapping[str, Any]) -> InputSpec:
    where = need.where
    height = need(inp, "height", int, "input.")
    width = need(inp, "width", int, "input.")
    channels = need(inp, "channels", int, "input.")
    color = need(inp, "color", str, "input.")
    for key, value in (("height", height), ("width", width)):
        if not 8 <= value <= 1024:
            raise BundleError(f"{where}: 'input.{key}' must be between 8 and 1024, got {value}")
    if channels not in (1, 3):
        raise BundleError(f"{where}: 'input.channels' must be 1 or 3, got {channels}")
    if color not in COLORS:
        raise BundleError(f"{where}: 'input.color' must be one of {', '.join(COLORS)}, got {color!r}")
    if (color == "gray") != (channels == 1):
        raise BundleError(f"{where}: 'input.color' {color!r} contradicts 'input.channels' {channels}")
    return InputSpec(height, width, channels, color)


def _preprocessing(need: _Need, pre: Mapping[str, Any], channels: int) -> Preprocessing:
    where = need.where
    mode = need(pre, "mode", str, "preprocessing.")
    mean = need(pre, "mean", list, "preprocessing.")
    std = need(pre, "std", list, "preprocessing.")
    margin = pre.get("crop_margin", 0.0)
    interpolation = pre.get("interpolation", "area")
    for key, values in (("mean", mean), ("std", std)):
        if len(values) != channels or not all(_is_number(v) for v in values):
            raise BundleError(f"{where}: 'preprocessing.{key}' must be {channels} number(s), got {values!r}")
    if not all(v > 0 for v in std):
        raise BundleError(f"{where}: 'preprocessing.std' must be positive, got {std!r}")
    if not _is_number(margin) or not 0.0 <= margin <= 1.0:
        raise BundleError(f"{where}: 'preprocessing.crop_margin' must be a number in [0, 1], got {margin!r}")
    if mode in SCALES and (tuple(mean), tuple(std)) != ((SCALES[mode][0],) * channels, (SCALES[mode][1],) * channels):
        raise BundleError(f"{where}: 'preprocessing.mode' {mode!r} contradicts its mean/std {mean}/{std}")
    if not isinstance(interpolation, str) or interpolation not in INTERPOLATIONS:
        raise BundleError(f"{where}: 'preprocessing.interpolation' must be one of {', '.join(INTERPOLATIONS)}, "
                          f"got {interpolation!r}")
    return Preprocessing(mode, tuple(float(v) for v in mean), tuple(float(v) for v in std), float(margin),
                         interpolation)


def _quantization(need: _Need, q: Mapping[str, Any]) -> Quantization:
    where = need.where
    qmode = need(q, "mode", str, "quantization.")
    if qmode not in QUANT_MODES:
        raise BundleError(f"{where}: 'quantization.mode' must be one of {', '.join(QUANT_MODES)}, got {qmode!r}")
    qkw: dict[str, Any] = {"mode": qmode}
    for side in ("input", "output"):
        dtype = q.get(f"{side}_dtype", "float32")
        if dtype not in ("float32", "int8", "uint8"):
            raise BundleError(f"{where}: 'quantization.{side}_dtype' must be float32, int8 or uint8, got {dtype!r}")
        scale = q.get(f"{side}_scale", 0.0)
        zero = q.get(f"{side}_zero_point", 0)
        if not _is_number(scale) or (dtype != "float32" and not scale > 0):
            raise BundleError(f"{where}: 'quantization.{side}_scale' must be a positive number for {dtype}, got {scale!r}")
        if not isinstance(zero, int) or isinstance(zero, bool):
            raise BundleError(f"{where}: 'quantization.{side}_zero_point' must be an integer, got {zero!r}")
        low, high = _ZERO_POINTS.get(dtype, (zero, zero))
        if not low <= zero <= high:
            raise BundleError(f"{where}: 'quantization.{side}_zero_point' must be within [{low}, {high}] for {dtype}, "
                              f"got {zero}")
        qkw.update({f"{side}_dtype": dtype, f"{side}_scale": float(scale), f"{side}_zero_point": zero})
    return Quantization(**qkw)


#: The zero points an integer tensor can hold (a float32 tensor's is unused).
_ZERO_POINTS = {"int8": (-128, 127), "uint8": (0, 255)}


def _is_number(v: Any) -> bool:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer too large for a float (JSON allows any number of digits)
        return False


def _as_tuple(typ: type | tuple[type, ...]) -> tuple[type, ...]:
    return typ if isinstance(typ, tuple) else (typ,)


def _typename(typ: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return " or ".join(names.get(t, t.__name__) for t in _as_tuple(typ))
