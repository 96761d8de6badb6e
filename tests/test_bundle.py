"""The bundle metadata loader (``edge.bundle``), property-based: whatever ``model.json`` holds, ``parse``
answers with a ``Bundle`` or a ``BundleError`` that names the key at fault, never another exception; what
``to_json`` writes, ``parse`` reads back unchanged; ``load`` survives any file contents.

End-to-end bad bundles through ``python -m edge`` are in tests/test_reliability.py.
"""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge import bundle as bundles
from edge.bundle import (
    COLORS,
    INTERPOLATIONS,
    QUANT_MODES,
    SCALES,
    Bundle,
    BundleError,
    InputSpec,
    Preprocessing,
    Quantization,
    parse,
)
from edge.classify import DEFAULT_MODEL, Classifier
from edge.interpreter import InterpreterError
from tests.rig import mutate

VALID: dict[str, Any] = {
    "format": "moodplayer-bundle", "format_version": 1, "name": "test",
    "labels": ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"],
    "input": {"height": 48, "width": 48, "channels": 1, "color": "gray"},
    "preprocessing": {"mode": "0_1", "mean": [0.0], "std": [255.0], "crop_margin": 0.0},
    "quantization": {"mode": "int8", "input_dtype": "int8", "input_scale": 0.0039, "input_zero_point": -128,
                     "output_dtype": "int8", "output_scale": 0.0039, "output_zero_point": -128},
    "source": {"file": "model.keras", "sha256": "0" * 64},
    "converter_version": "0.1.0",
    "verification": {"n": 500, "top1_agreement": 0.99},
}

#: Every key the loader knows, as its messages name them.
KNOWN_KEYS = {"format", "format_version", "name", "labels", "input", "preprocessing", "quantization", "source",
              "converter_version", "verification",
              *(f"input.{k}" for k in ("height", "width", "channels", "color")),
              *(f"preprocessing.{k}" for k in ("mode", "mean", "std", "crop_margin", "interpolation")),
              "quantization.mode",
              *(f"quantization.{side}_{k}" for side in ("input", "output") for k in ("dtype", "scale", "zero_point"))}
PATHS = [(k,) for k in VALID] + [(k, sub) for k in ("input", "preprocessing", "quantization") for sub in VALID[k]]

# JSON as Python's json module reads it: NaN and Infinity included, integers of any size.
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**400),
                    st.floats(), st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=10)
#: Values at the edges of what each field accepts, drawn often when a field is replaced.
edgy = st.sampled_from([10 ** 400, -10 ** 400, float("nan"), float("inf"), -float("inf"), -1, 0, 1, 7, 3, 8, 1024, 1025,
                        -128, 127, 128, 255, 256, 0.0, 1.0, 1.5, -0.5, 1e-300, True, False, "", "gray", "rgb", "int8",
                        "uint8", "float32", "0_1", "-1_1", "mean_std", [], [0.0], [0.0, 0.0, 0.0], [255.0] * 3, {}])


def named_keys(message: str) -> set[str]:
    return {k for k in re.findall(r"'([\w.]+)'", message) if k in KNOWN_KEYS}


def check(data: Any) -> Bundle | None:
    """parse(data): a Bundle, or a BundleError naming a known key (or saying the top level is not an object)."""
    try:
        return parse(data, path="b")
    except BundleError as e:
        message = str(e)
        assert message.startswith("b/model.json: "), message
        assert named_keys(message) or "expected a JSON object" in message, message
        return None


@settings(max_examples=200, deadline=None)
@given(data=json_values)
def test_any_json_value_parses_or_raises_bundle_error(data):
    check(data)


