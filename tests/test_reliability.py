"""Reliability: bad inputs end in a clear error or a logged skip, never a traceback or a hang; a long soak.

Most bad inputs go through ``python -m edge`` itself (a child process: exit code 2 and one ``error:``
line on stderr naming the culprit, no ``Traceback``, within a timeout), the rest through the public API.
What other files already cover is not repeated here:

- tests/test_config.py: unknown keys and sections (with suggestions), ill-typed values in a file and in
  flags, invalid TOML, a missing config file, the CLI's exit code for a bad key, and a property test;
- tests/test_sources.py: a missing source file, a broken video, an empty image folder, a camera index or
  device that does not exist (``open_source``), ``auto`` without a camera, and gray / 16-bit / alpha /
  float / bool images becoming HxWx3 uint8;
- tests/test_converter_inputs.py: bad model files, weights, labels, data and options for the converter;
- tests/test_detect.py, test_events.py, test_music.py, test_library.py: a missing or broken cascade, an
  unwritable events path, a missing or audio-less songs folder and non-audio songs, at the API level
  (here the same inputs are checked end to end through the CLI, where the exit code is the contract);
- tests/test_bundle.py: the bundle metadata loader, property-based.

The soak (``-m slow``) runs 100,000 frames of a small looping video through the whole loop, music on.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import clips
from edge import bundle as bundles
from edge import config as configs
from edge.bundle import BundleError
from edge.classify import DEFAULT_MODEL, Classifier
from edge.loop import Pipeline, run
from edge.sources import SourceError
from edge.types import Face, Frame
from tests.rig import run_edge as edge

ROOT = Path(__file__).resolve().parent.parent
SONGS = ROOT / "songs"
TIMEOUT = 60  # seconds: a bad input that takes longer than this counts as a hang


def error_line(out: subprocess.CompletedProcess, *names: str) -> str:
    """Exit code 2, no traceback, exactly one ``error:`` line, naming each of ``names``."""
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.returncode == 2, (out.returncode, out.stderr[-3000:])
    errors = [line for line in out.stderr.splitlines()
              if line.startswith("error: ") or line.startswith("python -m edge: error: ")]
    assert len(errors) == 1, out.stderr[-3000:]
    for name in names:
        assert name in errors[0], (name, errors[0])
    return errors[0]


def clean_run(out: subprocess.CompletedProcess) -> str:
    """Exit code 0, no traceback; returns stderr (the log)."""
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stderr


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """1.2 s at 10 fps of a textured 160x120 background: a video that ends."""
    return clips.empty_video(tmp_path_factory.mktemp("reliability") / "short.mp4", 12, frame_size=(160, 120), seed=1)


# -- model bundles: corrupt files, and metadata that contradicts the model --------------------------------

def _bundle_copy(tmp: Path, name: str = "bundle") -> Path:
    out = tmp / name
    shutil.copytree(DEFAULT_MODEL, out)
    return out


def _edit_meta(folder: Path, edit: Callable[[dict], None]) -> Path:
    meta = json.loads((folder / "model.json").read_text())
    edit(meta)
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


def _unchecked(b: Path) -> Path:
    """Drop the bundle's checksum of model.tflite, so a damaged file reaches the interpreter."""
    return _edit_meta(b, lambda m: m.pop("model_sha256", None))


