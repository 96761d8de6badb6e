"""The now-playing view, rendered by real SDL (the offscreen driver) at TV, 720p, 4K and portrait sizes:
the mood's letters at least a tenth of the screen high, nothing cut at the edges, no camera pixels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge import config as configs
from edge.detect import Found
from edge.loop import Pipeline
from edge.nowplaying import (
    FADE_S,
    MOOD_RGB,
    NOBODY,
    fade,
    scene_for,
    tint,
    title_from_name,
)
from edge.overlay import OverlayConfig, Window
from edge.types import EMOTIONS, UNCERTAIN, Emotions, Face, Frame, Mood

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(1920, 1080), (1280, 720), (3840, 2160), (1080, 1920), (720, 1280)]
LONG_TITLE = "An Unreasonably Long Song Title That Cannot Possibly Fit On One Line Of Any Screen At All"


def screen_rgb(pygame) -> np.ndarray:
    """What the window shows, as HxWx3 RGB."""
    return pygame.surfarray.array3d(pygame.display.get_surface()).transpose(1, 0, 2)


def mood(label: str, faces: int = 1, v: float = 0.5, a: float = 0.3) -> Mood:
    return Mood(label, 0.8, 0.0, faces, valence=v, arousal=a)


def show(pygame, size, m: Mood | None, title: str = "Red Line", artist: str = "The Synths", t: float = 0.0):
    window = Window(OverlayConfig(width=size[0], height=size[1], view="now-playing"))
    window.show_now_playing(t, m, title, artist)
    return window, screen_rgb(pygame)


def ink_rows(image: np.ndarray, color, outside: tuple[int, int, int, int]) -> np.ndarray:
    """Rows holding pixels of exactly ``color``, ignoring the rectangle ``outside`` (the dot's square)."""
    hit = (image == np.array(color, np.uint8)).all(axis=2)
    x, y, w, h = outside
    hit[y:y + h, x:x + w] = False
    return np.flatnonzero(hit.any(axis=1))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_mood_word_is_a_tenth_of_the_screen_high_and_nothing_is_cut(offscreen, size):
    pygame = offscreen
    W, H = size
    for label in EMOTIONS if W * H <= 1920 * 1080 else ("surprise", "neutral"):  # the widest word; 4K is slow to check
        window, shown = show(pygame, size, mood(label), LONG_TITLE, "Somebody With A Very Long Band Name Indeed")
        assert shown.shape == (H, W, 3)
        view = window._view
        lay = view.layout(size, view._scene)
        rows = ink_rows(shown, MOOD_RGB[label], lay.dot_box)
        assert rows.size and rows[-1] - rows[0] + 1 >= H / 10, (label, size, rows[-1] - rows[0] + 1)
        bg = np.array(tint(MOOD_RGB[label]), np.uint8)
        band = max(2, int(0.02 * min(W, H)))  # half the margin: nothing may reach the screen's edges
        for edge in (shown[:band], shown[-band:], shown[:, :band], shown[:, -band:]):
            assert (edge == bg).all(axis=2).all(), (label, size)
        rects = [lay.word.rect] + [b.rect for b in lay.lines] + [lay.dot_box]
        for x, y, w, h in rects:
            assert 0 <= x and 0 <= y and x + w <= W and y + h <= H, (label, size, rects)
        for i, a in enumerate(rects):  # no two overlap
            for b in rects[i + 1:]:
                assert a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
        assert lay.lines[0].text.endswith("...")  # the long title was cut, not drawn past the edge
        window.close()


def test_the_state_words(offscreen):
    pygame = offscreen
    size = (1280, 720)
    assert scene_for(mood(UNCERTAIN), "", "", "").word == UNCERTAIN
    assert scene_for(mood(UNCERTAIN, faces=0), "", "", "").word == NOBODY
    held = scene_for(mood(UNCERTAIN), "happy", "t", "a")
    assert (held.word, held.status, held.color) == ("happy", UNCERTAIN, MOOD_RGB["happy"])
    assert scene_for(mood("sad", faces=0), "sad", "", "").status == NOBODY
    assert scene_for(mood("sad", faces=2), "sad", "", "").status == ""
    window, shown = show(pygame, size, mood(UNCERTAIN, faces=0), title="", artist="")
    lay = window._view.layout(size, window._view._scene)
    assert lay.word.text == "Nobody here" and lay.lines == ()
    assert ink_rows(shown, MOOD_RGB[UNCERTAIN], lay.dot_box).size  # drawn in the uncertain gray
    window.close()


def test_fades_between_songs_on_frame_time(offscreen):
    pygame = offscreen
    assert fade(5.0, None) == (0.0, 1.0, 1.0)
    assert fade(10.0, 10.0) == (1.0, 0.0, 0.0)
    assert fade(10.0 + FADE_S / 4, 10.0) == (0.5, 0.0, 0.25)
    assert fade(10.0 + FADE_S, 10.0) == (0.0, 1.0, 1.0)
    size = (1280, 720)
    window = Window(OverlayConfig(width=size[0], height=size[1], view="now-playing"))
    happy, sad = MOOD_RGB["happy"], MOOD_RGB["sad"]
    window.show_now_playing(100.0, mood("happy"), "Song One", "A")
    flips = [screen_rgb(pygame)]
    times = [100.0 + FADE_S / 4, 100.0 + FADE_S / 2, 100.0 + FADE_S, 160.0]
    window.show_now_playing(100.0, mood("sad"), "Song Two", "B")  # the change, at frame time 100 s
    for t in times:
        window.show_now_playing(t, mood("sad"), "Song Two", "B")
        flips.append(screen_rgb(pygame))
    lay = window._view.layout(size, window._view._scene)
    has = [(img == np.array(c, np.uint8)).all(axis=2).sum() for img, c in zip(flips, [happy] * 2 + [sad] * 3)]
    assert has[0] > 1000 and has[1] == 0  # a quarter in: the old word at half strength, never full
    mid = flips[2]
    x, y, w, h = lay.dot_box
    mid = mid.copy()
    mid[y:y + h, x:x + w] = 0
    bg = (mid == np.array(mid[5, 5])).all(axis=2)
    assert bg.sum() + w * h == mid.shape[0] * mid.shape[1]  # half way: no text at all, only the tint
    assert has[3] > 1000 and np.array_equal(flips[3], flips[4])  # done, and steady after
    assert window._view.draw(pygame.display.get_surface(), 170.0) is False  # nothing changed: no redraw
    window.close()


def test_the_song_events_tags_come_from_memory_the_analysis_thread_filled(tmp_path):
    """The song event's title and artist (and so the now-playing view's) are what the analysis thread read
    from the file's tags: the camera thread never opens the file. Without tags, the view shows the name."""
    import threading

    import mutagen

    from edge.control.glue import PlayerControls
    from edge.music.library import Library
    from edge.music.player import PlayerStatus
    from edge.music.recommend import Recommender

    plain, tagged = tmp_path / "angry" / "red_line.ogg", tmp_path / "angry" / "tagged.ogg"
    plain.parent.mkdir()
    shutil.copy(ROOT / "songs" / "angry" / "red_line.ogg", plain)
    shutil.copy(ROOT / "songs" / "angry" / "red_line.ogg", tagged)
    f = mutagen.File(str(tagged), easy=True)
    f["title"], f["artist"] = "Red Line", "The Synths"
    f.save()
    rec = Recommender(Library.scan(tmp_path))
    assert rec.describe(tagged) == (None, None)  # nothing read yet, and describe reads no disk
    stop = threading.Event()
    rec.start(stop)
    try:
        assert rec.analysis.wait(60)
        assert rec.describe(tagged) == ("Red Line", "The Synths") and rec.describe(plain) == (None, None)
        playing = PlayerStatus(tagged, "angry", 0.8, False, False)  # the status (page, MQTT) says the same
        player = type("Playing", (), {"status": lambda self: playing})()
        assert PlayerControls(player, rec).status()["title"] == "Red Line"
    finally:
        stop.set()
        rec.stop()
    assert title_from_name(plain) == "red line"


class _OneFace:
    def find(self, frame) -> Found:
        return Found((Face((200, 120, 200, 200), 1),), reread=True, state="active", detected=True, searched=1.0)


class _Happy:
    def classify(self, frame, faces) -> list[Emotions]:
        probs = np.full(len(EMOTIONS), 0.1 / (len(EMOTIONS) - 1), np.float32)
        probs[EMOTIONS.index("happy")] = 0.9
        return [Emotions(probs, EMOTIONS) for _ in faces]


@pytest.mark.parametrize("view", ["now-playing", "camera"])
def test_no_camera_pixel_reaches_the_now_playing_screen(offscreen, tmp_path, view):
    """A frame of a colour nothing else uses: the camera view shows it (so the check can fail), the
    now-playing view never does."""
    pygame = offscreen
    cfg = configs.load(None, {"output.headless": False, "overlay.view": view, "overlay.width": 1280,
                              "overlay.height": 720, "music.enabled": False, "music.state_dir": str(tmp_path)})
    pipe = Pipeline(cfg, finder=_OneFace(), classifier=_Happy())
    unique = (7, 201, 99)  # BGR
    pipe.open_outputs(None)
    try:
        import threading

        stop = threading.Event()
        for i in range(40):
            pipe.step(Frame(np.full((480, 640, 3), unique, np.uint8), i / 10, i), stop)
        shown = screen_rgb(pygame)
        same = (shown == np.array(unique[::-1], np.uint8)).all(axis=2)
        if view == "camera":
            assert same.mean() > 0.5
        else:
            assert not same.any()
            assert pipe.moods.mood.label == "happy"
            assert (shown == np.array(MOOD_RGB["happy"], np.uint8)).all(axis=2).any()
    finally:
        pipe.close()
