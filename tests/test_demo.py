"""``python -m edge --source demo``: the whole product from a fresh clone, with no camera and no data set.
The moods are whatever the shipped model reads in the two public-domain portraits; nothing is scripted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.settings import SourceConfig
from edge.sources import open_source
from edge.sources.demo import FACES, SCENE, DemoSource, scene_seconds
from tests.rig import env, read_events

ROOT = Path(__file__).resolve().parent.parent

# The demo as a user runs it (not rig.run_edge: that adds --songs), in a process where the dev extra's
# picture packages cannot be imported.
RUN_DEMO = ("import sys; sys.modules.update(skimage=None, matplotlib=None); from edge.cli import main; "
            "raise SystemExit(main(sys.argv[1:]))")


def test_the_demo_runs_to_its_end_with_two_moods_and_a_song_for_each(tmp_path):
    events = tmp_path / "events.jsonl"
    headless = {k: v for k, v in env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", RUN_DEMO, "--source", "demo", "--events", str(events)],
                         cwd=ROOT, env=headless, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = read_events(events)
    moods = [e["mood"] for e in lines if e["type"] == "mood" and e["mood"] != "uncertain"]
    songs = [(e["mood"], e["path"]) for e in lines if e["type"] == "song"]
    assert len(set(moods)) >= 2, lines
    for mood in set(moods):  # a song for each mood, from that mood's folder
        assert any(m == mood and Path(path).parent.name == mood for m, path in songs), (mood, songs)
    assert moods[0] != moods[1]  # the change is heard: the second mood differs from the first
    assert lines[-1]["t"] <= scene_seconds()
    assert f"processed {round(scene_seconds() * SourceConfig().fps)} frames" in out.stderr  # to its end


def test_the_scene_is_frames_in_frame_time_that_move_and_change_face():
    with open_source(SourceConfig(spec="demo", fps=10.0)) as opened:
        assert isinstance(opened, DemoSource) and not opened.live
    source = DemoSource(SourceConfig(fps=10.0), realtime=False)
    frames = list(source)
    assert len(frames) == round(scene_seconds() * 10)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(f.t == pytest.approx(f.index / 10) for f in frames)
    assert frames[0].image.shape == (480, 640, 3) and frames[0].image.dtype == np.uint8
    # the sitter sways (motion gating stays awake); the second shot is another picture
    assert np.abs(frames[0].image.astype(int) - frames[5].image.astype(int)).mean() > 1.0
    second = round(SCENE[0].seconds * 10) + 5
    assert np.abs(frames[0].image.astype(int) - frames[second].image.astype(int)).mean() > 10.0
    assert source.render(1.23).tobytes() == source.render(1.23).tobytes()  # the scene is a function of t


def test_the_demo_pictures_are_in_the_repository_with_their_provenance():
    readme = (FACES / "README.md").read_text()
    for shot in SCENE:
        assert (FACES / shot.file).is_file()
        assert f"`{shot.file}`" in readme and "public domain" in shot.credit
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", *(shot.file for shot in SCENE)], cwd=FACES,
                             capture_output=True, text=True)
    if tracked.returncode == 128 and "not a git repository" in tracked.stderr:
        pytest.skip("not a git checkout")
    assert tracked.returncode == 0, f"the demo's pictures must be committed: {tracked.stderr}"


def test_missing_fer2013_is_one_line_saying_what_and_where(tmp_path):
    out = subprocess.run([sys.executable, "-m", "benchmarks.clips", "--fer", str(tmp_path / "nope"), "--out",
                          str(tmp_path / "c.mp4")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    for words in ("FER2013", "Kaggle", "../shared/datasets/fer2013", "train/", "val/", str(tmp_path / "nope")):
        assert words in out.stderr
    from converter.data import FER2013_HINT, DataError, load

    with pytest.raises(DataError, match="does not exist") as e:
        load(tmp_path / "nope", "train")
    assert FER2013_HINT in str(e.value)


def test_the_demo_opens_the_overlay_where_a_display_is_unless_told_not_to():
    from edge.cli import demo_window
    from edge.config import load

    demo, camera = load(None, {"source.spec": "demo"}), load(None, {"source.spec": "auto"})
    assert demo_window(demo, False, {"DISPLAY": ":0"}) and demo_window(demo, False, {"WAYLAND_DISPLAY": "wayland-0"})
    assert not demo_window(demo, False, {})  # no display: events and music only
    assert not demo_window(demo, True, {"DISPLAY": ":0"})  # --headless (or --display) given: as told
    assert not demo_window(camera, False, {"DISPLAY": ":0"})  # a camera run stays headless by default


def test_a_looped_demo_plays_again_with_frame_time_still_increasing():
    source = DemoSource(SourceConfig(fps=10.0, loop=True), realtime=False)
    n = round(scene_seconds() * 10)
    frames = [source.read() for _ in range(n + 3)]
    assert [f.index for f in frames] == list(range(n + 3)) and frames[n].t == pytest.approx(n / 10)
    assert frames[n].image.tobytes() == frames[0].image.tobytes()  # the scene again, from its start
