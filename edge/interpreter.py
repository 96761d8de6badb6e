"""One small loader for a TFLite interpreter: LiteRT (``ai-edge-litert``, a dependency), else
``tensorflow.lite`` where TensorFlow happens to be installed (the converter's workstation).

Not ``tflite-runtime``: its last release (2.14, 2023) was built against NumPy 1 and cannot load under
NumPy 2 ("compiled using NumPy 1.x"), has no wheels for Python 3.12 or newer (Raspberry Pi OS Trixie's
3.13), and LiteRT, its successor, has aarch64 wheels for Bookworm's Python 3.11 and Trixie's 3.13
(tests/arm64/run.sh installs it on both).
"""

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
    raise InterpreterError("no TFLite interpreter is installed: `pip install ai-edge-litert` (a dependency of "
                           "moodplayer: `pip install -e .` installs it; needs a 64-bit OS)")


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