@st.composite
def mutated(draw) -> dict[str, Any]:
    """VALID with 1-3 keys deleted, replaced by any JSON value, or added."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        if action == "delete":
            parent.pop(path[-1], None)
        elif action == "replace":
            parent[path[-1]] = draw(st.one_of(edgy, json_values))
        else:
            parent[draw(st.text(min_size=1, max_size=6))] = draw(json_values)
    return data


@settings(max_examples=300, deadline=None)
@given(data=mutated())
def test_mutated_metadata_parses_or_names_the_key(data):
    check(data)


NUMBER_PATHS = [("format_version",), ("input", "height"), ("input", "width"), ("input", "channels"),
                ("preprocessing", "mean", 0), ("preprocessing", "std", 0), ("preprocessing", "crop_margin"),
                *(("quantization", f"{side}_{k}") for side in ("input", "output") for k in ("scale", "zero_point"))]
numberish = st.one_of(st.integers(), st.integers(10**300, 10**400), st.integers(-10**400, -10**300), st.floats(),
                      st.booleans())


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(NUMBER_PATHS), value=numberish, mean_std=st.booleans())
def test_any_number_in_a_numeric_field_parses_or_names_the_key(path, value, mean_std):
    """Every numeric field against any JSON number: huge integers (JSON has no limit), NaN, infinities,
    booleans, negatives. A 400-digit integer used to escape as OverflowError."""
    data = copy.deepcopy(VALID)
    if mean_std:
        data["preprocessing"]["mode"] = "mean_std"  # so that any mean / std is allowed, not only 0_1's
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    check(data)


@st.composite
def valid_bundles(draw) -> Bundle:
    channels = draw(st.sampled_from([1, 3]))
    color = "gray" if channels == 1 else draw(st.sampled_from([c for c in COLORS if c != "gray"]))
    numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)
    margin = draw(st.floats(0.0, 1.0))
    mode = draw(st.sampled_from([*SCALES, "mean_std"]))
    interpolation = draw(st.sampled_from(INTERPOLATIONS))
    if mode in SCALES:
        pre = Preprocessing.named(mode, channels, margin, interpolation)
    else:
        mean = tuple(draw(numbers) for _ in range(channels))
        std = tuple(draw(st.floats(min_value=1e-6, max_value=1e6)) for _ in range(channels))
        pre = Preprocessing(mode, mean, std, margin, interpolation)
    qmode = draw(st.sampled_from(QUANT_MODES))
    q: dict[str, Any] = {"mode": qmode}
    for side in ("input", "output"):
        dtype = draw(st.sampled_from(["float32", "int8", "uint8"]))
        low, high = {"float32": (-5, 5), "int8": (-128, 127), "uint8": (0, 255)}[dtype]
        scale = draw(st.floats(min_value=1e-9, max_value=1e3) if dtype != "float32" else st.sampled_from([0.0, 1.0]))
        q.update({f"{side}_dtype": dtype, f"{side}_scale": scale, f"{side}_zero_point": draw(st.integers(low, high))})
    plain = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), numbers, st.text(max_size=8)),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                     max_size=3), max_leaves=6)
    known = {k for k in VALID}
    return Bundle(
        path=Path("b"),
        name=draw(st.text(max_size=12)),
        labels=tuple(draw(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=10, unique=True))),
        input=InputSpec(draw(st.integers(8, 1024)), draw(st.integers(8, 1024)), channels, color),
        preprocessing=pre,
        quantization=Quantization(**q),
        source=draw(st.dictionaries(st.text(max_size=6), plain, max_size=3)),
        converter_version=draw(st.text(max_size=8)),
        verification=draw(st.dictionaries(st.text(max_size=6), plain, max_size=3)),
        extra=draw(st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in known), plain,
                                   max_size=3)),
    )


@settings(max_examples=150, deadline=None)
@given(b=valid_bundles())
def test_to_json_then_parse_is_the_same_bundle(b):
    text = json.dumps(b.to_json())  # through real JSON text, as model.json is
    assert parse(json.loads(text), path=b.path) == b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(b=valid_bundles())
def test_write_metadata_then_load_round_trips(b):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / bundles.MODEL_FILE).write_bytes(b"\0\0\0\0TFL3" + b"\0" * 24)  # passes the header check only
        bundles.write_metadata(b, folder)
        assert bundles.load(folder) == Bundle(**{**b.__dict__, "path": folder})


@settings(max_examples=100, deadline=None)
@given(contents=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_load_survives_any_model_json_bytes(contents):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / bundles.MODEL_FILE).write_bytes(b"\0\0\0\0TFL3" + b"\0" * 24)
        (folder / bundles.META_FILE).write_bytes(contents)
        try:
            bundles.load(folder)
        except BundleError as e:
            assert str(folder) in str(e)


def test_write_metadata_refuses_what_load_would_refuse(tmp_path):
    good = parse(VALID, path=tmp_path)
    bad = Bundle(**{**good.__dict__, "labels": ("happy", "happy")})
    with pytest.raises(BundleError, match="duplicates"):
        bundles.write_metadata(bad, tmp_path)
    assert not (tmp_path / bundles.META_FILE).exists()


def test_numbers_json_can_hold_but_a_float_cannot_are_refused():
    """JSON allows a 400-digit integer; it used to escape as OverflowError instead of naming the key."""
    for key in ("input_scale", "output_scale"):
        data = copy.deepcopy(VALID)
        data["quantization"][key] = 10 ** 400
        with pytest.raises(BundleError, match=f"quantization.{key}"):
            parse(data)
    data = copy.deepcopy(VALID)
    data["preprocessing"].update(mode="mean_std", mean=[10 ** 400])
    with pytest.raises(BundleError, match="preprocessing.mean"):
        parse(data)


@pytest.mark.parametrize("dtype, zero, ok", [("int8", -128, True), ("int8", 127, True), ("int8", 128, False),
                                             ("uint8", 0, True), ("uint8", 255, True), ("uint8", -1, False)])
def test_zero_points_must_fit_their_type(dtype, zero, ok):
    data = copy.deepcopy(VALID)
    data["quantization"].update(input_dtype=dtype, input_zero_point=zero)
    if ok:
        assert parse(data).quantization.input_zero_point == zero
    else:
        with pytest.raises(BundleError, match="input_zero_point"):
            parse(data)


def test_shipped_bundle_round_trips():
    b = bundles.load(DEFAULT_MODEL)
    assert parse(json.loads(json.dumps(b.to_json())), path=b.path) == b


# -- corrupt model files: never a crash of the interpreter ------------------------------------------------

FUZZ = r"""
import random, sys, tempfile, shutil
from pathlib import Path
import numpy as np
from edge import bundle as bundles
from edge.bundle import BundleError
from edge.classify import Classifier, DEFAULT_MODEL
from edge.interpreter import InterpreterError
seed, n = int(sys.argv[1]), int(sys.argv[2])
data = (DEFAULT_MODEL / "model.tflite").read_bytes()
rng = random.Random(seed)
folder = Path(tempfile.mkdtemp())
import json
import random
meta = json.loads((DEFAULT_MODEL / "model.json").read_text())
meta.pop("model_sha256", None)  # the checksum would refuse every case: this is about the interpreter
(folder / "model.json").write_text(json.dumps(meta))
counts = {"refused": 0, "ran": 0}
from tests.rig import mutate
for i in range(n):
    (folder / "model.tflite").write_bytes(mutate(data, rng))
    print("case", i, flush=True)
    try:
        clf = Classifier(bundles.load(folder), threads=1)
        probs = clf.predict(np.zeros((2, 48, 48, 1), np.uint8))
        assert probs.shape == (2, 7)
        counts["ran"] += 1
    except (BundleError, InterpreterError):
        counts["refused"] += 1
