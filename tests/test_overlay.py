"""The overlay: boxes and text drawn where they belong, a pygame window that shows them, an .mp4 recorder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.overlay import COLORS, OverlayConfig, OverlayError, Recorder, Window, draw
from edge.types import EMOTIONS, Emotions, Face, Mood

BOX = (200, 150, 160, 140)  # x, y, w, h


def happy(p: float = 0.8) -> Emotions:
    probs = np.full(7, (1 - p) / 6, np.float32)
    probs[EMOTIONS.index("happy")] = p
    return Emotions(probs, EMOTIONS)


def edge_points(box):
    """The middle of each side of a box, on its outline."""
    x, y, w, h = box
    return [(x + w // 2, y), (x + w // 2, y + h - 1), (x, y + h // 2), (x + w - 1, y + h // 2)]


@pytest.fixture
def image():
    return np.full((480, 640, 3), 40, np.uint8)


def test_draw_puts_the_box_on_the_face_and_leaves_the_input_alone(image):
    before = image.copy()
    out = draw(image, [Face(BOX, 1)], [happy()], None, None, None)
    assert np.array_equal(image, before)
    for x, y in edge_points(BOX):
        assert out[y, x].tolist() == list(COLORS["happy"]), (x, y)
    x, y, w, h = BOX
    assert np.array_equal(out[y + 10:y + h - 10, x + 10:x + w - 10], image[y + 10:y + h - 10, x + 10:x + w - 10])
    assert (out[y - 30:y, x:x + w] != 40).any()  # the label sits above the box
    assert (out[y + h + 5:, :] == 40).all()  # nothing below it


def test_draw_mood_song_fps_and_nothing(image):
    mood = Mood("happy", 0.7, 1.0, 2, valence=0.6, arousal=0.3)
    out = draw(image, [], [], mood, "songs/happy/brisk.ogg", 14.9)
    assert (out[:40, :300] != 40).any()  # the mood, top left
    assert (out[-40:, :200] != 40).any()  # the song, bottom left
    assert (out[:40, -150:] != 40).any()  # the FPS, top right
    assert np.array_equal(draw(image, [], [], None, None, None), image)


def test_draw_edge_cases(image):
    faces = [Face((0, 0, 100, 90), 1), Face((590, 430, 80, 80), 2)]  # top-left corner; hanging off the frame
    out = draw(image, faces, [happy()], None, None, None)  # the second face has no emotions: a gray box
    assert out.shape == image.shape
    assert out[0, 50].tolist() == list(COLORS["happy"])
    assert (out[430, 600:630] != 40).any()
    small = draw(np.zeros((60, 80, 3), np.uint8), [Face((5, 5, 20, 20), 1)], [happy()],
                 Mood("uncertain", 0.3, 0.0, 1), "a-very-long-song-name-that-does-not-fit.ogg", 3.0)
    assert small.shape == (60, 80, 3)


def screen(pygame) -> np.ndarray:
    """What the window shows, as HxWx3 BGR."""
    return pygame.surfarray.array3d(pygame.display.get_surface()).transpose(1, 0, 2)[:, :, ::-1]


def test_window_shows_the_drawn_frame(offscreen, image):
    pygame = offscreen
    drawn = draw(image, [Face(BOX, 1)], [happy()], None, None, 10.0)
    with Window(OverlayConfig()) as window:
        window.show(drawn)
        assert window.size == (640, 480)
        assert pygame.display.get_driver() == "offscreen"
        shown = screen(pygame)
        for x, y in edge_points(BOX):
            assert shown[y, x].tolist() == list(COLORS["happy"]), (x, y)
        assert np.array_equal(shown, drawn)


def test_window_scales_to_its_size(offscreen, image):
    pygame = offscreen
    drawn = draw(image, [Face(BOX, 1)], [happy()], None, None, None)
    with Window(OverlayConfig(width=320, height=300)) as window:  # wider aspect than 320x240: black bars
        window.show(drawn)
        shown = screen(pygame)
        assert shown.shape == (300, 320, 3)
        assert (shown[:25] == 0).all() and (shown[-25:] == 0).all()
        x, y, w, h = BOX
        top = shown[30 + y // 2, x // 2 + 5:(x + w) // 2 - 5]  # the box's top edge, at half size, 30 px down
        assert (np.abs(top.astype(int) - COLORS["happy"]).sum(axis=1) < 60).mean() > 0.8


def test_window_keys(offscreen, image):
    pygame = offscreen
    with Window(OverlayConfig()) as window:
        window.show(image)
        window.poll_keys()
        for key in (pygame.K_l, pygame.K_s, pygame.K_ESCAPE):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        assert window.poll_keys() == ["l", "s", "q", "q"]
        assert window.poll_keys() == []


def test_recorder_writes_a_readable_mp4(tmp_path, image):
    path = tmp_path / "out.mp4"
    with Recorder(path, fps=12.0) as recorder:
        for i in range(7):
            recorder.write(draw(image, [Face((10 * i, 50, 100, 100), 1)], [happy()], None, None, None))
        recorder.write(np.zeros((240, 320, 3), np.uint8))  # another size: scaled, not dropped
    assert recorder.frames == 8
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    count = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (480, 640, 3)
        count += 1
    cap.release()
    assert count == 8


def test_recorder_errors_name_the_file(tmp_path):
    with pytest.raises(OverlayError, match="does not exist"):
        Recorder(tmp_path / "no" / "out.mp4")
    folder = tmp_path / "taken.mp4"
    folder.mkdir()  # a folder where the file should go
    with pytest.raises(OverlayError, match=f"cannot record to {folder}"):
        Recorder(folder, size=(64, 48))
