"""The TFLite runtime: LiteRT (ai-edge-litert) is a dependency and the one the device uses; the
``tflite-runtime`` extra is gone (its 2.14 cannot load under NumPy 2 and has no wheel for Python 3.12+),
and an installed tflite_runtime is never picked."""

from __future__ import annotations

import sys
import tomllib
import types
from pathlib import Path

import pytest

from edge.interpreter import BACKENDS, InterpreterError, interpreter_class

ROOT = Path(__file__).resolve().parent.parent


def test_litert_is_a_dependency_and_no_extra_offers_tflite_runtime():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("ai-edge-litert") for dep in project["dependencies"])
    everything = [*project["dependencies"], *(d for deps in project["optional-dependencies"].values() for d in deps)]
    assert not [d for d in everything if "tflite-runtime" in d or "tflite_runtime" in d]
    assert "tflite-runtime" not in project["optional-dependencies"]


def test_the_device_runs_litert():
    cls, package = interpreter_class()
    assert package == "ai-edge-litert" and cls.__module__.startswith("ai_edge_litert")


def test_an_installed_tflite_runtime_is_not_picked_and_the_error_names_litert(monkeypatch):
    stand_in = types.ModuleType("tflite_runtime.interpreter")  # what `import tflite_runtime.interpreter` gives
    stand_in.Interpreter = type("Interpreter", (), {})
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("tflite_runtime"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", stand_in)
    for module, _ in BACKENDS:  # LiteRT (and TensorFlow) not importable
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(InterpreterError) as e:
        interpreter_class()
    assert "pip install ai-edge-litert" in str(e.value) and "tflite-runtime" not in str(e.value)