print("done", counts, flush=True)
"""





@pytest.mark.parametrize("case", [104, 408])
def test_a_model_that_loads_but_cannot_run_is_refused_at_load(tmp_path, case):
    """The slow fuzz's seed 12: case 104 loads and allocates, then its first invoke raised a bare
    RuntimeError ("Input tensor 22 lacks data"); case 408's tensor details raised UnicodeDecodeError.
    Both are refused at load now, by the file's path (a blank face is run at load)."""
    rng, data = random.Random(12), (DEFAULT_MODEL / "model.tflite").read_bytes()
    for _ in range(case + 1):
        damaged = mutate(data, rng)
    folder = tmp_path / "b"
    shutil.copytree(DEFAULT_MODEL, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta.pop("model_sha256", None)  # a bundle someone brings, without a checksum
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "model.tflite").write_bytes(damaged)
    with pytest.raises(InterpreterError, match="model.tflite"):
        Classifier(bundles.load(folder), threads=1)


def _fuzz(seed: int, n: int, timeout: float) -> None:
    """``n`` copies of the shipped model with random bytes changed: each is refused (BundleError,
    InterpreterError) or runs; the interpreter never crashes the process or hangs."""
    out = subprocess.run([sys.executable, "-c", FUZZ, str(seed), str(n)], capture_output=True, text=True,
                         timeout=timeout, cwd=Path(__file__).resolve().parent.parent)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert out.returncode == 0 and last.startswith("done"), \
        f"crashed ({out.returncode}) at {last}:\n{out.stderr[-2000:]}"


