"""The recommender: no repeats within a mood, the room's point, uplift, feedback, the CLI, and the player
using it (real disk audio: the fade, or the cut, on a mood switch). Songs are synthesized by the tests."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.music.analysis import FeatureCache
from edge.music.cli import main as songs_cli
from edge.music.config import MusicConfig
from edge.music.feedback import FeedbackStore, raw_score, state_dir
from edge.music.library import Library
from edge.music.rank import UPLIFT_GOAL, uplift_target
from edge.music.recommend import Recommender
from tests.music_synth import HAPPY_HZ, SAD_HZ, analyse, tone, write_song

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, Path]:
    """(songs folder, feature cache): four lively happy songs and a soft one, three sad, two neutral,
    one angry, and two unlabelled songs; analysed once for the whole module."""
    root = tmp_path_factory.mktemp("lib") / "songs"
    for i in range(4):
        write_song(root / "happy" / f"bright_{i}.wav", "bright", seconds=5.0, seed=i, root=55 + 2 * i)
    write_song(root / "happy" / "soft.wav", "calm", seconds=5.0, seed=9)
    for i in range(3):
        write_song(root / "sad" / f"gloomy_{i}.wav", "gloomy", seconds=5.0, seed=20 + i, root=55 + i)
    for i in range(2):
        write_song(root / "neutral" / f"calm_{i}.wav", "calm", seconds=5.0, seed=30 + i, root=60 + i)
    write_song(root / "angry" / "fierce_0.wav", "fierce", seconds=5.0, seed=40)
    write_song(root / "unsorted" / "bright_u.wav", "bright", seconds=5.0, seed=50, root=64)
    write_song(root / "unsorted" / "gloomy_u.wav", "gloomy", seconds=5.0, seed=51, root=52)
    cache = root.parent / "features.json"
    Recommender(Library.scan(root), cache=FeatureCache(cache)).scan()
    return root, cache


def make(library: tuple[Path, Path], store: Path | None = None, **kw) -> Recommender:
    root, cache = library
    rec = Recommender(Library.scan(root), cache=FeatureCache(cache), store=FeedbackStore(store), **kw)
    assert rec.analysis.pending() == []  # everything came from the cache
    return rec


def names(paths) -> list[str]:
    return [Path(getattr(p, "path", p)).name for p in paths]


# -- no repeats --------------------------------------------------------------------------------------


def test_next_never_repeats_within_a_mood_until_it_is_used_up(library) -> None:
    rec = make(library, seed=3, explore=0.3)  # plenty of noise: the rules must hold whatever the order
    sizes = {m: len(rec.analysis.songs_for(m)) for m in ("happy", "sad", "neutral", "angry")}
    assert sizes == {"happy": 6, "sad": 4, "neutral": 2, "angry": 1}  # unlabelled songs joined by features
    rng = random.Random(0)
    picks: dict[str, list[str]] = {m: [] for m in sizes}
    sequence = []
    for _ in range(200):
        mood = rng.choice(list(sizes))
        point = (rng.uniform(-1, 1), rng.uniform(-1, 1))
        path = rec.next(mood, point)
        picks[mood].append(path.name)
        sequence.append(path.name)
    assert all(a != b for a, b in zip(sequence, sequence[1:])) or sizes["angry"] == 1
    for mood, got in picks.items():
        n = sizes[mood]
        assert set(got) == {s.path.name for s in rec.analysis.songs_for(mood)}
        for start in range(0, len(got) - n + 1, n):  # each round plays every song once
            assert len(set(got[start : start + n])) == n, (mood, got)


def test_never_the_same_song_twice_in_a_row(library) -> None:
    rec = make(library, seed=1, explore=0.0)
    happy = [rec.next("happy", (0.8, 0.5)) for _ in range(30)]
    assert all(a != b for a, b in zip(happy, happy[1:]))
    assert len(set(happy[:6])) == 6 and len(set(happy[6:12])) == 6


def test_a_mood_without_songs_borrows_the_fallbacks(library, caplog) -> None:
    rec = make(library, explore=0.0)
    picks = {rec.next("fear").name for _ in range(4)}
    assert picks == {"calm_0.wav", "calm_1.wav"}
    assert sum("no songs for mood 'fear'" in r.getMessage() for r in caplog.records) == 1
    quiet = Recommender(Library.scan(library[0], fallback=""), features=False)
    assert quiet.next("fear") is None and quiet.next("sad") is not None


def test_discarded_songs_are_not_offered_again(library) -> None:
    rec = make(library, explore=0.0)
    rec.discard(library[0] / "neutral" / "calm_0.wav")
    assert {rec.next("neutral").name for _ in range(3)} == {"calm_1.wav"}


# -- the room's point and the strategies --------------------------------------------------------------


def test_match_ranks_a_moods_songs_by_the_rooms_point(library) -> None:
    rec = make(library, explore=0.0)
    lively, calm = rec.rank("happy", (0.8, 0.6)), rec.rank("happy", (0.5, -0.6))
    assert names(lively)[0].startswith("bright") and names(lively)[-1] == "soft.wav"
    assert names(calm)[0] == "soft.wav"
    assert rec.next("happy", (0.5, -0.6)).name == "soft.wav"
    # Without a point, the mood's own circumplex position is the target: lively songs first.
    assert names(rec.rank("happy"))[0].startswith("bright")


def test_uplift_starts_calm_and_moves_towards_brighter_songs(library) -> None:
    assert uplift_target("sad", 0) == pytest.approx((-0.315, -0.3))
    assert uplift_target("sad", 4) == pytest.approx(UPLIFT_GOAL) and uplift_target("sad", 9) == pytest.approx(UPLIFT_GOAL)
    rec = make(library, strategy="uplift", explore=0.0)
    plan = rec.plan("sad", 5)
    points = [p.point for p in plan]
    assert points[0][1] < 0, "the first song is calm"
    assert points[-1][0] > points[0][0] + 0.5 and points[-1][1] > points[0][1], "and they get brighter"
    assert any(p.path.parent.name == "happy" for p in plan[2:])  # happy songs join the pool on the way up
    assert all(b.distance >= 0 for b in plan)
    played = [rec.next("sad") for _ in range(5)]
    assert played == [p.path for p in plan]  # plan() is what next() then does
    # A new sad spell starts calm again; happy is not uplifted (it ranks as under match).
    rec.next("happy")
    assert rec.next("sad") == plan[0].path or rec.analysis.state(rec.next("sad")).point[1] < 0.2
    match = make(library, explore=0.0)
    assert names(rec.rank("happy", (0.8, 0.6))) == names(match.rank("happy", (0.8, 0.6)))


def test_the_strategy_changes_at_run_time_from_another_thread(library) -> None:
    import threading

    rec = make(library, explore=0.0)
    matched = [r.path for r in rec.plan("sad", 4)]
    assert all(p.parent.name in ("sad", "unsorted") for p in matched)
    switcher = threading.Thread(target=rec.set_strategy, args=("uplift",))  # as the web companion would
    switcher.start()
    switcher.join()
    assert rec.strategy == "uplift" and rec.plan("sad", 5) == make(library, strategy="uplift", explore=0.0).plan("sad", 5)
    with pytest.raises(ValueError, match="music.strategy must be one of match, uplift"):
        rec.set_strategy("cheer")
    assert rec.strategy == "uplift"


# -- feedback ----------------------------------------------------------------------------------------


def test_feedback_changes_the_ranking_and_is_kept(library, tmp_path: Path) -> None:
    store = tmp_path / "state" / "feedback.json"
    rec = make(library, store=store, explore=0.0)
    ranked = rec.rank("happy", (0.8, 0.5))
    before = names(ranked)
    top, bottom = before[0], before[-2]  # the last is soft.wav, far from this point
    top_path, bottom_path = ranked[0].path, ranked[-2].path
    assert not store.exists()  # nothing written before the first like or skip
    rec.feedback("like", "happy", bottom_path)
    rec.feedback("like", "happy", bottom_path)
    rec.feedback("skip", "happy", top_path)
    after = names(rec.rank("happy", (0.8, 0.5)))
    assert after.index(bottom) < before.index(bottom) and after[0] == bottom
    assert after.index(top) > before.index(top)
    assert rec.next("happy", (0.8, 0.5)).name == bottom
    parts = {Path(r.path).name: r for r in rec.rank("happy", (0.8, 0.5))}
    assert parts[bottom].feedback > 0.5 and parts[top].feedback < -0.3
    # Kept on disk: a new store (a restart) ranks the same.
    data = json.loads(store.read_text())
    assert data["version"] == 1 and data["songs"][str(bottom_path.absolute())]["like"] == {"happy": 2}
    again = make(library, store=store, explore=0.0)
    assert names(again.rank("happy", (0.8, 0.5))) == after
    # Feedback under another mood counts half.
    assert raw_score(FeedbackStore(store).counts(bottom_path), "sad") == pytest.approx(1.0)


def test_skips_and_likes_steer_towards_similar_songs(library, tmp_path: Path) -> None:
    rec = make(library, store=tmp_path / "fb.json", explore=0.0)
    root = library[0]
    sims = {Path(r.path).name: r.similarity for r in rec.rank("happy")}
    assert sims["bright_u.wav"] > sims["soft.wav"]  # like the songs the listener put in happy/
    for name in ("bright_0.wav", "bright_1.wav", "bright_2.wav"):
        rec.feedback("skip", "happy", root / "happy" / name)
    rec.feedback("like", "happy", root / "happy" / "soft.wav")
    later = {Path(r.path).name: r.similarity for r in rec.rank("happy")}
    assert later["bright_u.wav"] < sims["bright_u.wav"] and later["bright_3.wav"] < sims["bright_3.wav"]


def test_the_store_reads_likes_another_process_wrote(tmp_path: Path) -> None:
    path = tmp_path / "feedback.json"
    running, cli = FeedbackStore(path), FeedbackStore(path)
    cli.record("like", tmp_path / "a.ogg", "happy")
    assert running.counts(tmp_path / "a.ogg")["like"] == {"happy": 1}
    running.record("skip", tmp_path / "a.ogg", "sad")
    assert FeedbackStore(path).counts(tmp_path / "a.ogg") == {"like": {"happy": 1}, "skip": {"sad": 1}}
    path.write_text("{ not json")
    assert FeedbackStore(path).counts(tmp_path / "a.ogg") == {"like": {}, "skip": {}}
    with pytest.raises(ValueError, match="like, skip"):
        running.record("love", tmp_path / "a.ogg")


def test_the_state_folder_follows_systemd_then_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/moodplayer")
    assert state_dir() == Path("/var/lib/moodplayer")
    assert state_dir(str(tmp_path)) == tmp_path
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "moodplayer"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_dir() == Path.home() / ".local" / "state" / "moodplayer"


# -- the CLI -----------------------------------------------------------------------------------------


def test_cli_recommend_like_and_skip(library, tmp_path: Path, capsys) -> None:
    root, _ = library
    common = ["--songs", str(root), "--state-dir", str(tmp_path)]
    assert songs_cli(["recommend", "--mood", "happy", "-n", "8", "--json", *common]) == 0
    first = json.loads(capsys.readouterr().out)
    got = [Path(s["path"]).name for s in first["songs"]]
    assert len(got) == 8 and len(set(got[:6])) == 6 and all(a != b for a, b in zip(got, got[1:]))
    assert first["strategy"] == "match" and first["songs"][0]["score"] >= first["songs"][1]["score"]
    paths = [Path(s["path"]) for s in first["songs"]]
    last = got[4]  # the sixth is soft.wav, too far from a happy point for two likes to lift it
    for _ in range(2):
        assert songs_cli(["like", str(paths[4]), "--json", *common]) == 0
        liked = json.loads(capsys.readouterr().out)
    assert liked["mood"] == "happy" and liked["counts"]["like"] == {"happy": 2}
    assert songs_cli(["skip", str(paths[0].relative_to(root)), *common]) == 0  # relative to the songs folder
    assert "skipped" in capsys.readouterr().out
    assert songs_cli(["recommend", "--mood", "happy", "-n", "3", "--json", *common]) == 0
    now = [Path(s["path"]).name for s in json.loads(capsys.readouterr().out)["songs"]]
    assert now[0] == last and got[0] not in now
    assert songs_cli(["recommend", "--mood", "sad", "-n", "3", "--strategy", "uplift", *common]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["#", "song", "from"] and len(table.splitlines()) == 4
    assert songs_cli(["like", "nope.ogg", *common]) == 2
    assert songs_cli(["recommend", "--mood", "glad", *common]) == 2


# -- the player with the recommender -----------------------------------------------------------------


# The player's side (the point passed with each pick) is in tests/test_player.py.


def test_music_config_checks_the_new_keys() -> None:
    assert MusicConfig().transition == "fade" and MusicConfig().strategy == "match"
    with pytest.raises(ValueError, match="music.transition must be one of fade, cut"):
        MusicConfig(transition="crossfade")
    with pytest.raises(ValueError, match="music.strategy must be one of match, uplift"):
        MusicConfig(strategy="cheer")
    with pytest.raises(ValueError, match="strategy"):
        Recommender(Library("x", {"sad": [Path("s.ogg")]}), strategy="cheer")


#: Plays happy, then switches to sad, through the recommender; records the songs and the mixer.
RUNNER = r"""
import json, sys, time
import pygame
from edge.music.player import MusicConfig, Player
from edge.music.recommend import Recommender

