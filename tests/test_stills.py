"""Photos judged as stills (issue 20): the real model and detector on a real photo, a folder with a photo,
a faceless image and a broken file, the CLI as a subprocess, and the overlay on SDL's dummy driver.

The photo is scikit-image's public-domain astronaut portrait (Eileen Collins, NASA): one smiling face.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data  # the dev extra; the astronaut portrait ships inside the wheel

from edge import bundle as bundles
from edge import sources
from edge.classify import DEFAULT_MODEL, Classifier
from edge.detect import FaceFinder
from edge.mood import MoodConfig, room_from
from edge.overlay import Window
from edge.sources import SourceConfig, SourceError, open_source
from edge.sources.images import still_paths
from edge.stills import EXIT_OK, EXIT_UNREADABLE, fit, judge, line, run, wait_for_key
from edge.types import EMOTIONS, UNCERTAIN, Emotions, Face
from tests.rig import run_edge

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


def edge(*args: str | Path):
    return run_edge(*args, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A folder: the astronaut (JPEG), a faceless image (a smooth gradient with noise), a broken .jpg."""
    folder = tmp_path_factory.mktemp("stills") / "photos"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "1-astronaut.jpg"), skimage.data.astronaut()[:, :, ::-1])  # RGB -> BGR
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 320, dtype=np.float32)[None, :, None] * np.ones((240, 1, 3), np.float32)
    faceless = np.clip(ramp + rng.normal(0, 8, ramp.shape), 0, 255).astype(np.uint8)
    assert cv2.imwrite(str(folder / "2-wall.png"), faceless)
    (folder / "3-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    return folder


@pytest.fixture(scope="module")
def parts():
    """The real parts: the shipped model's classifier and the default Haar finder."""
    classifier = Classifier(bundles.load(DEFAULT_MODEL), threads=1)
    return FaceFinder(), classifier


def emotions(**probs: float) -> Emotions:
    p = np.array([probs.get(label, 0.0) for label in EMOTIONS], np.float32)
    return Emotions(p, EMOTIONS)


# -- the room's mood from one still -------------------------------------------------------------

def test_room_from_one_still_needs_no_hold():
    face = Face((0, 0, 100, 100), 7)
    mood = room_from(MoodConfig(hold=1.5), EMOTIONS, [face], [emotions(happy=0.9, neutral=0.1)])
    assert (mood.label, mood.faces, mood.confidence) == ("happy", 1, pytest.approx(0.9))
    assert mood.valence > 0.6 and mood.arousal > 0.4


def test_room_from_weights_faces_by_size_and_confidence_and_counts_each_once():
    big, small = Face((0, 0, 200, 200), 1), Face((300, 0, 50, 50), 1)  # same track id: still both count
    sad, happy = emotions(sad=0.8, neutral=0.2), emotions(happy=0.9, neutral=0.1)
    mood = room_from(MoodConfig(), EMOTIONS, [big, small], [sad, happy])
    w_big, w_small = 200 * 200 * 0.8, 50 * 50 * 0.9
    assert mood.label == "sad" and mood.faces == 2
    assert mood.confidence == pytest.approx(w_big * 0.8 / (w_big + w_small), abs=1e-4)
    largest_only = room_from(MoodConfig(aggregate="largest"), EMOTIONS, [small, big], [happy, sad])
    assert largest_only.label == "sad" and largest_only.confidence == pytest.approx(0.8)


def test_room_from_is_uncertain_for_a_tie_a_flat_reading_or_nobody():
    face = Face((0, 0, 80, 80))
    assert room_from(MoodConfig(), EMOTIONS, [face], [emotions(happy=0.45, sad=0.44, neutral=0.11)]).label == UNCERTAIN
    assert room_from(MoodConfig(), EMOTIONS, [face], [emotions(**{e: 1 / 7 for e in EMOTIONS})]).label == UNCERTAIN
    nobody = room_from(MoodConfig(), EMOTIONS, [], [])
    assert (nobody.label, nobody.faces) == (UNCERTAIN, 0)


# -- judging photos with the real model -----------------------------------------------------------

def test_the_astronaut_is_one_happy_face(photos, parts):
    finder, classifier = parts
    path = photos / "1-astronaut.jpg"
    still = judge(path, cv2.imread(str(path)), finder, classifier, MoodConfig())
    assert len(still.faces) == 1 and len(still.emotions) == 1
    x, y, w, h = still.faces[0].box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180  # her face, upper middle of the 512x512 portrait
    assert still.emotions[0].top == "happy" and still.emotions[0].confidence > 0.5
    assert still.mood.label == "happy" and still.mood.faces == 1 and still.mood.valence > 0.3
    text = line(still)
    assert text.startswith(f"{path}: 1 face: happy 0.") and text.endswith(")") and "room: happy" in text
    assert all(label in text for label in EMOTIONS)


def test_a_folder_gives_one_line_per_photo_and_names_the_broken_one(photos, parts):
    finder, classifier = parts
    out = io.StringIO()
    code = run(still_paths(str(photos)), finder, classifier, MoodConfig(), out)
    lines = out.getvalue().splitlines()
    assert code == EXIT_UNREADABLE and len(lines) == 3
    assert lines[0].startswith(f"{photos / '1-astronaut.jpg'}: 1 face: happy")
    assert lines[1] == f"{photos / '2-wall.png'}: no face found; room: uncertain"
    assert lines[2].startswith(f"{photos / '3-broken.jpg'}: skipped: not a readable image")


def test_json_is_one_object_per_photo(photos, parts):
    finder, classifier = parts
    out = io.StringIO()
    code = run(still_paths(str(photos))[:2], finder, classifier, MoodConfig(), out, json_lines=True)
    first, wall = (json.loads(text) for text in out.getvalue().splitlines())
    assert code == EXIT_OK
    assert first["path"] == str(photos / "1-astronaut.jpg") and first["mood"] == "happy"
    assert set(first) == {"path", "faces", "mood", "confidence", "valence", "arousal"}
    (face,) = first["faces"]
    assert len(face["box"]) == 4 and face["top"] == "happy" and list(face["probs"]) == list(EMOTIONS)
    assert sum(face["probs"].values()) == pytest.approx(1.0, abs=0.01)
    assert first["valence"] > 0.3 and first["arousal"] > 0
    assert wall == {"path": str(photos / "2-wall.png"), "faces": [], "mood": UNCERTAIN, "confidence": 0.0,
                    "valence": 0.0, "arousal": 0.0}


def test_a_lone_broken_photo_is_a_source_error(photos, parts):
    finder, classifier = parts
    out = io.StringIO()
    with pytest.raises(SourceError, match="cannot read image .*3-broken.jpg"):
        run([photos / "3-broken.jpg"], finder, classifier, MoodConfig(), out, single=True)
    assert out.getvalue() == ""


def test_still_paths_leaves_cameras_and_videos_alone(photos, tmp_path):
    assert still_paths(str(photos / "1-astronaut.jpg")) == [photos / "1-astronaut.jpg"]
    assert [p.name for p in still_paths(str(photos))] == ["1-astronaut.jpg", "2-wall.png", "3-broken.jpg"]
    (tmp_path / "clip.mp4").write_bytes(b"")
    for spec in ("auto", "0", "picamera2", "/dev/video0", str(tmp_path / "clip.mp4"), str(tmp_path / "gone.jpg")):
        assert still_paths(spec) is None, spec


def test_without_a_camera_the_message_offers_a_video_and_a_photo(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    monkeypatch.setattr(sources, "DEFAULT_DEVICE", str(tmp_path / "video0"))
    with pytest.raises(SourceError, match=r"--source clip.mp4 or a photo with --source photo.jpg"):
        open_source(SourceConfig())


# -- the overlay -----------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0
        self.pauses = 0

    def now(self) -> float:
        return self.t

    def pause(self, seconds: float) -> None:
        self.pauses += 1
        self.t += seconds


def _post_key(key: int) -> None:
    import pygame

    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))