def test_a_changed_model_file_is_refused_by_its_checksum(tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(DEFAULT_MODEL, folder)
    b = bundles.load(folder)
    if not b.model_sha256:  # bundles from before the checksum: give this one its own
        bundles.write_metadata(replace(b, model_sha256=bundles.file_sha256(b.model_path)), folder)
    assert bundles.load(folder).model_sha256 == bundles.file_sha256(folder / "model.tflite")
    data = bytearray((folder / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    (folder / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model_sha256"):
        bundles.load(folder)


def test_corrupt_tflite_bytes_never_crash_the_interpreter():
    _fuzz(seed=11, n=200, timeout=300)


@pytest.mark.slow
def test_corrupt_tflite_bytes_never_crash_the_interpreter_long():
    _fuzz(seed=12, n=5000, timeout=1800)


# -- preprocessing.interpolation: the crop is resized as the model was trained -----------------------------

def _default_with(tmp_path: Path, interpolation: str | None) -> Path:
    """A copy of the shipped bundle whose model.json names ``interpolation`` (None: no such key)."""
    folder = tmp_path / f"b-{interpolation}"
    shutil.copytree(DEFAULT_MODEL, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["preprocessing"].pop("interpolation", None)
    if interpolation is not None:
        meta["preprocessing"]["interpolation"] = interpolation
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("interpolation, flag", [("area", "INTER_AREA"), ("linear", "INTER_LINEAR"),
                                                 (None, "INTER_AREA")])
def test_the_crop_is_resized_as_the_bundle_says(tmp_path, interpolation, flag):
    import cv2
    import numpy as np

    from edge.types import Face

    b = bundles.load(_default_with(tmp_path, interpolation))
    assert b.preprocessing.interpolation == (interpolation or "area")  # no key: area, as bundles always were
    image = cv2.imread(str(Path(__file__).resolve().parent.parent / "docs" / "web.png"), cv2.IMREAD_COLOR)
    assert image is not None and min(image.shape[:2]) > 300
    face = Face((40, 60, 211, 197), track_id=1)  # shrunk about 4.4 times: the two interpolations differ
    patch = cv2.cvtColor(image[60:257, 40:251], cv2.COLOR_BGR2GRAY)
    want = {name: cv2.resize(patch, (48, 48), interpolation=getattr(cv2, name)) for name in ("INTER_AREA", "INTER_LINEAR")}
    assert np.abs(want["INTER_AREA"].astype(int) - want["INTER_LINEAR"]).max() > 20
    crop = Classifier(b, threads=1).crop(image, face)
    assert np.array_equal(crop[..., 0], want[flag])
    assert parse(json.loads(json.dumps(b.to_json())), path=b.path) == b


def test_an_unknown_interpolation_is_refused_by_name(tmp_path):
    for value in ("cubic", "AREA", 1, None):
        data = copy.deepcopy(VALID)
        data["preprocessing"]["interpolation"] = value
        with pytest.raises(BundleError, match=r"'preprocessing\.interpolation' must be one of area, linear"):
            parse(data)
    with pytest.raises(BundleError, match="preprocessing.interpolation"):
        bundles.load(_default_with(tmp_path, "bicubic"))


def test_every_interpolation_has_a_resize_flag():
    from edge.classify import RESIZE

    assert set(RESIZE) == set(INTERPOLATIONS)
    assert "interpolation" not in json.loads((DEFAULT_MODEL / "model.json").read_text())["preprocessing"]
    assert bundles.load(DEFAULT_MODEL).preprocessing.interpolation == "area"