def _truncated(tmp: Path, checked: bool = True) -> Path:
    b = _bundle_copy(tmp) if checked else _unchecked(_bundle_copy(tmp))
    data = (b / "model.tflite").read_bytes()
    (b / "model.tflite").write_bytes(data[:len(data) // 2])
    return b


def _bytes_flipped(tmp: Path, checked: bool = True) -> Path:
    b = _bundle_copy(tmp) if checked else _unchecked(_bundle_copy(tmp))
    data = bytearray((b / "model.tflite").read_bytes())
    rng = random.Random(0)
    for _ in range(2000):
        data[rng.randrange(64, len(data))] = rng.randrange(256)
    (b / "model.tflite").write_bytes(bytes(data))
    return b


def _empty_tflite(tmp: Path) -> Path:
    b = _bundle_copy(tmp)
    (b / "model.tflite").write_bytes(b"")
    return b


def _text_tflite(tmp: Path) -> Path:
    b = _bundle_copy(tmp)
    (b / "model.tflite").write_text("this is not a model\n" * 20)
    return b


def _no_meta(tmp: Path) -> Path:
    b = _bundle_copy(tmp)
    (b / "model.json").unlink()
    return b


def _meta_text(text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        b = _bundle_copy(tmp)
        (b / "model.json").write_text(text)
        return b
    return make


def _meta_edit(edit: Callable[[dict], None]) -> Callable[[Path], Path]:
    return lambda tmp: _edit_meta(_bundle_copy(tmp), edit)


def _rgb(meta: dict) -> None:
    meta["input"].update(channels=3, color="rgb")
    meta["preprocessing"].update(mean=[0.0] * 3, std=[255.0] * 3)


BAD_BUNDLES = {
    "truncated tflite": (_truncated, ["model.tflite", "model_sha256"]),
    "tflite with 2000 bytes flipped": (_bytes_flipped, ["model.tflite", "model_sha256"]),
    "truncated tflite, no checksum": (lambda t: _truncated(t, checked=False), ["model.tflite", "cannot load"]),
    "tflite with 2000 bytes flipped, no checksum": (lambda t: _bytes_flipped(t, checked=False),
                                                    ["model.tflite", "cannot load"]),
    "empty tflite": (_empty_tflite, ["not a TFLite model", "0 bytes"]),
    "text file as tflite": (_text_tflite, ["not a TFLite model"]),
    "no model.json": (_no_meta, ["has no model.json"]),
    "model.json not JSON": (_meta_text("{'labels': [angry"), ["model.json is not valid JSON"]),
    "model.json nested 100000 deep": (_meta_text("[" * 100_000 + "]" * 100_000), ["model.json is not valid JSON"]),
    "model.json a list": (_meta_text("[1, 2, 3]"), ["expected a JSON object"]),
    "metadata: wrong input size": (_meta_edit(lambda m: m["input"].update(height=64, width=64)),
                                   ["'input' says 64x64x1", "(48, 48, 1)"]),
    "metadata: wrong label count": (_meta_edit(lambda m: m.update(labels=m["labels"][:6])),
                                    ["6 'labels'", "7 outputs"]),
    "metadata: wrong input dtype": (_meta_edit(lambda m: m["quantization"].update(input_dtype="float32")),
                                    ["'quantization.input_dtype' is float32", "int8"]),
    "metadata: rgb for a gray model": (_meta_edit(_rgb), ["'input' says 48x48x3"]),
    "metadata: wrong input scale": (_meta_edit(lambda m: m["quantization"].update(input_scale=1 / 127.5)),
                                    ["'quantization.input_scale'", "does not belong to this model"]),
    "metadata: wrong output zero point": (_meta_edit(lambda m: m["quantization"].update(output_zero_point=0)),
                                          ["'quantization.output_scale' / 'output_zero_point'"]),
    "metadata: zero point outside int8": (_meta_edit(lambda m: m["quantization"].update(input_zero_point=-1000)),
                                          ["'quantization.input_zero_point'", "[-128, 127]"]),
    "metadata: a 400-digit number": (_meta_edit(lambda m: m["quantization"].update(input_scale=10 ** 400)),
                                     ["'quantization.input_scale'"]),
    "metadata: format_version 2": (_meta_edit(lambda m: m.update(format_version=2)), ["'format_version' 2"]),
}


@pytest.mark.parametrize("case", list(BAD_BUNDLES))
def test_bad_bundle_is_a_clear_error(case, tmp_path, video):
    make, names = BAD_BUNDLES[case]
    folder = make(tmp_path)
    error_line(edge("--source", video, "--model", folder, "--music-enabled", "false"), str(folder), *names)


def test_model_path_that_is_not_a_bundle(tmp_path, video):
    (tmp_path / "notes.txt").write_text("hello")
    error_line(edge("--source", video, "--model", tmp_path / "notes.txt"), "is not a bundle folder")
    error_line(edge("--source", video, "--model", tmp_path / "absent"), "does not exist")


def test_a_bad_bundle_is_refused_before_the_camera_opens(tmp_path):
    """The model is checked first: with no camera at all, the error is still about the model."""
    folder = _empty_tflite(tmp_path)
    error_line(edge("--source", "auto", "--model", folder), "not a TFLite model")


def test_bundle_metadata_that_contradicts_the_model_through_the_api(tmp_path):
    folder = _meta_edit(lambda m: m["quantization"].update(input_scale=0.5))(tmp_path)
    with pytest.raises(BundleError, match="input_scale"):
        Classifier(bundles.load(folder))


# -- config ----------------------------------------------------------------------------------------------

def test_config_values_out_of_range_through_flags(video):
    error_line(edge("--source", video, "--output-max-frames", "-1"), "[output]", "max_frames")
    error_line(edge("--source", video, "--output-log-every", "-5"), "[output]", "log_every")
    error_line(edge("--source", video, "--source-fps", "nan"), "source.fps", "finite")
    error_line(edge("--source", video, "--detect-scale-factor", "1.0"), "[detect]", "scale_factor")
    error_line(edge("--source", video, "--music-volume", "2"), "[music]", "volume")


def test_unknown_flag_and_empty_source(video):
    error_line(edge("--source", video, "--detect-evrey", "3"), "unrecognized arguments", "--detect-evrey")
    error_line(edge("--source", ""), "'spec' is empty")


def test_config_files_that_are_not_text_or_too_deep_or_ill_typed(tmp_path, video):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00[detect]\x00")
    error_line(edge("--config", binary, "--source", video), "binary.toml is not valid TOML")
    deep = tmp_path / "deep.toml"
    deep.write_text("[detect]\nevery = " + "[" * 50_000 + "]" * 50_000 + "\n")
    error_line(edge("--config", deep, "--source", video), "deep.toml is not valid TOML")
    dated = tmp_path / "dated.toml"
    dated.write_text("[mood]\nhold = 1979-05-27\n")
    error_line(edge("--config", dated, "--source", video), "mood.hold", "a number")
    nested = tmp_path / "nested.toml"
    nested.write_text("[detect.every]\nx = 1\n")
    error_line(edge("--config", nested, "--source", video), "detect.every", "an integer")


def test_print_config_writes_toml_that_loads_back_for_any_path(tmp_path):
    """A source path with a newline, a tab, DEL or a bell must still print as valid TOML."""
    odd = "cam\n\t\x7f\x07\"quoted\" \\ ✓"
    cfg = configs.load(None, {"source.spec": odd})
    (tmp_path / "c.toml").write_text(configs.to_toml(cfg))
    assert configs.load(tmp_path / "c.toml") == cfg


# -- the config loader, property-based (tests/test_config.py has the flag-level one) ------------------------

_key = st.one_of(st.sampled_from(sorted({k for sec in configs.SECTIONS for k in configs.fields_of(sec)})),
                 st.from_regex(r"[a-z_]{1,10}", fullmatch=True))
_section = st.one_of(st.sampled_from(list(configs.SECTIONS)), st.from_regex(r"[a-z]{1,8}", fullmatch=True))
_toml_literal = st.sampled_from([
    "0", "1", "-3", "3", "100000", "99999999999999999999", "0.5", "1.5", "-0.0", "1e309", "inf", "-inf", "nan",
    "true", "false", '""', '"auto"', '"0"', '"weighted"', '"match"', "'x'", '"\\u00e9\\n"', "[]", "[1, 2]",
    '["a"]', "{}", "{ a = 1 }", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.lists(st.tuples(_section, st.lists(st.tuples(_key, _toml_literal), max_size=4)), max_size=4))
def test_any_toml_file_loads_or_names_the_problem(doc, tmp_path):
    """A TOML file of any sections, keys and typed values (arrays, tables, dates, huge numbers): a Config
    or a ConfigError, never another exception."""
    lines = []
    for section, items in doc:
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in dict(items).items()]
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines) + "\n")
    try:
        configs.load(path)
    except configs.ConfigError as e:
        assert str(e)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_as_a_config_file_loads_or_raises_config_error(text, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        configs.load(path)
    except configs.ConfigError:
        pass


def _typed_value(typ: type):
    if typ is bool:
        return st.booleans()
    if typ is int:
        return st.integers(-5, 10**6)
    if typ is float:
        return st.floats(allow_nan=False, width=64) | st.sampled_from([0.0, 0.5, 2.0, 1e9])
    return st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def _overrides(draw) -> dict:
    out = {}
    for section in draw(st.lists(st.sampled_from(list(configs.SECTIONS)), max_size=4, unique=True)):
        fields = configs.fields_of(section)
        for key in draw(st.lists(st.sampled_from(list(fields)), max_size=3, unique=True)):
            out[f"{section}.{key}"] = draw(_typed_value(fields[key][0]))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=_overrides())
def test_whatever_loads_prints_as_toml_that_loads_back_the_same(overrides, tmp_path):
    """``--print-config`` output is a config file: for any values the loader accepts (strings with quotes,
    newlines, control characters, any float), printing and loading it again gives the same Config."""
    try:
        cfg = configs.load(None, overrides)
    except configs.ConfigError:
        return
    path = tmp_path / "printed.toml"
    path.write_text(configs.to_toml(cfg), encoding="utf-8")
    assert configs.load(path) == cfg


# -- songs -----------------------------------------------------------------------------------------------

def test_songs_folder_empty_non_audio_or_a_file(tmp_path, video):
    empty = tmp_path / "empty"
    empty.mkdir()
    error_line(edge("--source", video, "--songs", empty), str(empty), "has no audio files")
    junk = tmp_path / "junk"
    (junk / "happy").mkdir(parents=True)
    (junk / "happy" / "notes.txt").write_text("la la la")
    (junk / "happy" / "fake.ogg").write_bytes(b"not an ogg" * 300)
    error_line(edge("--source", video, "--songs", junk), str(junk), "has no audio files")
    afile = tmp_path / "songs.txt"
    afile.write_text("happy.ogg\n")
    error_line(edge("--source", video, "--songs", afile), str(afile))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder: an unreadable one cannot be made")
def test_unreadable_songs_folder(tmp_path, video):
    locked = tmp_path / "locked"
    (locked / "happy").mkdir(parents=True)
    shutil.copy(next(SONGS.glob("happy/*.ogg")), locked / "happy")
    locked.chmod(0)
    try:
        out = edge("--source", video, "--songs", locked)
    finally:
        locked.chmod(0o755)
    error_line(out, str(locked))


def test_music_off_needs_no_songs(tmp_path, video):
    clean_run(edge("--source", video, "--songs", tmp_path / "absent", "--music-enabled", "false"))


# -- sources ---------------------------------------------------------------------------------------------

def test_camera_index_that_does_not_exist():
    if Path("/dev/video9").exists():
        pytest.skip("this machine has a /dev/video9")
    error_line(edge("--source", "9", "--music-enabled", "false"), "camera 9 did not open", "--source clip.mp4")


def test_a_video_that_ends_stops_cleanly_and_flushes_events(tmp_path, video):
    events = tmp_path / "events.jsonl"
    log = clean_run(edge("--source", video, "--events", events, "--events-frames", "--music-enabled", "false"))
    assert "processed 12 frames" in log
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["index"] for e in lines if e["type"] == "frame"] == list(range(12))


