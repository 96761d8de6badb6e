"""BlazeFace beside Haar: the anchor decoding by hand, the real network on real faces (several in one
frame, a camera's lores copy), the crop levelled by the eyes, the damaged model file, the config key."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import clips
from edge import bundle as bundles
from edge import config as configs
from edge.classify import DEFAULT_MODEL, Classifier, eye_angle, level
from edge.detect import DetectConfig, DetectError, FaceFinder
from edge.detectors.blazeface import SHORT, BlazeFace, anchors, decode, letterbox, weighted_nms
from edge.types import Face, Frame
from tests.rig import run_edge

ROOT = Path(__file__).resolve().parent.parent


def frame(image: np.ndarray, index: int = 0, lores: np.ndarray | None = None) -> Frame:
    return Frame(image, index / 10, index, lores)


# -- decoding, by hand ------------------------------------------------------------------------------

def test_anchors_are_one_a_cell_of_a_48_grid():
    a = anchors()
    assert a.shape == (2304, 2)
    assert tuple(a[0]) == (0.5 / 48, 0.5 / 48)
    assert tuple(a[48 * 10 + 20]) == pytest.approx(((20 + 0.5) / 48, (10 + 0.5) / 48))  # row 10, column 20
    assert tuple(a[-1]) == pytest.approx((47.5 / 48, 47.5 / 48))


def test_short_range_anchors_share_grids_by_stride():
    """Short range: strides 8, 16, 16, 16 and two anchors a cell a layer: a 16x16 grid with 2 anchors a cell
    (512), then one 8x8 grid for the three stride-16 layers with 6 a cell (384)."""
    a = anchors(SHORT)
    assert a.shape == (896, 2)
    assert tuple(a[0]) == tuple(a[1]) == (0.5 / 16, 0.5 / 16)
    assert tuple(a[2]) == pytest.approx((1.5 / 16, 0.5 / 16))
    assert tuple(a[512]) == tuple(a[517]) == (0.5 / 8, 0.5 / 8) and tuple(a[518]) == (1.5 / 8, 0.5 / 8)


def test_decode_one_anchor_by_hand():
    a = anchors()
    raw = np.zeros((2304, 16), np.float32)
    logits = np.full(2304, -10.0, np.float32)
    k = 48 * 10 + 20  # anchor centre (20.5/48, 10.5/48) = (0.427083, 0.21875)
    raw[k, :4] = (9.6, -4.8, 38.4, 48.0)  # centre moved by (+0.05, -0.025), size (0.2, 0.25) of the input
    raw[k, 4:8] = (-19.2, -9.6, 19.2, -9.6)  # eyes at (-0.1, -0.05) and (+0.1, -0.05) from the anchor
    logits[k] = 2.0
    boxes, points, scores = decode(raw, logits, a)
    cx, cy = 20.5 / 48 + 0.05, 10.5 / 48 - 0.025  # 0.477083, 0.19375
    assert boxes.shape == (1, 4)
    assert boxes[0] == pytest.approx([cx - 0.1, cy - 0.125, cx + 0.1, cy + 0.125], abs=1e-6)
    assert points[0, 0] == pytest.approx([20.5 / 48 - 0.1, 10.5 / 48 - 0.05], abs=1e-6)
    assert points[0, 1] == pytest.approx([20.5 / 48 + 0.1, 10.5 / 48 - 0.05], abs=1e-6)
    assert points[0, 2] == pytest.approx(a[k], abs=1e-6)  # no offset: the nose sits on the anchor
    assert scores[0] == pytest.approx(1 / (1 + math.exp(-2.0)))  # 0.8808
    logits[k] = -0.1  # sigmoid 0.475: under MIN_SCORE (0.5)
    assert len(decode(raw, logits, a)[0]) == 0


def test_weighted_nms_merges_overlaps_and_keeps_apart():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8]], np.float32)
    points = np.zeros((3, 6, 2), np.float32)
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    out = weighted_nms(boxes, points, scores)
    assert [round(s, 2) for _, _, s in out] == [0.9, 0.7]  # best first; the 0.6 merged into the 0.9
    assert out[0][0] == pytest.approx([0.1 + 0.02 * 0.6 / 1.5, 0.1, 0.3 + 0.02 * 0.6 / 1.5, 0.3], abs=1e-6)
    assert out[1][0] == pytest.approx(boxes[2])


def test_letterbox_keeps_the_aspect():
    rgb = np.full((240, 320, 3), 255, np.uint8)
    tensor, fit, pad = letterbox(rgb)
    assert tensor.shape == (1, 192, 192, 3) and fit == pytest.approx(0.6) and pad == (0.0, 24.0)
    assert tensor[0, 23].max() == -1.0 and tensor[0, 24].min() == pytest.approx(1.0)  # a black bar above


# -- the real network --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def blazeface() -> BlazeFace:
    return BlazeFace(DetectConfig(method="blazeface"))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(bundles.load(DEFAULT_MODEL), threads=1)


def on_face(box, face_box, share=0.2):
    x, y, w, h = box
    fx, fy, fs, _ = face_box
    return (abs(x + w / 2 - (fx + fs / 2)) <= share * fs and abs(y + h / 2 - (fy + fs / 2)) <= share * fs
            and 0.6 * fs <= w <= 1.5 * fs)


def test_no_face_in_blank_noise_or_texture(blazeface):
    rng = np.random.default_rng(0)
    for image in (np.zeros((480, 640, 3), np.uint8), rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
                  clips.background(seed=3)):
        assert blazeface.detect(image) == []


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """scikit-image's public-domain portrait of Eileen Collins (512 x 512, smiling; face about (174, 64, 98, 98))."""
    skimage_data = pytest.importorskip("skimage.data")
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)


