"""One small loader for a TFLite interpreter: LiteRT, else tflite-runtime, else tensorflow.lite."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from edge.errors import MoodplayerError

log = logging.getLogger(__name__)

#: Tried in order; TensorFlow last, and only if it happens to be installed (it never is on a Pi).
BACKENDS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


class InterpreterError(MoodplayerError, RuntimeError):
    """No TFLite runtime is installed, or the model cannot be loaded by it."""


def interpreter_class() -> tuple[type, str]:
    """The first available ``Interpreter`` class and the name of its package."""
    for module_name, package in BACKENDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return module.Interpreter, package
    raise InterpreterError("no TFLite interpreter is installed: `pip install ai-edge-litert` "
                           "(or tflite-runtime on Python <= 3.11)")


def load_interpreter(model_path: Path | str, threads: int | None = None) -> Any:
    """A ready ``Interpreter`` (tensors allocated) for ``model_path`` using ``threads`` CPU threads."""
    cls, package = interpreter_class()
    try:
        interpreter = cls(model_path=str(model_path), num_threads=threads)
        interpreter.allocate_tensors()
        # A damaged file can allocate, then fail here (a tensor name that is not UTF-8, no tensors).
        interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    except (ValueError, RuntimeError, IndexError) as e:
        raise InterpreterError(f"{package} cannot load {model_path} ({type(e).__name__}: {e}): the model file is "
                               "damaged or not a TFLite model; convert it again or use models/default") from None
    log.debug("loaded %s with %s (%s threads)", model_path, package, threads)
    return interpreter
