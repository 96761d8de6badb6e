"""The converter extra installs one TensorFlow on every platform; tf-keras, left out on x86_64 (it would
pull in the second), is asked for by name when a Keras 2 file needs it."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from converter.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent
TENSORFLOWS = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos"}


@pytest.mark.parametrize("machine", ["x86_64", "aarch64", "arm64"])
def test_the_converter_extra_installs_one_tensorflow(machine):
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["converter"]
    env = {"platform_machine": machine, "python_version": "3.11", "sys_platform": "linux", "extra": "converter"}
    chosen = [r for r in map(Requirement, extra) if r.marker is None or r.marker.evaluate(env)]
    tfs = [r.name for r in chosen if r.name in TENSORFLOWS]
    assert len(tfs) == 1, tfs
    # tf-keras requires the "tensorflow" distribution: with any other build it would add a second one
    assert "tf-keras" not in {r.name for r in chosen} or tfs == ["tensorflow"]


def test_a_keras2_file_without_tf_keras_says_how_to_install_it(monkeypatch):
    from converter import load

    monkeypatch.setitem(sys.modules, "tf_keras", None)  # as on x86_64 before `pip install --no-deps tf-keras`
    with pytest.raises(ModelError, match=r'm\.h5 was written by Keras 2.*pip install --no-deps "tf-keras'):
        load._tf_keras(Path("m.h5"))
