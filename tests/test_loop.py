"""The whole device loop, headless, on real videos, with the shipped model and songs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import clips
from edge import bundle as bundles
from edge import config as configs
from edge.classify import DEFAULT_MODEL, Classifier
from edge.detect import Found
from edge.loop import Pipeline, run
from edge.music.outputs.mixer import MixerOutput
from edge.music.recommend import Recommender
from edge.types import EMOTIONS, Emotions, Face
from tests.rig import NotifySocket, confident, env, read_events

ROOT = Path(__file__).resolve().parent.parent
SONGS = ROOT / "songs"


def edge_cmd(*args: str) -> list[str]:
    return [sys.executable, "-u", "-m", "edge", "--songs", str(SONGS), *args]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(bundles.load(DEFAULT_MODEL), threads=1)


@pytest.fixture(scope="module")
def blank_video(tmp_path_factory) -> Path:
    """8 s at 10 fps of a textured background and no face."""
    return clips.empty_video(tmp_path_factory.mktemp("clips") / "empty.mp4", 80)


def test_happy_then_sad_switches_mood_once_and_plays_real_audio(tmp_path, fer2013, classifier):
    clip = clips.make_clip(tmp_path / "clip.mp4", [("happy", 5.0), ("sad", 7.0)], fps=10, fer_dir=fer2013,
                           accept=confident(classifier))
    events, audio, record = tmp_path / "events.jsonl", tmp_path / "audio.raw", tmp_path / "out.mp4"
    out = subprocess.run(edge_cmd("--source", str(clip.path), "--realtime", "--events", str(events),
                                  "--record", str(record), "--music-fade-ms", "800"),
                         env=env(SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(audio)),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    ev = read_events(events)
    moods = [e for e in ev if e["type"] == "mood"]
    songs = [e for e in ev if e["type"] == "song"]
    named = [e["mood"] for e in moods if e["mood"] != "uncertain"]
    assert named == ["happy", "sad"], moods  # one change after the first mood, no flicker
    assert 5.0 < moods[-1]["t"] < 5.0 + 4.0  # the switch comes after the real change, within hold + smoothing
    assert [s["mood"] for s in songs][:1] == ["happy"] and songs[-1]["mood"] == "sad", songs
    assert all(Path(s["path"]).parent.name == s["mood"] for s in songs)
    assert [e["t"] for e in ev] == sorted(e["t"] for e in ev)
    # Real audio: SDL's disk driver wrote the mixed output (44.1 kHz, 16-bit stereo, as the player opens it).
    samples = np.frombuffer(audio.read_bytes(), np.int16).astype(np.float32)
    assert samples.size > 44100 * 2 * 4  # several seconds were played
    assert np.sqrt(np.mean(samples ** 2)) > 300  # not silence
    # The annotated video has every frame, with the box drawn around the face.
    cap = cv2.VideoCapture(str(record))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == clip.frames
    ok, frame = cap.read()
    cap.release()
    assert ok
    raw = cv2.VideoCapture(str(clip.path))
    _, original = raw.read()
    raw.release()
    assert np.abs(frame.astype(int) - original.astype(int)).sum(axis=2).max() > 100  # something was drawn


def _run_frames(tmp_path: Path, image_frames: list[np.ndarray], **overrides) -> list[dict]:
    video = tmp_path / "v.mp4"
    clips.write_video(video, image_frames, fps=10)
    events = tmp_path / "ev.jsonl"
    cfg = configs.load(None, {"source.spec": str(video), "output.events": str(events),
                              "output.events_frames": True, "music.enabled": False, **overrides})
    stats = run(cfg)
    assert stats.frames == len(image_frames)
    return read_events(events)


def test_no_face_means_no_mood_and_no_song(tmp_path):
    bg = clips.background(kind="texture", seed=5)
    ev = _run_frames(tmp_path, [bg] * 40)
    assert [e for e in ev if e["type"] in ("mood", "song")] == []
    assert all(e["faces"] == [] for e in ev if e["type"] == "frame")


def test_two_faces_and_a_face_at_the_edge(tmp_path, fer2013, classifier):
    happy = clips.pick_faces(fer2013, "happy", 1, accept=confident(classifier))[0]
    sad = clips.pick_faces(fer2013, "sad", 1, seed=1)[0]
    size = clips.FACE_SIZE
    two = clips.face_canvas([happy, sad], [(30, 120), (380, 120)], size=size)
    edge = clips.face_canvas([happy], [(640 - size - 2, 480 - size - 2)], size=size)  # touching the corner
    ev = _run_frames(tmp_path, [two] * 30 + [edge] * 30)
    frames = [e for e in ev if e["type"] == "frame"]
    assert all(len(f["faces"]) == 2 for f in frames[:30])
    boxes = sorted(f["box"][0] for f in frames[10]["faces"])
    assert boxes[0] < 320 < boxes[1]  # one face each side, in full-frame pixels
    edge_faces = [f["faces"] for f in frames[40:]]
    assert all(len(f) == 1 for f in edge_faces)
    x, y, w, h = edge_faces[-1][0]["box"]
    assert x + w <= 640 and y + h <= 480 and x + w > 600  # clipped to the frame, at its edge
    assert max(edge_faces[-1][0]["probs"], key=edge_faces[-1][0]["probs"].get) == "happy"


def test_no_camera_says_so_and_how_to_pass_a_video():
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a camera at /dev/video0")
    out = subprocess.run(edge_cmd("--source", "auto"), env=env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--source" in out.stderr and "Traceback" not in out.stderr


def test_the_device_never_imports_tensorflow(blank_video):
    """The whole run, music included, loads no TensorFlow, Keras or converter module (a Pi has none).
    SIGTERM during a run is tested in tests/test_service.py."""
    probe = ("import sys, edge.cli; rc = edge.cli.main(sys.argv[1:]); "
             "bad = [m for m in ('tensorflow', 'keras', 'tf_keras', 'converter') if m in sys.modules]; "
             "print('IMPORTED', bad, flush=True); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-u", "-c", probe, "--songs", str(SONGS), "--source", str(blank_video)],
                         env=env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "IMPORTED []" in out.stdout, out.stdout


# -- song events are decisions at frame time ---------------------------------------------------------


class OneFace:
    """A finder that sees one face in every frame."""

    def find(self, frame) -> Found:
        return Found((Face((260, 180, 120, 120), 1),), reread=True, state="active", detected=True, searched=1.0)


class Scripted:
    """A classifier that reads ``happy`` until ``switch`` s of frame time, ``surprise`` after."""

    def __init__(self, switch: float) -> None:
        self.switch = switch

    def classify(self, frame, faces) -> list[Emotions]:
        probs = np.full(len(EMOTIONS), 0.1 / (len(EMOTIONS) - 1), np.float32)
        probs[EMOTIONS.index("happy" if frame.t < self.switch else "surprise")] = 0.9
        return [Emotions(probs, EMOTIONS) for _ in faces]


class RecordingMixer(MixerOutput):
    """The real pygame output, noting each song it is told to play."""

    played: list[str] = []

    def play(self, path, fade_in_ms=0):
        RecordingMixer.played.append(Path(path).name)
        super().play(path, fade_in_ms)


def scripted_run(video: Path, events: Path, tmp_path: Path, switch: float, realtime: bool = False) -> list[dict]:
    cfg = configs.load(None, {"source.spec": str(video), "source.realtime": realtime, "output.events": str(events),
                              "music.songs": str(SONGS), "music.features": False, "music.state_dir": str(tmp_path)})

    def stages(cfg):
        return Pipeline(cfg, finder=OneFace(), classifier=Scripted(switch),
                        recommender=Recommender.from_config(cfg.music, seed=0),
                        music_output=lambda: RecordingMixer(cfg.music))

    run(cfg, pipeline=stages)
    return [{k: v for k, v in e.items() if k != "time"} for e in read_events(events)]  # "time": wall clock


def assert_song_follows_each_mood(ev: list[dict]) -> None:
    named = [i for i, e in enumerate(ev) if e["type"] == "mood" and e["mood"] != "uncertain"]
    assert [ev[i]["mood"] for i in named] == ["happy", "surprise"], ev
    for i in named:
        song = ev[i + 1]
        assert song["type"] == "song" and song["t"] == ev[i]["t"] and song["mood"] == ev[i]["mood"], ev
        assert Path(song["path"]).parent.name == song["mood"]


@pytest.fixture(scope="module")
def sixteen_seconds(tmp_path_factory) -> Path:
    return clips.empty_video(tmp_path_factory.mktemp("clips") / "16s.mp4", 160)


def test_song_events_are_written_at_frame_time_at_any_speed(tmp_path, sixteen_seconds, monkeypatch):
    """16 s, happy then surprise at 8 s: unpaced, each mood's song event follows its mood event at the same
    frame time, and the events equal a --realtime run's."""
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    fast = scripted_run(sixteen_seconds, tmp_path / "fast.jsonl", tmp_path, switch=8.0)
    assert_song_follows_each_mood(fast)
    paced = scripted_run(sixteen_seconds, tmp_path / "paced.jsonl", tmp_path, switch=8.0, realtime=True)
    assert paced == fast