args = json.loads(sys.argv[1])
config = MusicConfig(songs=args["songs"], fade_ms=args["fade_ms"], transition=args["transition"],
                     state_dir=args["state"])
rec = Recommender.from_config(config, seed=1)
songs, t0 = [], time.monotonic()
player = Player(config, rec, on_song=lambda mood, path: songs.append([time.monotonic() - t0, mood, path.name]),
                on_feedback=rec.feedback)
player.start()
rec.start()
mixer = None
for at, mood, point in args["steps"]:
    time.sleep(max(0.0, at - (time.monotonic() - t0)))
    mixer = mixer or pygame.mixer.get_init()
    if mood == "stop":
        break
    player.request(mood, point=point)
player.stop()
rec.stop()
json.dump(dict(songs=songs, mixer=mixer, analysed=rec.analysis.progress), open(args["out"], "w"))
"""


def _play(tmp_path: Path, transition: str) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    songs = tmp_path / "songs"
    tone(songs / "happy" / "a.ogg", HAPPY_HZ, 1.2)
    tone(songs / "happy" / "b.wav", HAPPY_HZ, 1.2)
    tone(songs / "sad" / "c.ogg", SAD_HZ, 3.0)
    tone(songs / "sad" / "d.flac", SAD_HZ, 3.0)
    out, raw = tmp_path / "record.json", tmp_path / "out.raw"
    steps = [[0.0, "happy", [0.8, 0.5]], [1.6, "sad", [-0.6, -0.3]], [2.9, "stop", None]]
    args = dict(songs=str(songs), fade_ms=400, transition=transition, state=str(tmp_path / "state"),
                steps=steps, out=str(out))
    env = dict(os.environ, SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(raw), PYTHONPATH=str(ROOT),
               PYGAME_HIDE_SUPPORT_PROMPT="1")
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert [m for _, m, _ in record["songs"]] == ["happy", "happy", "sad"], record["songs"]
    assert record["songs"][0][2] != record["songs"][1][2]  # the recommender never repeats in a row
    rms, happy, sad = analyse(raw, record["mixer"])
    return record, rms, happy, sad


def _switch(rms, happy, sad):
    assert rms.max() > 0.1, "the disk audio is silent"
    loud = rms > 0.05 * rms.max()
    is_happy, is_sad = loud & (happy > 10 * sad), loud & (sad > 10 * happy)
    last_happy, first_sad = np.flatnonzero(is_happy)[-1], np.flatnonzero(is_sad)[0]
    assert first_sad > last_happy, "the tones overlap or come in the wrong order"
    return last_happy, first_sad, np.median(rms[is_happy]), np.median(rms[is_sad])


def test_the_disk_audio_fades_on_a_mood_switch(tmp_path: Path) -> None:
    record, rms, happy, sad = _play(tmp_path, "fade")
    last_happy, first_sad, level, sad_level = _switch(rms, happy, sad)
    fade = rms[last_happy - 20 : last_happy + 1] / level  # the last 0.4 s of the happy tone
    assert fade[0] > 0.7 and fade[-1] < 0.3, "the happy tone did not fade out"
    assert ((fade > 0.2) & (fade < 0.8)).sum() >= 5, "the happy tone was cut, not faded"
    rise = rms[first_sad : first_sad + 25] / sad_level  # and the sad one fades in
    assert rise[0] < 0.5 and rise[-1] > 0.8 and ((rise > 0.2) & (rise < 0.8)).sum() >= 5


def test_the_disk_audio_cuts_on_a_mood_switch_when_asked(tmp_path: Path) -> None:
    record, rms, happy, sad = _play(tmp_path, "cut")
    last_happy, first_sad, level, sad_level = _switch(rms, happy, sad)
    # Medians: on a loaded machine the disk driver can drop a window or two (an underrun), which is no fade.
    assert np.median(rms[last_happy - 8 : last_happy]) > 0.7 * level, "the happy tone faded"
    assert first_sad - last_happy <= 10, "a long gap between the songs"
    assert np.median(rms[first_sad + 1 : first_sad + 4]) > 0.7 * sad_level, "the sad tone faded in"