HEAD = (130, 10, 190, 190)  # the astronaut's head with some of its surroundings


def test_several_faces_in_one_frame_with_their_eyes(astronaut):
    x, y, w, h = HEAD
    head = astronaut[y:y + h, x:x + w]
    image = clips.background(seed=1)
    where = [((20, 40), 190), ((250, 230), 150), ((450, 60), 170)]  # three heads, three sizes
    for (px, py), side in where:
        image[py:py + side, px:px + side] = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
    found = FaceFinder(DetectConfig(method="blazeface", every=1)).find(frame(image)).faces
    assert len(found) == 3
    assert [f.area for f in found] == sorted((f.area for f in found), reverse=True)
    assert len({f.track_id for f in found}) == 3
    for (px, py), side in where:
        k = side / w  # the face inside the head crop: (174, 64, 98, 98) of the photo
        fx, fy, fs = px + (174 - x) * k, py + (64 - y) * k, 98 * k
        (face,) = [f for f in found if on_face(f.box, (fx, fy, fs, fs), share=0.25)]
        (lx, ly), (rx, ry) = face.eyes
        assert lx < rx and abs(ly - ry) < 0.15 * fs  # left first, about level in an upright face
        assert fx < lx < fx + fs / 2 < rx < fx + fs and fy < ly < fy + fs * 0.6  # in the face's upper half


def test_lores_copy_gives_the_same_faces(fer2013):
    """A camera's I420 lores stream at detection size (picamera2's): converted at that size, the same faces
    as from the full frame shrunk; Haar reads its Y plane."""
    face = clips.pick_faces(fer2013, "happy", 1)[0]
    image = clips.face_canvas([face], [(220, 140)], size=200, bg=clips.background(seed=2))
    lores = cv2.cvtColor(cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2YUV_I420)
    assert lores.shape == (360, 320)
    for method in ("blazeface", "haar"):
        plain = FaceFinder(DetectConfig(method=method, every=1)).find(frame(image)).faces
        small = FaceFinder(DetectConfig(method=method, every=1)).find(frame(image, lores=lores)).faces
        assert len(plain) == len(small) == 1, method
        assert on_face(small[0].box, (220, 140, 200, 200)), (method, small[0].box)
        assert np.allclose(small[0].box, plain[0].box, atol=0.06 * 200), (method, small[0].box, plain[0].box)


