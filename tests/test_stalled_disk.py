"""The camera loop never waits on disk (issue 26, item 3): a stat that hangs (a dying USB stick, a network
share gone) on the likes file or on an undecodable song parks the analysis thread that looks at them,
never the camera loop, which picks songs from what was last read. ``os.stat`` is wrapped to block on
those two paths until the test lets go; frames carry injected times, so the assertion is on frames
processed and songs picked, never on wall time (the join below only bounds a failing run)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from edge import bundle as bundles
from edge import config as configs
from edge.classify import DEFAULT_MODEL
from edge.loop import Pipeline
from edge.music.feedback import FeedbackStore
from edge.music.recommend import Recommender
from edge.types import Frame
from tests.music_synth import write_song
from tests.rig import OneFace, Reading

FRAMES = 300  # 30 s of frame time at 10 fps
SWITCH_S = 3.0  # the faces change mood this often


def test_a_stat_that_hangs_never_stalls_the_camera_loop(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    root, state = tmp_path / "songs", tmp_path / "state"
    for mood, kind in (("happy", "bright"), ("sad", "gloomy")):
        for i in range(2):
            write_song(root / mood / f"{i}.wav", kind, seconds=1.0, seed=i)
    bad = root / "happy" / "bad.ogg"
    bad.write_bytes(b"OggS" + os.urandom(4000))  # an Ogg header, then nothing that decodes
    likes = state / "feedback.json"
    FeedbackStore(likes).record("like", root / "happy" / "1.wav", "happy")
    cfg = configs.load(None, {"music.songs": str(root), "music.state_dir": str(state), "music.features": False,
                              "music.fade_ms": 0})
    rec = Recommender.from_config(cfg.music, seed=0)
    assert rec.analysis.trouble(bad) == "bad"

    disk_back, parked = threading.Event(), threading.Event()
    slow, real_stat = {str(bad), str(likes)}, os.stat

    def stat(path, *args, **kwargs):
        if not isinstance(path, int) and os.fsdecode(path) in slow and not disk_back.is_set():
            parked.set()
            disk_back.wait(60)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    stop = threading.Event()
    pipe = Pipeline(cfg, bundle=bundles.load(DEFAULT_MODEL), finder=OneFace(), classifier=Reading(lambda t: ("happy", "sad")[int(t // SWITCH_S) % 2]),
                    recommender=rec)
    pipe.start(stop)  # the analysis thread looks at the bad song and the likes file: it hangs there
    done: list[int] = []
    try:
        assert parked.wait(30), "the analysis thread never looked at the disk"
        image = np.zeros((480, 640, 3), np.uint8)

        def camera() -> None:
            for i in range(FRAMES):
                pipe.step(Frame(image, i / 10, i), stop)
                done.append(i)

        loop = threading.Thread(target=camera, name="camera-loop", daemon=True)
        loop.start()
        loop.join(60)  # a bound for a failing run only; the loop needs well under a second
        assert not disk_back.is_set()  # the disk was stalled the whole time
        assert len(done) == FRAMES, f"the camera loop stalled after {len(done)} of {FRAMES} frames"
        assert pipe.stats.moods >= FRAMES / 10 / SWITCH_S - 1  # happy, sad, happy ... every 3 s of frame time
        assert pipe.stats.songs >= pipe.stats.moods  # and a song picked for each, from what was last read
        assert pipe.player.current() is None or pipe.player.current() != bad
    finally:
        disk_back.set()
        pipe.close()