def test_the_last_decision_starts_playing_before_the_run_ends(tmp_path, sixteen_seconds, monkeypatch):
    """The surprise comes at ~14.9 s of a 16 s file processed in well under a second: the run lets its
    fade-out finish and the surprise song start before it closes."""
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    RecordingMixer.played = []
    ev = scripted_run(sixteen_seconds, tmp_path / "late.jsonl", tmp_path, switch=13.0)
    assert_song_follows_each_mood(ev)
    songs = [Path(e["path"]).name for e in ev if e["type"] == "song"]
    assert RecordingMixer.played == songs


def test_the_16s_happy_surprise_clip_gives_the_same_events_unpaced_and_realtime(tmp_path, fer2013, classifier):
    clip = clips.make_clip(tmp_path / "clip.mp4", [("happy", 8.0), ("surprise", 8.0)], fps=10, fer_dir=fer2013,
                           accept=confident(classifier))
    runs = []
    for name, pace in (("fast", []), ("paced", ["--realtime"])):
        events = tmp_path / f"{name}.jsonl"
        out = subprocess.run(edge_cmd("--source", str(clip.path), *pace, "--events", str(events),
                                      "--music-features", "false", "--music-state-dir", str(tmp_path)),
                             env=env(), capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append([{k: v for k, v in e.items() if k != "time"} for e in read_events(events)])
    fast, paced = runs
    assert_song_follows_each_mood(fast)
    # The recommender's exploration noise is unseeded here: the same moods and times, each song of its mood.
    strip = lambda ev: [{k: v for k, v in e.items() if k != "path"} for e in ev]  # noqa: E731
    assert strip(paced) == strip(fast)


def test_a_player_that_gave_up_starves_the_watchdog(tmp_path, blank_video, caplog):
    """A dead music player stops the loop's watchdog pings, so systemd restarts the service."""

    from edge.music.config import MusicConfig
    from edge.music.outputs import OutputError
    from edge.music.player import Player
    from edge.systemd import Notifier, ServiceHooks

    class Broken:
        name = "broken"

        def open(self):
            raise RuntimeError("a bug in the output")

    class Nothing:  # a Recommending with no songs
        strategy = "match"

        def next(self, mood, point=None):
            return None

        def discard(self, path):
            pass

        def feedback(self, kind, mood, path):
            pass

        def set_strategy(self, name):
            pass

        def start(self, shutdown=None):
            pass

        def stop(self, timeout=2.0):
            pass

    assert not issubclass(RuntimeError, OutputError)  # an unexpected error, not a missing device
    player = Player(MusicConfig(), Nothing(), output=Broken, restart_s=1.0)
    for second in range(Player.MAX_DEATHS):  # on the player's own (injected) time: 5 deaths in 5 s
        player.step(float(second) + 1.0)
    assert not player.alive() and player.restarts == Player.MAX_DEATHS
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        hooks = ServiceHooks(Notifier({"NOTIFY_SOCKET": notify.env, "WATCHDOG_USEC": "1000000"}))
        cfg = configs.load(None, {"source.spec": str(blank_video), "music.songs": str(SONGS)})
        run(cfg, on_frame=hooks.on_frame, pipeline=lambda cfg: Pipeline(cfg, player=player, recommender=Nothing()))
        messages = notify.drain()
    finally:
        notify.close()
    assert hooks.pings == 0 and not any("WATCHDOG=1" in m for m in messages), messages
    assert any("withholding the watchdog" in r.getMessage() for r in caplog.records)