def test_wait_for_key_ends_on_time_on_a_key_or_on_stop(photos):
    import pygame

    stop = threading.Event()
    with Window() as window:
        window.show(np.zeros((60, 80, 3), np.uint8))
        window.poll_keys()  # drain the window's own start-up events
        clock = FakeClock()
        assert wait_for_key(window, 1.0, stop, clock.now, clock.pause, tick=0.25) is True
        assert clock.t == 101.0 and clock.pauses == 4
        _post_key(pygame.K_SPACE)
        assert wait_for_key(window, None, stop, clock.now, clock.pause) is True  # next photo
        _post_key(pygame.K_q)
        assert wait_for_key(window, None, stop, clock.now, clock.pause) is False  # quit
        _post_key(pygame.K_ESCAPE)
        assert wait_for_key(window, None, stop, clock.now, clock.pause) is False
        stop.set()
        assert wait_for_key(window, None, stop, clock.now, clock.pause) is False


def test_display_shows_each_photo_and_q_stops_the_run(photos, parts):
    import pygame

    finder, classifier = parts
    shown: list[np.ndarray] = []

    class Recording(Window):
        def show(self, image_bgr: np.ndarray) -> None:
            shown.append(image_bgr)
            super().show(image_bgr)

    with Recording() as window:
        out = io.StringIO()
        code = run(still_paths(str(photos)), finder, classifier, MoodConfig(), out, display=window, still_seconds=0)
        assert code == EXIT_UNREADABLE and len(out.getvalue().splitlines()) == 3
        assert [img.shape for img in shown] == [(512, 512, 3), (240, 320, 3)] and window.size == (512, 512)
        astronaut = cv2.imread(str(photos / "1-astronaut.jpg"))
        assert np.abs(shown[0].astype(int) - astronaut).max() > 100  # boxes and labels were drawn on it
        _post_key(pygame.K_q)
        out = io.StringIO()
        run(still_paths(str(photos)), finder, classifier, MoodConfig(), out, display=window, still_seconds=30)
        assert len(out.getvalue().splitlines()) == 1  # q on the first photo: nothing more is judged


