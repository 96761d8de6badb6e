"""The converter's other model forms (.keras, full .h5, SavedModel), labels by name, the CSV, and every
kind of bad input: exit code 2 (3 for a refused model), a one-line message, and no half-written bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

from converter import synthetic  # noqa: E402
from edge import bundle as bundles  # noqa: E402
from edge.bundle import InputSpec  # noqa: E402
from edge.classify import Classifier  # noqa: E402
from edge.types import EMOTIONS  # noqa: E402
from tests.converter_helpers import agreement, nothing_written, run, write_csv, write_folders  # noqa: E402

REVERSED = tuple(reversed(EMOTIONS))

pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),  # Keras 3 + numpy 2
              pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file:UserWarning")]


@pytest.fixture(scope="module")
def gray(tmp_path_factory) -> SimpleNamespace:
    """Small gray models in every form, FER2013-style folders (train/ + val/) and their val faces."""
    root = tmp_path_factory.mktemp("gray")
    x, y = synthetic.faces(210, seed=1)
    vx, vy = synthetic.faces(140, seed=2)
    fer = root / "fer"
    write_folders(fer / "train", x, y)
    write_folders(fer / "val", vx, vy)
    write_csv(root / "fer2013.csv", (x, y, "Training"), (vx, vy, "PublicTest"))
    loose = root / "loose"  # unlabelled: images without class folders
    loose.mkdir()
    for i, img in enumerate(vx):
        cv2.imwrite(str(loose / f"{i:04d}.png"), img)
    val = vx[..., None]

    k3 = synthetic.trained(synthetic.small_cnn(keras), keras)
    k3.save(root / "small.keras")
    k3.export(str(root / "small_savedmodel"), verbose=False)
    k2 = synthetic.trained(synthetic.small_cnn(tf_keras), tf_keras)
    k2.save(str(root / "small.h5"))
    k2.save(str(root / "small_tf_keras_savedmodel"), save_format="tf")
    p3, p2 = k3.predict(val / 255.0, verbose=0), k2.predict(val / 255.0, verbose=0)
    probs = {"keras": p3, "savedmodel": p3, "h5": p2, "tf_keras-savedmodel": p2}
    files = {"keras": root / "small.keras", "savedmodel": root / "small_savedmodel", "h5": root / "small.h5",
             "tf_keras-savedmodel": root / "small_tf_keras_savedmodel"}
    return SimpleNamespace(root=root, fer=fer, csv=root / "fer2013.csv", loose=loose, x=val, y=vy, probs=probs,
                           files=files, k2=k2)


@pytest.mark.parametrize("form", ["keras", "h5", "savedmodel", "tf_keras-savedmodel"])
def test_gray_model_forms_convert_int8(gray, form, capsys, tmp_path):
    out = tmp_path / "bundle"
    rc, stdout, err = run(capsys, "convert", gray.files[form], "--out", out, "--calibration", gray.fer,
                          "--verify", gray.fer, "--no-progress")
    assert rc == 0, err
    assert "passed" in stdout and "top-1 agree" in stdout  # the summary table
    b = bundles.load(out)
    assert b.input == InputSpec(48, 48, 1, "gray")
    assert b.quantization.input_dtype == b.quantization.output_dtype == "int8"
    assert b.source["format"] == form.split("-")[-1] and b.source["file"] == gray.files[form].name
    assert len(b.source["sha256"]) == 64
    # calibration on train/ (all 210), verification on val/ (all 140): different images
    assert b.extra["calibration"]["n"] == 210 and b.verification["n"] == 140
    assert b.verification["float_accuracy"] >= 0.85
    probs = Classifier(b, threads=2).predict(gray.x)
    assert agreement(probs, gray.probs[form]) >= 0.95
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the temporary folder is gone


def test_labels_by_name_input_scale_and_csv(gray, capsys, tmp_path):
    """A model whose outputs are in another order, trained on [-1, 1] inputs: --labels names the order,
    folders and CSV codes map to it by name, and --input-scale=-1_1 is recorded and used."""
    order = [REVERSED.index(e) for e in EMOTIONS]  # texture k -> output of the label EMOTIONS[k]
    model = synthetic.trained(synthetic.small_cnn(keras), keras, order=order, mean=127.5, std=127.5)
    model.save(tmp_path / "reversed.keras")
    out = tmp_path / "bundle"
    rc, _, err = run(capsys, "convert", tmp_path / "reversed.keras", "--out", out, "--quantize", "float16",
                     "--labels", ",".join(REVERSED), "--input-scale=-1_1", "--verify", gray.fer, "--no-progress")
    assert rc == 0, err
    b = bundles.load(out)
    assert b.labels == REVERSED
    assert (b.preprocessing.mode, b.preprocessing.mean, b.preprocessing.std) == ("-1_1", (127.5,), (127.5,))
    assert b.verification["tflite_accuracy"] >= 0.85  # folders were mapped by name, not position

    rc, stdout, err = run(capsys, "evaluate", out, "--data", gray.fer, "--json", "--no-progress")
    assert rc == 0, err
    assert json.loads(stdout)["accuracy"] >= 0.85

    csv = write_csv(tmp_path / "fer2013.csv", (gray.x[..., 0], gray.y, "PublicTest"))
    rc, stdout, err = run(capsys, "evaluate", out, "--data", csv, "--split", "val", "--json", "--tta", "flip",
                          "--no-progress")
    assert rc == 0, err
    result = json.loads(stdout)
    assert result["n"] == len(gray.y) and result["tta"] == "flip"
    # CSV codes differ from the bundle's order (CSV: ..., sad, surprise, neutral); stripes, checks and
    # flat faces survive the mirror (diagonals do not)
    assert min(result["per_class_recall"][e] for e in ("angry", "neutral", "surprise")) >= 0.8

    (gray.fer / "val" / "bored").mkdir(exist_ok=True)
    try:
        write_folders(gray.fer / "val", gray.x[:2, ..., 0], np.zeros(2, int), labels=["bored"])
        rc, stdout, err = run(capsys, "evaluate", out, "--data", gray.fer, "--no-progress")
    finally:
        shutil.rmtree(gray.fer / "val" / "bored")
    assert rc == 2 and "bored" in err and "Traceback" not in err


def test_overwrite_replaces_a_bundle(gray, capsys, tmp_path):
    out = tmp_path / "bundle"
    args = ["convert", gray.files["h5"], "--out", out, "--verify", gray.fer, "--quantize", "dynamic", "--no-progress"]
    assert run(capsys, *args, "--name", "first")[0] == 0
    rc, _, err = run(capsys, *args, "--name", "second")
    assert rc == 2 and "--overwrite" in err and bundles.load(out).name == "first"
    assert run(capsys, *args, "--name", "second", "--overwrite")[0] == 0
    assert bundles.load(out).name == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]

    other = tmp_path / "photos"
    (other / "keep").mkdir(parents=True)
    rc, _, err = run(capsys, "convert", gray.files["h5"], "--out", other, "--verify", gray.fer, "--overwrite")
    assert rc == 2 and "not a bundle" in err and (other / "keep").is_dir()


def test_a_worse_model_is_refused_unless_forced(gray, capsys, tmp_path):
    """A softmax squeezed near uniform (the random-VGG19 trap): int8 ties its classes and loses accuracy."""
    flat = synthetic.trained(synthetic.small_cnn(tf_keras), tf_keras)
    w, b = flat.layers[-1].get_weights()
    flat.layers[-1].set_weights([w * 1e-3, b * 1e-3])
    flat.save(str(tmp_path / "flat.h5"))
    out = tmp_path / "bundle"
    args = ["convert", tmp_path / "flat.h5", "--out", out, "--calibration", gray.fer, "--verify", gray.fer,
            "--no-progress"]
    rc, _, err = run(capsys, *args)
    assert rc == 3 and "points below the float model" in err and "--force" in err
    assert nothing_written(out)
    rc, _, err = run(capsys, "convert", tmp_path / "flat.h5", "--out", out, "--calibration", gray.fer,
                     "--verify", gray.loose, "--no-progress")  # unlabelled: top-1 agreement decides
    assert rc == 3 and "agrees with the float model on only" in err
    assert nothing_written(out)

    rc, _, err = run(capsys, *args, "--force")
    assert rc == 0
    v = bundles.load(out).verification
    assert v["forced"] and not v["passed"] and v["accuracy_drop"] > 1.0


# -- bad input: exit 2, one line, nothing written ----------------------------------------------------

def _fails(capsys, out: Path, *argv, expect: str) -> str:
    rc, _, err = run(capsys, "convert", *argv, "--out", out, "--no-progress")
    assert rc == 2, err
    assert expect in err and "Traceback" not in err
    assert nothing_written(out)
    return err


@pytest.fixture(scope="module")
def json_model(gray) -> SimpleNamespace:
    """A tf_keras JSON architecture, its weights, and the weights of a 5-class variant."""
    root = gray.root
    (root / "small.json").write_text(gray.k2.to_json())
    gray.k2.save_weights(str(root / "small.weights.h5"))
    synthetic.small_cnn(tf_keras, classes=5).save_weights(str(root / "five.weights.h5"))
    return SimpleNamespace(json=root / "small.json", weights=root / "small.weights.h5",
                           five=root / "five.weights.h5")


def test_json_weights_csv_calibration_and_unlabelled_verification(gray, json_model, capsys, tmp_path):
    out = tmp_path / "bundle"
    rc, stdout, err = run(capsys, "convert", json_model.json, "--weights", json_model.weights, "--out", out,
                          "--calibration", gray.csv, "--verify", gray.loose, "--no-progress")
    assert rc == 0, err
    b = bundles.load(out)
    assert b.extra["calibration"]["n"] == 210  # the CSV's Training rows
    v = b.verification
    assert not v["labelled"] and v["float_accuracy"] is None and v["n"] == len(gray.y)
    assert v["top1_agreement"] >= 0.93 and "unlabelled" in stdout
    assert agreement(Classifier(b).predict(gray.x), gray.probs["h5"]) >= 0.95


def test_bad_model_files(gray, json_model, capsys, tmp_path):
    out, data = tmp_path / "bundle", ("--verify", gray.fer)
    _fails(capsys, out, tmp_path / "missing.h5", *data, expect="does not exist")
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file" * 10)
    _fails(capsys, out, tmp_path / "junk.h5", *data, expect="not a readable HDF5")
    (tmp_path / "junk.keras").write_bytes(b"PK not a zip")
    _fails(capsys, out, tmp_path / "junk.keras", *data, expect="not a .keras archive")
    (tmp_path / "junk.json").write_text("{not json")
    _fails(capsys, out, tmp_path / "junk.json", "--weights", json_model.weights, *data, expect="not valid JSON")
    (tmp_path / "empty_dir").mkdir()
    _fails(capsys, out, tmp_path / "empty_dir", *data, expect="not a SavedModel")
    _fails(capsys, out, json_model.json, *data, expect="--weights")
    _fails(capsys, out, json_model.json, "--weights", tmp_path / "nope.h5", *data, expect="does not exist")
    _fails(capsys, out, json_model.weights, *data, expect="weights only")


def test_weights_that_do_not_match_the_json(gray, json_model, capsys, tmp_path):
    _fails(capsys, tmp_path / "bundle", json_model.json, "--weights", json_model.five, "--verify", gray.fer,
           expect="do not match")


def test_outputs_that_are_not_one_probability_per_label(gray, capsys, tmp_path):
    logits = synthetic.trained(synthetic.small_cnn(tf_keras, softmax=False), tf_keras)
    logits.save(str(tmp_path / "logits.h5"))
    out = tmp_path / "bundle"
    _fails(capsys, out, tmp_path / "logits.h5", "--verify", gray.fer, expect="not probabilities")
    _fails(capsys, out, gray.files["h5"], "--verify", gray.fer, "--labels", "angry,happy,sad", expect="7 outputs")
    err = _fails(capsys, out, gray.files["h5"], "--verify", gray.fer, "--labels", "a,b,c,d,e,f,g",
                 expect="no label of that name")
    assert "angry" in err


def test_bad_data_and_options(gray, capsys, tmp_path):
    out, model = tmp_path / "bundle", gray.files["h5"]
    (tmp_path / "empty").mkdir()
    _fails(capsys, out, model, "--calibration", tmp_path / "empty", expect="no images")
    _fails(capsys, out, model, "--calibration", tmp_path / "absent", expect="does not exist")
    _fails(capsys, out, model, expect="--calibration")
    _fails(capsys, out, model, "--quantize", "float16", expect="--verify")
    _fails(capsys, out, model, "--verify", gray.fer, "--verify-split", "test", expect="--verify-split")
    _fails(capsys, out, model, "--verify", gray.fer, "--input-scale", "mean_std", expect="--mean")
    _fails(capsys, out, model, "--verify", gray.fer, "--mean", "120", expect="mean_std")
    _fails(capsys, out, model, "--verify", gray.fer, "--labels", "happy,happy,a,b,c,d,e", expect="more than once")
    with pytest.raises(SystemExit) as e:  # argparse: a value beginning with '-' needs '='
        run(capsys, "convert", model, "--out", out, "--input-scale", "-1_1")
    assert e.value.code == 2 and nothing_written(out)


def test_inspect_and_evaluate_bad_bundles(gray, capsys, tmp_path):
    rc, _, err = run(capsys, "inspect", tmp_path / "nothing")
    assert rc == 2 and "does not exist" in err
    (tmp_path / "fake.tflite").write_bytes(b"\0" * 64)
    rc, _, err = run(capsys, "inspect", tmp_path / "fake.tflite")
    assert rc == 2 and "not a TFLite model" in err
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.tflite").write_bytes(b"\0" * 64)
    rc, _, err = run(capsys, "evaluate", tmp_path / "half", "--data", gray.fer)
    assert rc == 2 and "model.json" in err


def test_interpolation_is_recorded_and_evaluate_follows_it(gray, capsys, tmp_path):
    """--interpolation linear is written to the bundle, shown by inspect, and evaluate resizes faces of
    another size with it (as the device's crop does); without the flag a bundle says area."""
    from converter import data as fer
    from converter.metrics import summarize

    out = tmp_path / "linear"
    rc, stdout, err = run(capsys, "convert", gray.files["keras"], "--out", out, "--quantize", "float16",
                          "--interpolation", "linear", "--verify", gray.fer, "--no-progress")
    assert rc == 0, err
    assert "resized linear" in stdout
    b = bundles.load(out)
    assert b.preprocessing.interpolation == "linear"
    assert json.loads((out / "model.json").read_text())["preprocessing"]["interpolation"] == "linear"
    rc, stdout, _ = run(capsys, "inspect", out)
    assert rc == 0 and "resized linear" in stdout

    # Faces at 100x100 with a fine checkerboard on top: shrunk by area it averages out, bilinearly it aliases.
    big = np.stack([cv2.resize(f[..., 0], (100, 100), interpolation=cv2.INTER_NEAREST) for f in gray.x]).astype(int)
    checks = np.where((np.indices((100, 100)).sum(axis=0) % 2) == 0, 60, -60)
    big = np.clip(big + checks, 0, 255).astype(np.uint8)
    data = write_folders(tmp_path / "big", big, gray.y)
    rc, stdout, err = run(capsys, "evaluate", out, "--data", data, "--json", "--no-progress")
    assert rc == 0, err
    result = json.loads(stdout)
    assert result["interpolation"] == "linear"
    clf = Classifier(b, threads=2)
    figures = {how: summarize(ds.y, clf.predict(ds.x), b.labels)
               for how in ("area", "linear") for ds in [fer.load(data, size=(48, 48), interpolation=how, progress=False)]}
    assert figures["area"]["confusion"] != figures["linear"]["confusion"]  # the test can tell them apart
    assert result["confusion"] == figures["linear"]["confusion"]

    plain = tmp_path / "plain"
    rc, _, err = run(capsys, "convert", gray.files["keras"], "--out", plain, "--quantize", "float16",
                     "--verify", gray.fer, "--no-progress")
    assert rc == 0, err
    assert bundles.load(plain).preprocessing.interpolation == "area"
    rc, stdout, _ = run(capsys, "evaluate", plain, "--data", data, "--json", "--no-progress")
    assert json.loads(stdout)["confusion"] == figures["area"]["confusion"]
    from converter.convert import ConvertRequest, UsageError, _preprocessing

    with pytest.raises(UsageError, match="--interpolation 'cubic'"):  # the CLI's choices refuse it before
        _preprocessing(ConvertRequest(model=gray.files["keras"], out=tmp_path / "x", interpolation="cubic"), 1)