def test_truncated_and_empty_videos(tmp_path, video):
    data = video.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[:len(data) // 2])
    error_line(edge("--source", tmp_path / "half.mp4", "--music-enabled", "false"), "half.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    error_line(edge("--source", tmp_path / "empty.mp4", "--music-enabled", "false"), "empty.mp4")


def test_corrupt_image_is_an_error_and_a_folder_of_them_is_named_and_skipped(tmp_path):
    bad = tmp_path / "face.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"junk" * 100)
    error_line(edge("--source", bad, "--music-enabled", "false"), "cannot read image", "face.jpg")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"not a png")
    out = edge("--source", folder, "--music-enabled", "false")  # photos: one line each, exit 1 (edge.stills)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.stdout.splitlines() == [f"{folder / f'{i}.png'}: skipped: not a readable image "
                                       "(is it a JPEG/PNG/BMP/TIFF/WebP file?)" for i in range(3)]
    log = clean_run(edge("--source", folder, "--loop", "--max-frames", "1", "--music-enabled", "false"))
    assert "skipping" in log and "not a readable image" in log and "processed 0 frames" in log


ODD_IMAGES = {
    "1x1": np.zeros((1, 1, 3), np.uint8),
    "1x2000": np.full((1, 2000, 3), 90, np.uint8),
    "2000x1 gray": np.full((2000, 1), 90, np.uint8),
    "16-bit gray": np.linspace(0, 65535, 120 * 160).reshape(120, 160).astype(np.uint16),
    "BGRA": np.random.default_rng(0).integers(0, 255, (120, 160, 4), dtype=np.uint8),
    "huge 4000x3000": np.random.default_rng(1).integers(0, 255, (3000, 4000, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("name", list(ODD_IMAGES))
def test_odd_images_run_through_the_whole_loop(name, tmp_path):
    path = tmp_path / "image.png"
    assert cv2.imwrite(str(path), ODD_IMAGES[name])
    log = clean_run(edge("--source", path, "--loop", "--max-frames", "1", "--music-enabled", "false"))
    assert "processed 1 frames" in log
    out = edge("--source", path)  # as a photo (edge.stills)
    clean_run(out)
    assert out.stdout.startswith(f"{path}: ") and len(out.stdout.splitlines()) == 1


# -- outputs and detector --------------------------------------------------------------------------------

def test_events_in_a_missing_folder_are_created_and_in_an_impossible_one_refused(tmp_path, video):
    nested = tmp_path / "new" / "deeper" / "events.jsonl"
    clean_run(edge("--source", video, "--events", nested, "--music-enabled", "false"))
    assert nested.is_file()
    (tmp_path / "file").write_text("")
    error_line(edge("--source", video, "--events", tmp_path / "file" / "events.jsonl", "--music-enabled", "false"),
               "can't write events", "file/events.jsonl")
    error_line(edge("--source", video, "--events", tmp_path, "--music-enabled", "false"), "can't write events")


def test_record_to_an_impossible_path(tmp_path, video):
    error_line(edge("--source", video, "--record", tmp_path / "nope" / "out.mp4", "--music-enabled", "false"),
               "cannot record", "nope")
    error_line(edge("--source", video, "--record", tmp_path / "out.txt", "--music-enabled", "false"),
               "cannot record", "out.txt")


def test_missing_or_broken_cascade_through_the_cli(tmp_path, video):
    error_line(edge("--source", video, "--detect-cascade", tmp_path / "nope.xml", "--music-enabled", "false"),
               "Haar cascade", "nope.xml", "not found")
    (tmp_path / "notes.xml").write_text("<notes>not a cascade</notes>")
    error_line(edge("--source", video, "--detect-cascade", tmp_path / "notes.xml", "--music-enabled", "false"),
               "Haar cascade", "notes.xml", "did not load")


# -- frames of odd sizes and types through the public API ---------------------------------------------------

@pytest.fixture(scope="module")
def pipeline():
    pipe = Pipeline(configs.load(None, {"music.enabled": False, "detect.every": 1}))
    yield pipe
    pipe.close()


ODD_FRAMES = {
    "gray HxW": np.zeros((120, 160), np.uint8),
    "gray HxWx1": np.zeros((120, 160, 1), np.uint8),
    "BGRA": np.zeros((120, 160, 4), np.uint8),
    "16-bit": np.full((120, 160, 3), 40000, np.uint16),
    "float32 0..1": np.full((120, 160, 3), 0.5, np.float32),
    "bool": np.ones((120, 160), bool),
    "1x1": np.zeros((1, 1, 3), np.uint8),
    "not contiguous": np.zeros((120, 160, 3), np.uint8)[:, ::-1],
    "huge 3000x4000": np.zeros((3000, 4000, 3), np.uint8),
}


@pytest.mark.parametrize("name", list(ODD_FRAMES))
def test_odd_frames_from_a_custom_source_are_converted(name, pipeline, caplog):
    """A source of one's own may break the Frame contract (HxWx3 uint8 BGR): the loop converts, and says so."""
    with caplog.at_level(logging.WARNING):
        pipeline.step(Frame(ODD_FRAMES[name], 0.0, 0), threading.Event())


def test_an_empty_frame_is_a_source_error(pipeline):
    with pytest.raises(SourceError, match="shape"):
        pipeline.step(Frame(np.zeros((0, 0, 3), np.uint8), 0.0, 0), threading.Event())


def test_wrong_face_sizes_and_boxes_outside_the_frame(pipeline):
    clf = pipeline.classifier
    for shape in [(1, 64, 64, 1), (1, 48, 48, 3), (48, 48), (2, 48, 48, 1, 1)]:
        with pytest.raises(ValueError, match="faces must be N x 48 x 48 x 1"):
            clf.predict(np.zeros(shape, np.uint8))
    assert clf.predict(np.zeros((0, 48, 48, 1), np.uint8)).shape == (0, 7)
    image = np.zeros((120, 160, 3), np.uint8)
    boxes = [(1000, 1000, 50, 50), (-50, -50, 20, 20), (0, 0, 0, 0), (10, 10, -5, -5), (0, 0, 10**6, 10**6)]
    emotions = clf.classify(Frame(image, 0.0, 0), [Face(b, i) for i, b in enumerate(boxes)])
    assert len(emotions) == len(boxes)
    assert all(np.isclose(e.probs.sum(), 1.0, atol=1e-3) for e in emotions)


# -- soak ------------------------------------------------------------------------------------------------

def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_soak_100000_frames_memory_flat_and_no_thread_left_behind(tmp_path):
    """100,000 frames of a small looping video (a FER2013 face going happy -> sad, or a bare background
    without FER2013) through the whole loop with music on: RSS grows less than 10 MB after warm-up, the
    thread count stays flat, and every thread the run started is gone when it returns."""
    video = tmp_path / "soak.mp4"
    if (clips.FER2013_DIR / "val").is_dir():
        clips.make_clip(video, [("happy", 5.0), ("sad", 5.0)], fps=10, size=80, drift=4, frame_size=(160, 120))
    else:
        clips.empty_video(video, 100, frame_size=(160, 120), seed=2)
    frames, warm_at = 100_000, 5_000
    cfg = configs.load(None, {"source.spec": str(video), "source.loop": True, "output.max_frames": frames,
                              "output.events": str(tmp_path / "events.jsonl"), "output.log_every": 0,
                              "music.songs": str(SONGS), "music.state_dir": str(tmp_path / "state")})
    before = set(threading.enumerate())
    samples: dict[int, tuple[float, int]] = {}

    def on_frame(frame: Frame) -> None:
        n = frame.index + 1
        if n == warm_at or n % 10_000 == 0 or n == frames - 1:
            samples[n] = (_rss_mb(), threading.active_count())

    t0 = time.perf_counter()
    stats = run(cfg, on_frame=on_frame)
    took = time.perf_counter() - t0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(threading.enumerate()) - before:
        time.sleep(0.05)
    left = [t.name for t in set(threading.enumerate()) - before]
    assert stats.frames == frames
    warm_rss, warm_threads = samples[warm_at]
    growth = max(rss for rss, _ in samples.values()) - warm_rss
    report = {n: (round(r, 1), t) for n, (r, t) in sorted(samples.items())}
    print(f"soak: {frames} frames in {took:.0f} s ({stats.fps:.0f} FPS), {stats.moods} mood changes, {stats.songs} "
          f"songs; RSS MB / threads by frame: {report}")
    assert growth < 10.0, report
    assert all(t <= warm_threads for _, t in samples.values()), report
    assert not left, left
    if (clips.FER2013_DIR / "val").is_dir():
        assert stats.moods > 100 and stats.songs > 100  # the mood and the music really kept changing