def head_at(astronaut: np.ndarray, x: int, y: int, side: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A textured wall with the astronaut's head pasted so that her face is ``side`` px; the face's box."""
    hx, hy, hw, _ = HEAD
    k = side / 98  # her face is (174, 64, 98, 98) in the photo
    size = int(round(hw * k))
    image = clips.background(seed=6)
    image[y:y + size, x:x + size] = cv2.resize(astronaut[hy:hy + hw, hx:hx + hw], (size, size),
                                               interpolation=cv2.INTER_AREA)
    return image, (int(x + (174 - hx) * k), int(y + (64 - hy) * k), side, side)


def test_lores_regions_follow_a_still_face(fer2013, astronaut):
    """With gating on, after the first whole-frame look both detectors search regions around the tracked
    face on the lores copy (Haar on its Y plane, BlazeFace on its colour): the face stays found where it is.
    (Haar gets a FER2013 face, BlazeFace a photo's: it misses most upscaled 48x48 FER2013 crops.)"""
    fer_box = (160, 120, 180, 180)
    fer_image = clips.face_canvas([clips.pick_faces(fer2013, "happy", 1)[0]], [fer_box[:2]], size=180,
                                  bg=clips.background(seed=6))
    photo_image, photo_box = head_at(astronaut, 75, 35, 180)
    for method, picture, truth in (("haar", fer_image, fer_box), ("blazeface", photo_image, photo_box)):
        lores = cv2.cvtColor(cv2.resize(picture, (320, 240), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2YUV_I420)
        finder = FaceFinder(DetectConfig(method=method))
        regions = 0
        for i in range(25):
            found = finder.find(frame(picture, i, lores))
            assert len(found.faces) == 1 and on_face(found.faces[0].box, truth, 0.25), (method, i, found)
            regions += found.detected and 0 < found.searched < 1
        assert regions >= 1, method  # at least one search around the tracked face, on the lores copy


# -- the crop, levelled by the eyes -------------------------------------------------------------------

def rotated(image: np.ndarray, centre: tuple[float, float], degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``degrees`` (counter-clockwise on screen) about ``centre``, and the matrix."""
    m = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return cv2.warpAffine(image, m, image.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), m


def test_levelled_crop_of_a_rotated_face_equals_the_upright_one(fer2013, classifier):
    face = clips.pick_faces(fer2013, "happy", 1)[0]
    box = (220, 140, 200, 200)
    upright = clips.face_canvas([face], [box[:2]], size=200, bg=clips.background(seed=4))
    eyes = ((285.0, 215.0), (355.0, 215.0))
    reference = classifier.crop(upright, Face(box, 1, eyes)).astype(np.float32)
    assert np.array_equal(reference, classifier.crop(upright, Face(box, 1)))  # level eyes: the plain crop
    for degrees in (-30, 30, 45):
        turned, m = rotated(upright, (320, 240), degrees)
        moved = [tuple(m @ (x, y, 1.0)) for x, y in eyes]
        assert eye_angle(tuple(moved)) == pytest.approx(-degrees, abs=1e-6)
        levelled = classifier.crop(turned, Face(box, 1, tuple(moved))).astype(np.float32)
        plain = classifier.crop(turned, Face(box, 1)).astype(np.float32)
        assert np.abs(levelled - reference).mean() < 4.0, degrees  # gray levels, of 255: interpolation only
        assert np.abs(plain - reference).mean() > 3 * np.abs(levelled - reference).mean()


def test_level_turns_only_the_crop():
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 20:80] = 255  # a level bar through the middle
    patch = level(image, (30, 30, 40, 40), ((35.0, 50.0), (65.0, 50.0)), 0.25)
    assert patch.shape == (60, 60, 3) and patch[30, :].min() == 255  # 40 px + 25% each side; the bar across


def test_a_smiling_face_tilted_30_degrees_reads_happy(astronaut, classifier):
    finder = FaceFinder(DetectConfig(method="blazeface", every=1))
    for degrees in (30, -30, 45):
        turned, _ = rotated(astronaut, (222.0, 112.0), degrees)
        (found,) = finder.find(frame(turned, 1)).faces
        assert found.eyes is not None
        assert eye_angle(found.eyes) == pytest.approx(-degrees, abs=10)
        (emotions,) = classifier.classify(frame(turned), [found])
        assert emotions.top == "happy" and emotions.confidence >= 0.8, (degrees, emotions.as_dict())
    assert FaceFinder(DetectConfig(method="haar", every=1)).find(frame(rotated(astronaut, (222.0, 112.0), 30)[0])).faces == ()


# -- the model file, checked like a bundle --------------------------------------------------------------

def test_missing_or_damaged_model_names_the_path_and_the_fix(tmp_path):
    missing = tmp_path / "nope.tflite"
    with pytest.raises(DetectError, match=f"{missing} not found.*detect.blazeface_model"):
        FaceFinder(DetectConfig(method="blazeface", blazeface_model=str(missing)))
    good = (ROOT / "models" / "blazeface" / "face_detection_full_range.tflite").read_bytes()
    for name, data in (("truncated", good[:len(good) // 2]), ("noise", os.urandom(4096))):
        bad = tmp_path / f"{name}.tflite"
        bad.write_bytes(data)
        with pytest.raises(DetectError, match=f"{bad}.*damaged.*detect.blazeface_model"):
            FaceFinder(DetectConfig(method="blazeface", blazeface_model=str(bad)))
    pair = tmp_path / "pair"  # a good full-range file with a damaged short-range one beside it
    pair.mkdir()
    (pair / "face_detection_full_range.tflite").write_bytes(good)
    (pair / "face_detection_short_range.tflite").write_bytes(good[:1000])
    with pytest.raises(DetectError, match=f"{pair / 'face_detection_short_range.tflite'}.*damaged"):
        FaceFinder(DetectConfig(method="blazeface", blazeface_model=str(pair / "face_detection_full_range.tflite")))
    classifier_model = DEFAULT_MODEL / "model.tflite"  # a TFLite file, not BlazeFace
    with pytest.raises(DetectError, match=f"{classifier_model}.*not face_detection_full_range.tflite's"):
        FaceFinder(DetectConfig(method="blazeface", blazeface_model=str(classifier_model)))


def test_damaged_model_is_exit_2_and_one_line(tmp_path):
    bad = tmp_path / "face.tflite"
    bad.write_bytes(b"TFL3" + os.urandom(2000))
    out = run_edge("--source", tmp_path / "none.mp4", "--music-enabled", "false", "--detect-method", "blazeface",
                   "--detect-blazeface-model", bad)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and str(bad) in out.stderr and "detect.blazeface_model" in out.stderr


def test_the_config_key_and_its_did_you_mean(tmp_path):
    assert configs.load(None, {"detect.method": "blazeface"}).detect.method == "blazeface"
    with pytest.raises(configs.ConfigError, match="'method' must be one of haar, blazeface.*did you mean 'blazeface'"):
        configs.load(None, {"detect.method": "blazefase"})
    toml = tmp_path / "moodplayer.toml"
    toml.write_text('[detect]\nmethd = "haar"\n')
    with pytest.raises(configs.ConfigError, match="detect.methd.*did you mean 'method'"):
        configs.load(toml)
    assert 'method = "' in configs.to_toml(configs.load(None))
