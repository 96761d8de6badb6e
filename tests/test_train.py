"""Training end to end on tiny generated data: train -> convert (int8) -> evaluate, through the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import cv2
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
    # --select-split 0: all of train, epochs chosen on val, as before issue 16 (the selection split is
    # tested below); the mirror-averaged bundle's symmetry check is tuned to this network.
    rc, stdout, err = run(capsys, "train", "--data", tiny_fer, "--out", out, "--epochs", "6", "--width", "8",
                          "--batch-size", "8", "--lr", "2e-3", "--select-split", "0", "--quiet")
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
                     "--batch-size", "8", "--resume", "--select-split", "0", "--quiet")
    assert rc == 0, err
    assert json.loads((out / "state.json").read_text())["epoch"] == 7
    # Training afresh into a finished run would replace its model: refused unless asked for.
    before = (out / "model.keras").read_bytes()
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", out, "--epochs", "1", "--width", "8", "--quiet")
    assert rc == 2 and "--resume" in err and "--overwrite" in err
    assert (out / "model.keras").read_bytes() == before
    assert len((out / "history.csv").read_text().strip().splitlines()) == 1 + 7

    # --init fine-tunes the trained network with a new schedule; it keeps what it learned.
    tuned = tmp_path / "tuned"
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", tuned, "--epochs", "1", "--batch-size", "8",
                     "--init", out / "model.keras", "--lr", "1e-4", "--optimizer", "sgd", "--erase", "0.3", "--quiet")
    assert rc == 0, err
    assert json.loads((tuned / "metrics.json").read_text())["accuracy"] > 0.3

    rc, _, err = run(capsys, "convert", out / "checkpoint.keras", "--out", tmp_path / "ck", "--verify", tiny_fer / "val")
    assert rc == 2 and "model.keras instead" in err and not (tmp_path / "ck").exists()

    bundle = tmp_path / "bundle"
    rc, _, err = run(capsys, "convert", out / "model.keras", "--out", bundle, "--calibration", tiny_fer / "train",
                     "--verify", tiny_fer / "val", "--force")
    assert rc == 0, err
    rc, stdout, err = run(capsys, "evaluate", bundle, "--data", tiny_fer / "val", "--json")
    assert rc == 0, err
    result = json.loads(stdout)
    assert result["n"] == 140
    assert abs(result["accuracy"] - metrics["accuracy"]) < 0.25  # int8 tracks the float model

    # --mirror-average: one model that averages each face with its mirror image, same weights.
    mirrored = tmp_path / "mirrored"
    rc, _, err = run(capsys, "convert", out / "model.keras", "--out", mirrored, "--calibration", tiny_fer / "train",
                     "--verify", tiny_fer / "val", "--force", "--mirror-average")
    assert rc == 0, err
    from edge import bundle as bundles
    from edge.classify import Classifier

    plain, both = bundles.load(bundle), bundles.load(mirrored)
    assert both.extra["mirror_average"] is True and "mirror_average" not in plain.extra
    size = (both.model_path.stat().st_size, plain.model_path.stat().st_size)
    assert size[0] < 1.2 * size[1]  # the weights are not copied
    x, _ = faces(32, seed=5)
    flipped = x[:, :, ::-1]
    p_plain, p_both = Classifier(plain), Classifier(both)
    assert np.abs(p_plain.predict(x) - p_plain.predict(flipped)).max() > 0.01  # the network alone is not symmetric
    assert np.abs(p_both.predict(x) - p_both.predict(flipped)).max() < 0.02  # the mirror-averaged one is
    assert not Classifier(both, tta_flip=True).tta_flip  # flip TTA on top would only repeat the work
    rc, stdout, _ = run(capsys, "inspect", mirrored)
    assert rc == 0 and "mirror average yes" in stdout and "REVERSE_V2" in stdout


def test_train_refuses_bad_options(tmp_path, tiny_fer, capsys):
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", tmp_path / "r", "--erase", "1.5")
    assert rc == 2 and "erase" in err
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", tmp_path / "r", "--lr", "0")
    assert rc == 2 and "lr" in err
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", tmp_path / "r", "--init", tmp_path / "none.keras")
    assert rc == 2 and "--init" in err and "none.keras" in err
    rgb = archs.edgenet(input_shape=(48, 48, 3), width=8)  # a network that takes color: not this gray run
    rgb.save(tmp_path / "rgb.keras")
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", tmp_path / "r", "--init", tmp_path / "rgb.keras")
    assert rc == 2 and "(48, 48, 3)" in err
    old = tmp_path / "old"  # a run from before the training wrapper: its checkpoint is the bare network
    old.mkdir()
    archs.edgenet(width=8).save(old / "checkpoint.keras")
    (old / "state.json").write_text(json.dumps({"epoch": 1, "config": {"arch": "edgenet"}}))
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", old, "--resume", "--select-split", "0")
    assert rc == 2 and "--init" in err


def test_random_affine_moves_faces_only_in_training():
    import keras

    from converter.augment import RandomAffine, layers

    faces_ = np.tile(np.linspace(0, 1, 48, dtype=np.float32)[None, :, None], (48, 1, 1))[None].repeat(16, 0)
    layer = RandomAffine(0.1, 14.4, 0.12, seed=3)
    assert np.array_equal(np.asarray(layer(faces_)), faces_)  # inference: untouched
    moved = np.asarray(layer(faces_, training=True))
    assert moved.min() >= 0.0 and moved.max() <= 1.0
    changed = np.abs(moved - faces_).mean(axis=(1, 2, 3))
    assert (changed > 0.005).all()  # every face moved ...
    assert changed.std() > 0  # ... each by its own random amount
    again = RandomAffine.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    # Every augmentation stays in [0, 1], erasing included.
    x = faces_
    for aug in layers(seed=0, erase=1.0):
        x = aug(x, training=True)
    x = np.asarray(x)
    assert x.min() >= 0.0 and x.max() <= 1.0 and np.abs(x - faces_).mean() > 0.01
    assert isinstance(layers()[0], keras.layers.RandomFlip) and len(layers(erase=0.2)) == len(layers()) + 1


def test_sweep_sizes_runs_to_the_budget(tmp_path, tiny_fer):
    from converter import sweep

    runs = [sweep.parse_config("tiny: --width 8 --batch-size 16 --limit 128")]
    sweep.sweep(str(tiny_fer), tmp_path / "sw", runs, budget_s=400, max_epochs=3)
    sw = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    record = sw["runs"][0]
    assert record["epochs"] == 3 and record["finished"] and record["seconds_per_epoch"] > 0
    # The run and its epoch are chosen on the selection split; val is its one measurement at the end.
    assert sw["chosen"] == "tiny" and sw["select_split"] == 0.1 and record["chosen_by"] == "select_accuracy"
    with open(tmp_path / "sw" / "tiny" / "history.csv", newline="") as f:
        assert record["best_accuracy"] == pytest.approx(max(float(r["select_accuracy"]) for r in csv.DictReader(f)))
    assert sw["chosen_val_accuracy"] == json.loads((tmp_path / "sw" / "tiny" / "metrics.json").read_text())["accuracy"]
    assert "--select-split 0.1" in record["command"]
    assert "--epochs 3" in record["command"] and "--width 8" in record["command"]
    assert (tmp_path / "sw" / "tiny" / "model.keras").is_file()
    with pytest.raises(ValueError, match="NAME"):
        sweep.parse_config("--width 8")
    with pytest.raises(sweep.UsageError, match="another --out"):  # a second sweep keeps the first
        sweep.sweep(str(tiny_fer), tmp_path / "sw", runs, budget_s=400, max_epochs=3)
    assert sweep.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "sw2"), "--budget", "60",
                       "a: --width 8"]) == 2


def test_class_weights_favour_rare_classes_and_average_one():
    y = np.array([0] * 90 + [1] * 10)
    w = class_weights(y, 2)
    assert w[1] == pytest.approx(3 * w[0])  # sqrt(90 / 10)
    assert w[y].mean() == pytest.approx(1.0)


def test_edgenet_budget():
    """The compact default stays Pi-sized: under 100M multiply-adds a pass, and few enough parameters
    for an int8 bundle under 3 MB."""
    model = archs.edgenet()
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    assert 60e6 < archs.macs(model) < 100e6
    assert model.count_params() < 2_800_000
    assert archs.macs(archs.edgenet(width=32)) < 0.7 * archs.macs(model)


def test_vgg19_recipe_shape():
    model = archs.vgg19(weights=None)
    assert model.input_shape == (None, 48, 48, 3) and model.output_shape == (None, 7)
    trainable = [layer.name for layer in model.layers if layer.trainable and layer.weights]
    assert "emotions" in trainable and "block1_conv1" not in trainable


# -- the selection split (issue 16): epochs and runs chosen on train faces held out, val measured once ----

def test_selection_split_is_fixed_stratified_and_disjoint(tmp_path, tiny_fer):
    from converter import data as fer

    ds = fer.load(tiny_fer, "train", progress=False)
    assert ds.names is not None and len(set(ds.names)) == len(ds) == 700
    assert all(n.split("/")[0] == ds.labels[k] for n, k in zip(ds.names, ds.y))  # class/file, relative
    rest, select = fer.selection_split(ds, 0.1, seed=0)
    # Disjoint, and together every training face.
    assert not set(rest.names) & set(select.names) and len(rest) + len(select) == len(ds)
    # Stratified: a tenth of each class (rounded), every class present.
    counts = ds.counts()
    assert select.counts() == {c: max(1, round(0.1 * n)) for c, n in counts.items()}
    assert all(v > 0 for v in select.counts().values())
    # Fixed: the same files from a fresh decode (no cache), from the cache, and from a copy of the data
    # elsewhere in another order on disk; another seed holds out others.
    again = fer.selection_split(fer.load(tiny_fer, "train", progress=False, cache=False), 0.1, seed=0)[1]
    cached = fer.selection_split(fer.load(tiny_fer, "train", progress=False), 0.1, seed=0)[1]
    copy = tmp_path / "copy"
    shutil.copytree(tiny_fer / "train", copy / "train")
    moved = fer.selection_split(fer.load(copy, "train", progress=False, cache=False), 0.1, seed=0)[1]
    assert list(again.names) == list(cached.names) == list(moved.names) == list(select.names)
    assert np.array_equal(again.x, select.x) and np.array_equal(again.y, select.y)
    other = fer.selection_split(ds, 0.1, seed=1)[1]
    assert set(other.names) != set(select.names) and other.counts() == select.counts()
    # The documented rule: within a class, the smallest sha1(f"{seed}:{name}").
    angry = sorted((n for n in ds.names if n.startswith("angry/")),
                   key=lambda n: hashlib.sha1(f"0:{n}".encode()).digest())
    assert set(angry[:select.counts()["angry"]]) == {n for n in select.names if n.startswith("angry/")}
    with pytest.raises(fer.DataError, match="between 0 and 1"):
        fer.selection_split(ds, 1.0)


def test_csv_items_have_stable_names(tmp_path):
    from converter import data as fer
    from tests.converter_helpers import write_csv

    x, y = faces(40, seed=3)
    csv_path = write_csv(tmp_path / "fer.csv", (x[:30], y[:30], "Training"), (x[30:], y[30:], "PublicTest"))
    train = fer.load(csv_path, "train", progress=False)
    assert list(train.names[:2]) == ["Training:2", "Training:3"] and len(set(train.names)) == 30
    rest, select = fer.selection_split(train, 0.2)
    assert not set(rest.names) & set(select.names)


def test_loading_follows_the_interpolation(tmp_path):
    """Faces of another size are resized as asked: area (the default) or linear, as cv2 does it."""
    from converter import data as fer

    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (6, 100, 100), dtype=np.uint8)
    root = write_folders(tmp_path / "val", big, np.arange(6) % 7)
    area = fer.load(root, size=(48, 48), progress=False)
    linear = fer.load(root, size=(48, 48), progress=False, interpolation="linear")
    for got, flag in ((area, cv2.INTER_AREA), (linear, cv2.INTER_LINEAR)):
        for name, img in zip(got.names, got.x):
            src = cv2.imread(str(root / name), cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(img[..., 0], cv2.resize(src, (48, 48), interpolation=flag))
    assert not np.array_equal(area.x, linear.x)
    with pytest.raises(fer.DataError, match="interpolation 'cubic'"):
        fer.load(root, size=(48, 48), interpolation="cubic")


def test_train_chooses_the_epoch_on_the_selection_split(tmp_path, tiny_fer, capsys):
    out = tmp_path / "run"
    rc, stdout, err = run(capsys, "train", "--data", tiny_fer, "--out", out, "--epochs", "3", "--width", "8",
                          "--batch-size", "16", "--select-split", "0.2", "--quiet")
    assert rc == 0, err
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and "select_accuracy" in rows[0]
    assert not [k for k in rows[0] if k.startswith("val_")]  # val is not measured while training
    state = json.loads((out / "state.json").read_text())
    assert state["chosen_by"] == "select_accuracy" and state["config"]["select_split"] == 0.2
    best = max(float(r["select_accuracy"]) for r in rows)
    assert state["best_select_accuracy"] == pytest.approx(best)
    metrics = json.loads((out / "metrics.json").read_text())
    # model.keras is the epoch with the best selection-split accuracy: measured again, it gives that figure.
    assert metrics["chosen_by"] == "select_accuracy" and metrics["select"]["n"] == 140
    assert metrics["select"]["accuracy"] == pytest.approx(best, abs=1e-3)
    assert metrics["split"] == "val" and metrics["n"] == 140  # val, once, at the end
    assert "selection split accuracy" in stdout and "val measured once" in stdout
    # evaluate --split select measures a converted bundle on the same held-out faces.
    bundle = tmp_path / "bundle"
    rc, _, err = run(capsys, "convert", out / "model.keras", "--out", bundle, "--quantize", "none",
                     "--verify", tiny_fer, "--verify-split", "train", "--no-progress")
    assert rc == 0, err
    rc, stdout, err = run(capsys, "evaluate", bundle, "--data", tiny_fer, "--split", "select", "--select-split",
                          "0.2", "--json", "--no-progress")
    assert rc == 0, err
    chosen = json.loads(stdout)
    assert chosen["n"] == 140 and chosen["split"] == "select" and chosen["select_split"] == 0.2
    assert chosen["accuracy"] == pytest.approx(metrics["select"]["accuracy"], abs=0.01)
    # Resuming with another split would measure the choice on faces it was trained on: refused.
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", out, "--epochs", "4", "--width", "8",
                     "--select-split", "0.1", "--resume", "--quiet")
    assert rc == 2 and "--select-split 0.2" in err
    rc, _, err = run(capsys, "train", "--data", tiny_fer, "--out", tmp_path / "r", "--select-split", "1")
    assert rc == 2 and "select split" in err


def test_sweep_configs_cannot_set_their_own_selection_split():
    from converter import sweep

    for flags in ("--select-split 0", "--width 8 --select-seed=3"):
        with pytest.raises(ValueError, match="the sweep's"):
            sweep.parse_config(f"a: {flags}")
    cmd = sweep._train_cmd("d", Path("o"), 3, ["--width", "8"], sweep.Selection(0.2, 5))
    assert cmd[cmd.index("--select-split") + 1] == "0.2" and cmd[cmd.index("--select-seed") + 1] == "5"
