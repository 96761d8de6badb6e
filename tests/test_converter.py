"""The converter on the original project's model: VGG19(weights=None, include_top=False, 48x48x3) +
Flatten + Dense(7, softmax), saved as a Keras 2 JSON + H5 weights with tf_keras, converted in int8,
float16 and dynamic modes and run through the device's classifier (LiteRT).

The model is made meaningful first (``converter.synthetic``): identity-centred convolutions and a
fitted head on seven synthetic textures, so agreement with Keras actually says something.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras")

from converter import __version__, synthetic  # noqa: E402
from edge import bundle as bundles  # noqa: E402
from edge.bundle import (
    InputSpec,  # noqa: E402
    file_sha256,  # noqa: E402
)
from edge.classify import Classifier  # noqa: E402
from edge.interpreter import load_interpreter  # noqa: E402
from edge.types import EMOTIONS  # noqa: E402
from tests.converter_helpers import agreement, run, write_folders  # noqa: E402

MODES = ("int8", "float16", "dynamic")


@pytest.fixture(scope="module")
def vgg(tmp_path_factory) -> SimpleNamespace:
    """The original architecture as Keras 2 files, its calibration data, and fresh test faces."""
    root = tmp_path_factory.mktemp("vgg19")
    model = synthetic.trained(synthetic.vgg19(tf_keras), tf_keras, n=280, seed=0)
    (root / "model.json").write_text(model.to_json())
    model.save_weights(str(root / "model.weights.h5"))
    x, y = synthetic.faces(210, seed=1)
    data = write_folders(root / "data", x, y)
    tx, ty = synthetic.faces(140, seed=2)  # never seen by calibration
    test_x = np.repeat(tx[..., None], 3, axis=-1)
    probs = model.predict(test_x.astype(np.float32) / 255.0, batch_size=70, verbose=0)
    return SimpleNamespace(root=root, model=model, data=data, x=test_x, y=ty, probs=probs, made={})


def bundle_for(vgg: SimpleNamespace, mode: str) -> Path:
    """Convert once per mode (module-wide) through the CLI; returns the bundle folder."""
    if mode not in vgg.made:
        from converter.cli import main

        out = vgg.root / f"bundle-{mode}"
        rc = main(["convert", str(vgg.root / "model.json"), "--weights", str(vgg.root / "model.weights.h5"),
                   "--out", str(out), "--quantize", mode, "--calibration", str(vgg.data), "--no-progress"])
        assert rc == 0
        vgg.made[mode] = out
    return vgg.made[mode]


def test_the_test_model_is_meaningful(vgg):
    """Confident, varied and right: agreement with it means something (a random VGG19 is none of these)."""
    pred = vgg.probs.argmax(axis=1)
    assert (pred == vgg.y).mean() >= 0.95
    assert len(set(pred.tolist())) == 7
    assert vgg.probs.max(axis=1).mean() > 0.8


def test_keras3_cannot_read_the_keras2_json(vgg):
    """Why the converter reads Keras 2 JSON with tf_keras."""
    keras = pytest.importorskip("keras")
    with pytest.raises(Exception, match="Functional"):
        keras.models.model_from_json((vgg.root / "model.json").read_text())


@pytest.mark.parametrize("mode", MODES)
def test_vgg19_keras2_json_converts_and_agrees(vgg, mode):
    out = bundle_for(vgg, mode)
    b = bundles.load(out)
    assert b.labels == EMOTIONS
    assert b.input == InputSpec(48, 48, 3, "rgb")
    assert (b.preprocessing.mode, b.preprocessing.mean, b.preprocessing.std) == ("0_1", (0.0,) * 3, (255.0,) * 3)
    assert b.converter_version == __version__
    assert b.source["file"] == "model.json" and b.source["sha256"] == file_sha256(vgg.root / "model.json")
    assert b.source["weights_file"] == "model.weights.h5"
    assert b.source["weights_sha256"] == file_sha256(vgg.root / "model.weights.h5")

    q = b.quantization
    assert q.mode == mode
    interp = load_interpreter(b.model_path, 1)
    for side, detail in (("input", interp.get_input_details()[0]), ("output", interp.get_output_details()[0])):
        assert getattr(q, f"{side}_dtype") == np.dtype(detail["dtype"]).name == ("int8" if mode == "int8" else "float32")
        if mode == "int8":  # recorded from the converted model itself
            scale, zero = detail["quantization"]
            assert getattr(q, f"{side}_scale") == pytest.approx(scale) and scale > 0
            assert getattr(q, f"{side}_zero_point") == zero

    v = b.verification
    assert v["passed"] and not v["forced"]
    assert v["n"] > 50 and v["top1_agreement"] >= 0.97 and v["float_accuracy"] is not None
    assert b.extra["calibration"]["n"] == (105 if mode == "int8" else 0)  # half of the shared data

    probs = Classifier(b, threads=2).predict(vgg.x)
    assert agreement(probs, vgg.probs) >= (0.98 if mode == "int8" else 0.99)
    assert np.abs(probs - vgg.probs).mean() < 0.02
    assert (probs.argmax(axis=1) == vgg.y).mean() >= 0.95


def test_int8_is_smaller_than_float16(vgg):
    sizes = {m: bundles.load(bundle_for(vgg, m)).model_path.stat().st_size for m in ("int8", "float16")}
    assert sizes["int8"] < sizes["float16"]


def test_a_wrong_input_scale_collapses_agreement(vgg, tmp_path):
    """The preprocessing recorded in model.json is what the device uses: tamper with it and the int8
    model stops agreeing with Keras."""
    good = bundles.load(bundle_for(vgg, "int8"))
    tampered = tmp_path / "tampered"
    shutil.copytree(good.path, tampered)
    meta = json.loads((tampered / "model.json").read_text())
    meta["preprocessing"].update({"mode": "-1_1", "mean": [127.5] * 3, "std": [127.5] * 3})
    (tampered / "model.json").write_text(json.dumps(meta))

    right = agreement(Classifier(good, threads=2).predict(vgg.x), vgg.probs)
    wrong = agreement(Classifier(bundles.load(tampered), threads=2).predict(vgg.x), vgg.probs)
    assert right >= 0.98
    assert wrong < 0.75  # about 0.57 here: far under the 0.93 that convert requires without labels


def test_evaluate_json_and_plot(vgg, capsys, tmp_path):
    data = write_folders(tmp_path / "val", vgg.x[..., 0], vgg.y)
    png = tmp_path / "confusion.png"
    rc, out, err = run(capsys, "evaluate", bundle_for(vgg, "int8"), "--data", data, "--json", "--plot", png,
                       "--threads", "2", "--no-progress")
    assert rc == 0, err
    result = json.loads(out)  # exactly one JSON object on stdout
    assert result["n"] == len(vgg.y)
    assert result["accuracy"] >= 0.95
    assert set(result["per_class_recall"]) == set(EMOTIONS)
    assert np.asarray(result["confusion"]).sum() == len(vgg.y)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rc, out, err = run(capsys, "evaluate", bundle_for(vgg, "int8"), "--data", data, "--no-progress")
    assert rc == 0 and "accuracy" in out and "true\\pred" in out


def test_inspect_bundle_and_bare_model(vgg, capsys):
    out_dir = bundle_for(vgg, "int8")
    rc, out, err = run(capsys, "inspect", out_dir, "--json")
    assert rc == 0, err
    info = json.loads(out)
    assert info["metadata"]["quantization"]["mode"] == "int8"
    assert info["inputs"][0]["dtype"] == "int8" and info["inputs"][0]["shape_signature"] == [-1, 48, 48, 3]
    assert info["outputs"][0]["shape_signature"] == [-1, 7]
    assert info["ops"]["CONV_2D"] == 16 and info["ops"]["MAX_POOL_2D"] == 5
    assert info["size_bytes"] == (out_dir / "model.tflite").stat().st_size

    rc, out, err = run(capsys, "inspect", out_dir / "model.tflite")
    assert rc == 0 and "CONV_2D x16" in out and "int8" in out


def test_an_existing_bundle_is_kept_without_overwrite(vgg, capsys):
    out_dir = bundle_for(vgg, "float16")
    before = (out_dir / "model.json").read_bytes(), (out_dir / "model.tflite").stat().st_mtime_ns
    rc, _, err = run(capsys, "convert", vgg.root / "model.json", "--weights", vgg.root / "model.weights.h5",
                     "--out", out_dir, "--quantize", "float16", "--verify", vgg.data)
    assert rc == 2 and "--overwrite" in err
    assert ((out_dir / "model.json").read_bytes(), (out_dir / "model.tflite").stat().st_mtime_ns) == before
