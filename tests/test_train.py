"""Training end to end on tiny generated data: train -> convert (int8) -> evaluate, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converter import archs
from converter.synthetic import faces
from converter.train import class_weights
from tests.converter_helpers import run, write_folders


@pytest.fixture(scope="module")
def tiny_fer(tmp_path_factory):
    """FER2013's layout (train/, val/, seven emotion folders) filled with seven learnable textures."""
    root = tmp_path_factory.mktemp("fer")
    x, y = faces(700, seed=0)
    write_folders(root / "train", x, y)
    xv, yv = faces(140, seed=1)
    write_folders(root / "val", xv, yv)
    return root


def test_train_convert_evaluate(tmp_path, tiny_fer, capsys):
    out = tmp_path / "run"
    rc, stdout, err = run(capsys, "train", "--data", tiny_fer, "--out", out, "--epochs", "6", "--width", "8",
                          "--batch-size", "8", "--lr", "2e-3", "--quiet")
    assert rc == 0, err
    for name in ("model.keras", "checkpoint.keras", "state.json", "history.csv", "metrics.json", "curves.png",
                 "confusion.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 140 and set(metrics["per_class_recall"]) == set(metrics["labels"])
    # Seven textures are learnable in 6 short epochs (chance is 0.14). Small batches on purpose: batch
    # norm's moving statistics need a few hundred steps before inference mode tracks training.
    assert metrics["accuracy"] > 0.3
    assert "macro F1" in stdout

    # --resume continues from the checkpoint to the new epoch count instead of starting again.
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", out, "--epochs", "7", "--width", "8",
                     "--batch-size", "8", "--resume", "--quiet")
    assert rc == 0, err
    assert json.loads((out / "state.json").read_text())["epoch"] == 7
    assert len((out / "history.csv").read_text().strip().splitlines()) == 1 + 7

    bundle = tmp_path / "bundle"
    rc, _, err = run(capsys, "convert", out / "model.keras", "--out", bundle, "--calibration", tiny_fer / "train",
                     "--verify", tiny_fer / "val", "--force")
    assert rc == 0, err
    rc, stdout, err = run(capsys, "evaluate", bundle, "--data", tiny_fer / "val", "--json")
    assert rc == 0, err
    result = json.loads(stdout)
    assert result["n"] == 140
    assert abs(result["accuracy"] - metrics["accuracy"]) < 0.25  # int8 tracks the float model


def test_class_weights_favour_rare_classes_and_average_one():
    y = np.array([0] * 90 + [1] * 10)
    w = class_weights(y, 2)
    assert w[1] == pytest.approx(3 * w[0])  # sqrt(90 / 10)
    assert w[y].mean() == pytest.approx(1.0)


def test_edgenet_budget():
    """The compact default stays Pi-sized: about 50M multiply-adds and 1.6M parameters a face."""
    model = archs.edgenet()
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    assert 30e6 < archs.macs(model) < 60e6
    assert model.count_params() < 2_000_000


def test_vgg19_recipe_shape():
    model = archs.vgg19(weights=None)
    assert model.input_shape == (None, 48, 48, 3) and model.output_shape == (None, 7)
    trainable = [layer.name for layer in model.layers if layer.trainable and layer.weights]
    assert "emotions" in trainable and "block1_conv1" not in trainable
