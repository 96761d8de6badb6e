"""A float model -> TFLite flatbuffer bytes in one of the bundle's quantization modes.

- ``int8``: full-integer: int8 weights and activations, int8 input and output tensors, calibrated on a
  representative data set (preprocessed exactly as at inference);
- ``float16``: float16 weights, float32 input/output;
- ``dynamic``: int8 weights, float activations, float32 input/output;
- ``none``: float32 throughout.

The converter works from a concrete function with input ``[None, H, W, C]`` float32, so the batch
dimension stays dynamic and Keras 2 (tf_keras), Keras 3 and bare SavedModels all convert the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import ModelError, UsageError, first_line
from converter.load import SourceModel
from converter.progress import bar
from edge.bundle import QUANT_MODES, Quantization

log = logging.getLogger(__name__)


def to_tflite(src: SourceModel, mode: str, calibration: np.ndarray | None = None,
              progress: bool = False) -> bytes:
    """Convert ``src`` in ``mode``; ``calibration`` (float32 N x H x W x C, preprocessed) is needed for int8."""
    import tensorflow as tf

    if mode not in QUANT_MODES:
        raise UsageError(f"unknown quantization {mode!r}: use one of {', '.join(QUANT_MODES)}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([src.fn.get_concrete_function()], src.keep)
    if mode != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        if calibration is None or not len(calibration):
            raise UsageError("int8 needs calibration images: pass --calibration DATA")
        images = np.asarray(calibration, np.float32)

        def representative():
            for i in bar(range(len(images)), "calibrate", progress, total=len(images), unit="img"):
                yield [images[i:i + 1]]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    log.info("converting to TFLite (%s)%s", mode,
             f", calibrating on {len(calibration)} images" if mode == "int8" else "")
    noisy = [logging.getLogger(name) for name in ("absl", "tensorflow")]
    levels = [lg.level for lg in noisy]
    if not log.isEnabledFor(logging.DEBUG):  # "Assets written to /tmp/..." and friends are not news
        for lg in noisy:
            lg.setLevel(max(lg.level, logging.WARNING))
    try:
        return bytes(converter.convert())
    except Exception as e:  # ConverterError and friends: usually an op TFLite lacks
        raise ModelError(f"TensorFlow Lite cannot convert this model in {mode} mode: {first_line(e)} "
                         f"(an unsupported op? try --quantize dynamic or none)") from None
    finally:
        for lg, level in zip(noisy, levels):
            lg.setLevel(level)


def read_quantization(model_path: Path | str, mode: str) -> Quantization:
    """The input/output dtypes, scales and zero points of a converted model, as its interpreter sees them."""
    from edge.interpreter import load_interpreter

    interp = load_interpreter(model_path, 1)
    details: dict[str, Any] = {"mode": mode}
    for side, d in (("input", interp.get_input_details()[0]), ("output", interp.get_output_details()[0])):
        scale, zero = d.get("quantization", (0.0, 0))
        dtype = np.dtype(d["dtype"]).name
        details.update({f"{side}_dtype": dtype,
                        f"{side}_scale": float(scale) if dtype != "float32" else 0.0,
                        f"{side}_zero_point": int(zero) if dtype != "float32" else 0})
    return Quantization(**details)