def test_a_big_photo_is_shown_smaller_with_its_boxes():
    image = np.zeros((3000, 4000, 3), np.uint8)
    small, faces = fit(image, [Face((2000, 1000, 400, 400), 1)], 1280)
    assert small.shape == (960, 1280, 3) and faces == [Face((640, 320, 128, 128), 1)]
    same, kept = fit(image[:100, :100], [Face((0, 0, 10, 10), 1)], 1280)
    assert same.shape == (100, 100, 3) and kept == [Face((0, 0, 10, 10), 1)]


# -- the CLI, as a user runs it ------------------------------------------------------------------------

def test_cli_on_one_photo_prints_its_face_and_the_room_and_exits_0(photos):
    out = edge("--source", photos / "1-astronaut.jpg")
    assert "Traceback" not in out.stderr and out.returncode == 0, out.stderr[-2000:]
    (text,) = out.stdout.splitlines()
    assert "1 face: happy 0." in text and "room: happy" in text


def test_cli_on_a_folder_prints_three_lines_and_json_per_photo(photos):
    out = edge("--source", photos)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert [text.split(": ")[0] for text in out.stdout.splitlines()] == \
        [str(photos / name) for name in ("1-astronaut.jpg", "2-wall.png", "3-broken.jpg")]
    assert "skipped: not a readable image" in out.stdout.splitlines()[2]
    out = edge("--source", photos, "--json", "--display", "--still-seconds", "0")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    objects = [json.loads(text) for text in out.stdout.splitlines()]
    assert [o["path"] for o in objects] == [str(p) for p in still_paths(str(photos))]
    assert objects[0]["mood"] == "happy" and objects[1]["faces"] == [] and "error" in objects[2]


def test_cli_usage_errors_exit_2(photos, tmp_path):
    out = edge("--source", photos / "3-broken.jpg")
    assert out.returncode == 2 and out.stdout == "" and "cannot read image" in out.stderr and "3-broken.jpg" in out.stderr
    out = edge("--source", "0", "--json")
    assert out.returncode == 2 and "--json and --still-seconds are for photos" in out.stderr
    out = edge("--source", photos, "--still-seconds", "-1")
    assert out.returncode == 2 and "--still-seconds must be 0 or more" in out.stderr
    (tmp_path / "empty").mkdir()
    out = edge("--source", tmp_path / "empty")
    assert out.returncode == 2 and "no images in folder" in out.stderr


def test_cli_with_loop_keeps_a_photo_as_a_video(photos):
    out = edge("--source", photos / "1-astronaut.jpg", "--loop", "--max-frames", "3", "--music-enabled", "false")
    assert out.returncode == 0 and "processed 3 frames" in out.stderr, out.stderr[-2000:]
    assert out.stdout == ""
