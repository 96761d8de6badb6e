"""The song library's forms, the audio features, the feature cache and the background scan, on songs
the tests synthesize (tests/music_synth.py: distinct tempo, mode, brightness and level)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.music import features as feats
from edge.music.analysis import FeatureCache, cache_path
from edge.music.cli import main as songs_cli
from edge.music.library import Library, LibraryError
from edge.music.rank import MoodModel, nearest_mood
from edge.music.recommend import Recommender
from tests.music_synth import KINDS, SR, render, write_song

#: The mood each kind of synthesized song should sound like.
IMPLIED = {"bright": {"happy"}, "gloomy": {"sad"}, "calm": {"neutral"}, "fierce": {"angry", "fear", "disgust"}}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Mood folders, an unlabelled folder, a loose file and a manifest, all mixed."""
    root = tmp_path_factory.mktemp("mixed")
    write_song(root / "happy" / "bright_a.wav", "bright", seed=1)
    write_song(root / "Sad" / "gloomy_a.ogg", "gloomy", seed=2)  # folder names match any case
    write_song(root / "neutral" / "calm_a.flac", "calm", seed=3)
    write_song(root / "angry" / "fierce_a.wav", "fierce", seed=4)
    for i, kind in enumerate(KINDS):
        write_song(root / "unsorted" / f"{kind}_u.ogg", kind, seed=10 + i, root=60)
    write_song(root / "loose_bright.wav", "bright", seed=20, root=62)
    write_song(root / "albums" / "blue" / "one.flac", "gloomy", seed=21)
    write_song(root / "albums" / "blue" / "two.flac", "gloomy", seed=22)
    write_song(root / "albums" / "mixed.wav", "calm", seed=23)
    write_song(root / "albums" / "weighted.wav", "calm", seed=24)
    (root / "songs.toml").write_text(
        '[[song]]\npath = "albums/blue/*.flac"\nmood = "sad"\n\n'
        '[[song]]\npath = "albums/mixed.wav"\nmoods = { neutral = 1.0, happy = 0.5 }\n\n'
        '[[song]]\npath = "albums/weighted.wav"\nweight = 2.0\n\n'
        '[[song]]\npath = "angry/fierce_a.wav"\nmood = "fear"\n\n'  # the manifest wins over the folder
        '[[song]]\npath = "nowhere.ogg"\nmood = "happy"\n\n'
        '[[song]]\npath = "albums/mixed.wav"\nmood = "grumpy"\n\n'
        '[moods]\nsurprise = ["unsorted/bright_u.ogg"]\n')
    return root


# -- the library -------------------------------------------------------------------------------------


def test_scan_mixes_mood_folders_a_manifest_and_unlabelled_songs(mixed: Path, caplog) -> None:
    with caplog.at_level(logging.INFO):
        lib = Library.scan(mixed)
    by_name = {e.path.name: e for e in lib.entries()}
    assert len(by_name) == 4 + 4 + 1 + 4
    assert (by_name["bright_a.wav"].moods, by_name["bright_a.wav"].source) == ({"happy": 1.0}, "folder")
    assert by_name["gloomy_a.ogg"].moods == {"sad": 1.0}
    assert by_name["one.flac"].moods == {"sad": 1.0} and by_name["two.flac"].source == "manifest"  # a glob
    assert by_name["mixed.wav"].moods == {"neutral": 1.0, "happy": 0.5}
    assert by_name["weighted.wav"].moods == {} and by_name["weighted.wav"].weight == 2.0
    assert by_name["fierce_a.wav"].moods == {"fear": 1.0} and by_name["fierce_a.wav"].source == "manifest"
    assert by_name["bright_u.ogg"].moods == {"surprise": 1.0}  # the [moods] short form
    assert by_name["calm_u.ogg"].moods == {} and by_name["loose_bright.wav"].moods == {}
    assert sorted(p.name for p in lib.songs("sad")) == ["gloomy_a.ogg", "one.flac", "two.flac"]
    assert "mixed.wav" in [p.name for p in lib.songs("happy")]
    warned = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "nowhere.ogg does not exist" in warned
    assert "'grumpy'" in warned and "ignored" in warned


def test_a_library_of_unlabelled_songs_only_is_fine(tmp_path: Path) -> None:
    write_song(tmp_path / "a.wav", "calm", seconds=1.0)
    lib = Library.scan(tmp_path)
    assert [e.path.name for e in lib.entries()] == ["a.wav"] and lib.moods() == ()


def test_a_broken_manifest_is_reported_and_the_folders_still_count(tmp_path: Path, caplog) -> None:
    write_song(tmp_path / "happy" / "a.wav", "bright", seconds=1.0)
    (tmp_path / "songs.toml").write_text("[[song]\npath = ")
    with caplog.at_level(logging.WARNING):
        lib = Library.scan(tmp_path)
    assert lib.moods() == ("happy",)
    assert any("songs.toml is unreadable" in r.getMessage() for r in caplog.records)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "songs.toml").write_text('[[song]]\npath = "gone.ogg"\nmood = "sad"\n')
    with pytest.raises(LibraryError, match="no audio files"):
        Library.scan(tmp_path / "empty")


# -- the features ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_features_measure_tempo_mode_and_key(tmp_path: Path, kind: str) -> None:
    bpm, mode, _, level = KINDS[kind]
    f = feats.analyse(write_song(tmp_path / f"{kind}.ogg", kind, root=62))  # D
    assert f.tempo == pytest.approx(bpm, rel=0.03)
    assert f.pulse > 0.5
    assert (f.mode > 0.1) if mode == "major" else (f.mode < -0.1)
    assert f.key == 2
    assert f.loudness == pytest.approx(20 * np.log10(level), abs=2.0)  # what's above 5.5 kHz is not heard
    assert len(f.mfcc) == 13 and f.seconds == pytest.approx(6.0, abs=0.05)
    assert feats.Features.from_dict(json.loads(json.dumps(f.to_dict()))).vector() == pytest.approx(f.vector(), abs=1e-3)


def test_features_order_brightness_and_activity(tmp_path: Path) -> None:
    got = {k: feats.analyse(write_song(tmp_path / f"{k}.wav", k)) for k in KINDS}
    assert got["bright"].brightness > 1.3 * got["calm"].brightness > 2.0 * got["gloomy"].brightness
    assert got["fierce"].loudness > got["bright"].loudness > got["calm"].loudness > got["gloomy"].loudness


def test_decoding_takes_an_excerpt_at_a_low_rate(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    stereo = np.stack([render(120, "major", 0.5, 0.1, 70.0)] * 2, axis=1)
    sf.write(path, stereo, 44100)  # 70 s of 22 kHz audio written as 44.1 kHz: 35 s "played" at double speed
    y, rate = feats.decode(path, seconds=20.0)
    assert rate == pytest.approx(11025) and len(y) == pytest.approx(20 * 11025, abs=2)
    assert y.dtype == np.float32 and np.sqrt(np.mean(y**2)) > 0.05


def test_a_silent_song_has_no_tempo_and_no_mode(tmp_path: Path) -> None:
    sf.write(tmp_path / "quiet.wav", np.zeros(5 * SR, np.float32), SR)
    f = feats.analyse(tmp_path / "quiet.wav")
    assert (f.tempo, f.mode) == (0.0, 0.0) and f.loudness <= -100


# -- the mood model: unlabelled songs get the mood their features imply ------------------------------


def test_scan_labels_unlabelled_songs_with_the_mood_their_features_imply(mixed: Path, tmp_path: Path) -> None:
    rec = Recommender(Library.scan(mixed), cache=FeatureCache(tmp_path / "cache.json"))
    report = rec.scan()
    assert report.analysed == 13 and report.failed == 0
    states = {s.path.name: s for s in rec.analysis.states()}
    for kind, moods in IMPLIED.items():
        if kind == "bright":
            continue  # bright_u.ogg is labelled "surprise" in the manifest
        s = states[f"{kind}_u.ogg"]
        assert s.source == "features" and set(s.moods) <= moods, (kind, s.point, s.moods)
    assert states["loose_bright.wav"].moods == {"happy": 1.0}
    assert states["weighted.wav"].moods == {"neutral": 1.0}
    # A listener's label always wins, whatever the sound says.
    assert states["bright_u.ogg"].moods == {"surprise": 1.0} and states["bright_u.ogg"].source == "manifest"
    assert states["fierce_a.wav"].moods == {"fear": 1.0}
    assert states["gloomy_a.ogg"].source == "folder"
    # Quadrants of the valence/arousal plane.
    assert states["bright_a.wav"].point[0] > 0.3 and states["bright_a.wav"].point[1] > 0.3
    assert states["gloomy_a.ogg"].point[0] < -0.3 and states["gloomy_a.ogg"].point[1] < -0.3
    assert states["calm_u.ogg"].point[1] < states["bright_u.ogg"].point[1]
    assert states["fierce_u.ogg"].point[0] < 0 < states["fierce_u.ogg"].point[1]
    # And the songs play for those moods.
    assert {s.path.name for s in rec.analysis.songs_for("sad")} >= {"gloomy_u.ogg", "gloomy_a.ogg", "one.flac"}


def test_an_unlabelled_library_sorts_itself_out(tmp_path: Path) -> None:
    for i, kind in enumerate(KINDS):
        write_song(tmp_path / f"{kind}.flac", kind, seed=30 + i, root=62)
    rec = Recommender(Library.scan(tmp_path))
    rec.scan()
    for s in rec.analysis.states():
        assert set(s.moods) <= IMPLIED[s.path.stem], (s.path.name, s.point, s.moods)


def test_the_mood_model_is_steady_on_a_tiny_or_one_sided_library() -> None:
    sad = feats.Features(tempo=62, pulse=0.8, loudness=-28, activity=1.1, brightness=450, mode=-0.4, key=0,
                         mfcc=(0.0,) * 13, seconds=30)
    assert nearest_mood(MoodModel([sad]).point(sad)) == "sad"  # one song is not stretched to the middle
    assert nearest_mood(MoodModel([sad] * 5).point(sad)) == "sad"
    assert nearest_mood((0.0, 0.0)) == "neutral" and nearest_mood((0.8, 0.5)) == "happy"


# -- the cache ---------------------------------------------------------------------------------------


def test_features_are_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    root = tmp_path / "songs"
    write_song(root / "happy" / "a.wav", "bright", seconds=4.0)
    write_song(root / "b.wav", "gloomy", seconds=4.0)
    calls: list[str] = []

    def counting(path: Path) -> feats.Features:
        calls.append(path.name)
        return feats.analyse(path)

    cache_file = cache_path(root, tmp_path / "state")
    assert cache_file == root / ".moodplayer-features.json"  # beside the library
    first = Recommender(Library.scan(root), cache=FeatureCache(cache_file), analyse=counting)
    first.scan()
    assert sorted(calls) == ["a.wav", "b.wav"]
    data = json.loads(cache_file.read_text())
    assert data["version"] == feats.VERSION and len(data["songs"]) == 2
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]  # written atomically
    again = Recommender(Library.scan(root), cache=FeatureCache(cache_file), analyse=counting)
    assert again.analysis.pending() == [] and again.analysis.state(root / "b.wav").mood == first.analysis.state(root / "b.wav").mood
    again.scan()
    assert len(calls) == 2  # nothing analysed twice
    write_song(root / "b.wav", "bright", seconds=4.5)  # changed: size and mtime differ
    third = Recommender(Library.scan(root), cache=FeatureCache(cache_file), analyse=counting)
    assert third.analysis.pending() == [root / "b.wav"]
    third.scan()
    assert calls[-1] == "b.wav" and len(calls) == 3


def test_a_read_only_library_keeps_its_cache_in_the_state_folder(tmp_path: Path, monkeypatch) -> None:
    from edge.music import analysis

    root = tmp_path / "songs"
    root.mkdir()
    monkeypatch.setattr(analysis.os, "access", lambda path, mode: Path(path) != root)  # as if read-only
    path = cache_path(root, tmp_path / "state")
    assert path.parent == tmp_path / "state" and path.name.startswith("features-")
    assert path == cache_path(root, tmp_path / "state")  # the same library, the same file


# -- bad files ---------------------------------------------------------------------------------------


def test_a_corrupt_file_and_a_non_audio_file_are_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    root = tmp_path / "songs"
    write_song(root / "happy" / "good.wav", "bright", seconds=4.0)
    write_song(root / "happy" / "fine.ogg", "bright", seconds=4.0, seed=5)
    (root / "happy" / "corrupt.ogg").write_bytes(b"OggS" + os.urandom(6000))  # looks like OGG, isn't
    (root / "happy" / "notes.mp3").write_text("a text file, renamed .mp3\n" * 40)
    good = (root / "happy" / "good.wav").read_bytes()
    (root / "unsorted").mkdir()
    (root / "unsorted" / "cut.wav").write_bytes(good[:60])  # a WAV header and nothing after it
    cache = tmp_path / "cache.json"
    with caplog.at_level(logging.WARNING):
        rec = Recommender(Library.scan(root), cache=FeatureCache(cache))
        rec.scan()
        picks = [rec.next("happy") for _ in range(10)]
    assert {p.name for p in picks} == {"good.wav", "fine.ogg"}
    assert set(rec.analysis.undecodable()) == {root / "happy" / "corrupt.ogg", root / "unsorted" / "cut.wav"}
    assert rec.analysis.state(root / "happy" / "notes.mp3") is None  # never even listed
    messages = [r.getMessage() for r in caplog.records]
    for name, why in (("notes.mp3", "not an audio file"), ("corrupt.ogg", "can't be decoded"),
                      ("cut.wav", "can't be decoded")):
        assert sum(name in m and why in m for m in messages) == 1, (name, messages)
    # The next run knows from the cache, says so once, and still skips them.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = Recommender(Library.scan(root), cache=FeatureCache(cache))
    assert again.analysis.pending() == [] and root / "happy" / "corrupt.ogg" in again.analysis.undecodable()
    assert sum("corrupt.ogg" in r.getMessage() for r in caplog.records) == 1


def test_an_analysis_bug_does_not_end_the_scan(tmp_path: Path) -> None:
    write_song(tmp_path / "happy" / "a.wav", "bright", seconds=1.0)
    write_song(tmp_path / "happy" / "b.wav", "bright", seconds=1.0)

    def broken(path: Path) -> feats.Features:
        if path.name == "a.wav":
            raise ZeroDivisionError("oops")
        return feats.analyse(path)

    rec = Recommender(Library.scan(tmp_path), analyse=broken)
    report = rec.scan()
    assert report.failed == 1 and rec.analysis.state(tmp_path / "happy" / "b.wav").features is not None
    assert rec.next("happy").name == "b.wav"


# -- the background scan -----------------------------------------------------------------------------


def test_a_scan_of_100_songs_runs_in_the_background_without_stalling_the_loop(tmp_path: Path, caplog) -> None:
    root = tmp_path / "songs"
    kinds = list(KINDS)
    for i in range(100):
        path = root / ("happy" if i < 10 else "unsorted") / f"s{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, render(*KINDS[kinds[i % 4]], seconds=2.0, seed=i), SR)
    rec = Recommender(Library.scan(root), cache=FeatureCache(tmp_path / "cache.json"))
    stop = threading.Event()
    with caplog.at_level(logging.INFO):
        t0 = time.monotonic()
        rec.start(stop)
        assert not rec.analysis.wait(0)  # start() returned while the scan goes on: it runs on its own thread
        gaps, seen, last = [], set(), time.monotonic()
        while not rec.analysis.wait(0):  # the "camera loop": 10 ms frames, and it asks for songs meanwhile
            time.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            seen.add(rec.analysis.progress[0])
            assert rec.next("happy") is not None
            assert time.monotonic() - t0 < 300, "the scan hangs"
    assert rec.analysis.progress == (100, 100) and len(seen) > 3  # progress was visible along the way
    # The loop's pace is a figure, not a verdict (a busy machine's scheduler moves it as much as the scan):
    # printed here; tests/test_stalled_disk.py proves that picking never waits on the disk.
    gaps.sort()
    print(f"10 ms frames during the scan: median {1000 * gaps[len(gaps) // 2]:.1f} ms, "
          f"p95 {1000 * gaps[int(0.95 * len(gaps))]:.1f} ms, worst {1000 * gaps[-1]:.1f} ms")
    assert any("song features: 100 analysed" in r.getMessage() for r in caplog.records)
    assert sum(1 for s in rec.analysis.states() if s.source == "features") == 90
    stop.set()
    rec.stop()


def test_the_background_scan_stops_when_asked(tmp_path: Path) -> None:
    for i in range(30):
        write_song(tmp_path / "happy" / f"s{i}.wav", "calm", seconds=1.0, seed=i)
    rec = Recommender(Library.scan(tmp_path), analyse=lambda p: (time.sleep(0.05), feats.analyse(p))[1])
    stop = threading.Event()
    rec.start(stop)
    time.sleep(0.2)
    stop.set()
    assert rec.analysis.wait(2.0)
    assert 0 < rec.analysis.progress[0] < 30


# -- the CLI -----------------------------------------------------------------------------------------


def test_cli_scan_shows_each_song_its_mood_and_where_it_came_from(mixed: Path, tmp_path: Path, capsys) -> None:
    state = tmp_path / "state"
    assert songs_cli(["scan", str(mixed), "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("unsorted/gloomy_u.ogg"))
    assert line.split()[1:3] == ["sad", "features"] and float(line.split()[3]) == pytest.approx(62, abs=2)
    assert next(r for r in out.splitlines() if r.startswith("angry/fierce_a.wav")).split()[1:3] == ["fear", "manifest"]
    assert songs_cli(["scan", str(mixed), "--state-dir", str(state), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {Path(r["path"]).name: r for r in data["songs"]}
    assert rows["gloomy_u.ogg"]["source"] == "features" and rows["gloomy_u.ogg"]["mood"] == "sad"
    assert rows["bright_a.wav"]["source"] == "folder" and rows["bright_a.wav"]["tempo"] == pytest.approx(150, abs=3)
    assert data["analysed_now"] == 0  # the first scan cached everything
    assert rows["one.flac"]["energy"] < rows["bright_a.wav"]["energy"]


def test_cli_scan_of_a_missing_folder_says_so(tmp_path: Path, capsys) -> None:
    assert songs_cli(["scan", str(tmp_path / "nope"), "--state-dir", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


# -- what is not taken -------------------------------------------------------------------------------


def _mp3(path: Path, seconds: float = 2.0) -> Path:
    t = np.arange(int(seconds * 44100)) / 44100
    sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), 44100, format="MP3")
    return path


def test_cli_scan_lists_every_file_not_taken_with_why_and_what_to_do(tmp_path: Path, capsys, caplog) -> None:
    root = tmp_path / "songs"
    write_song(root / "happy" / "good.wav", "bright", seconds=1.0)
    (root / "happy" / "phone.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + os.urandom(3000))
    (root / "happy" / "notes.txt").write_text("lyrics\n")
    whole = _mp3(tmp_path / "whole.mp3").read_bytes()
    (root / "sad").mkdir()
    (root / "sad" / "cut.mp3").write_bytes(whole[:1000])  # a download that stopped early
    with caplog.at_level(logging.INFO):
        assert songs_cli(["scan", str(root), "--state-dir", str(tmp_path / "state"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    why = {Path(t["path"]).name: (t["why"], t["fix"]) for t in data["not_taken"]}
    assert set(why) == {"phone.m4a", "notes.txt", "cut.mp3"} and data["not_taken_count"] == 3
    assert why["phone.m4a"] == ("m4a: not decodable here (the player takes .ogg, .mp3, .wav, .flac)",
                                "convert it: ffmpeg -i 'phone.m4a' 'phone.ogg'")
    assert why["notes.txt"][0] == ".txt: not audio"
    assert why["cut.mp3"][0].startswith("does not decode") and why["cut.mp3"][1] == "replace or delete it"
    assert [r["song"] for r in data["songs"] if r["source"] != "unreadable"] == ["happy/good.wav"]
    # The scan logs them once: one warning for the sound files, one line for the rest.
    logged = [r.getMessage() for r in caplog.records if "not taken" in r.getMessage()]
    assert len(logged) == 1 and "phone.m4a" in logged[0] and "ffmpeg" in logged[0]
    assert songs_cli(["scan", str(root), "--state-dir", str(tmp_path / "state")]) == 0
    table = capsys.readouterr().out
    assert "not taken (3):" in table and "happy/notes.txt: .txt: not audio" in table


def test_symlink_loops_neither_multiply_songs_nor_hang_the_scan(tmp_path: Path) -> None:
    root = tmp_path / "songs"
    write_song(root / "happy" / "a.wav", "bright", seconds=1.0)
    write_song(root / "albums" / "b.wav", "calm", seconds=1.0)
    (root / "happy" / "again").symlink_to(root / "happy")  # one loop
    (root / "albums" / "up").symlink_to(root)  # two more: up to the root, and across
    (root / "albums" / "across").symlink_to(root / "happy")
    (root / "albums" / "b_link.wav").symlink_to(root / "albums" / "b.wav")  # a link to a file: once
    (root / "songs.toml").write_text('[[song]]\npath = "**/*.wav"\nmood = "neutral"\n')
    lib = Library.scan(root)
    assert sorted(str(e.path.relative_to(root)) for e in lib.entries()) == ["albums/b.wav", "happy/a.wav"]
    assert {e.path.name: e.moods for e in lib.entries()} == {"a.wav": {"neutral": 1.0}, "b.wav": {"neutral": 1.0}}


def test_a_manifest_glob_is_capped_with_a_warning(tmp_path: Path, monkeypatch, caplog) -> None:
    from edge.music import library

    for i in range(5):
        write_song(tmp_path / "many" / f"s{i}.wav", "calm", seconds=0.6, seed=i)
    (tmp_path / "songs.toml").write_text('[[song]]\npath = "many/**"\nmood = "sad"\n')
    monkeypatch.setattr(library, "MAX_MATCHES", 3)
    with caplog.at_level(logging.WARNING):
        lib = Library.scan(tmp_path)
    assert [p.name for p in lib.songs("sad")] == ["s0.wav", "s1.wav", "s2.wav"]
    assert any("matches more than 3 files" in r.getMessage() for r in caplog.records)


# -- trouble is temporary, unless the file is bad ------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_songs_folder_that_goes_away_comes_back_without_a_restart(tmp_path: Path) -> None:
    root, away = tmp_path / "usb" / "songs", tmp_path / "usb" / "elsewhere"
    for i in range(3):
        write_song(root / "happy" / f"s{i}.wav", "bright", seconds=1.0, seed=i)
    clock = Clock()
    rec = Recommender(Library.scan(root), cache=FeatureCache(tmp_path / "cache.json"), clock=clock, explore=0.0)
    assert rec.next("happy") is not None
    root.rename(away)  # the stick remounts: the player can't open what it is given
    for _ in range(3):
        path = rec.next("happy")
        assert path is not None
        rec.discard(path)
    assert rec.next("happy") is None  # nothing to offer now, but nothing given up
    report = rec.scan()  # the analysis meanwhile: nothing to do, nothing cached as bad
    assert report.analysed == 0 and rec.analysis.undecodable() == {}
    away.rename(root)
    clock.t += 29
    assert rec.next("happy") is None
    clock.t += 2  # the retry time (30 s) has come
    assert rec.next("happy") is not None
    assert rec.scan().analysed == 3 and rec.analysis.undecodable() == {}


def test_retries_back_off_and_analysis_waits_out_the_trouble(tmp_path: Path) -> None:
    root = tmp_path / "songs"
    write_song(root / "happy" / "a.wav", "bright", seconds=1.0)
    hidden = tmp_path / "a.wav"
    clock = Clock()
    rec = Recommender(Library.scan(root), clock=clock, explore=0.0)
    (root / "happy" / "a.wav").rename(hidden)
    assert rec.scan().failed == 1 and rec.analysis.pending() == []  # postponed, not marked bad
    waits = []
    for _ in range(4):
        start = clock.t
        while rec.next("happy") is None:
            clock.t += 1
        waits.append(clock.t - start)
        rec.discard(root / "happy" / "a.wav")
    assert waits == [30, 60, 120, 120]  # from the scan's failure on: doubling, capped at 2 minutes
    hidden.rename(root / "happy" / "a.wav")
    clock.t += 3600
    assert rec.analysis.pending() == [root / "happy" / "a.wav"] and rec.scan().analysed == 1
    assert rec.analysis.state(root / "happy" / "a.wav").features is not None


def test_a_bad_file_stays_out_until_it_changes(tmp_path: Path) -> None:
    root = tmp_path / "songs"
    write_song(root / "happy" / "good.wav", "bright", seconds=1.0)
    (root / "happy" / "bad.ogg").write_bytes(b"OggS" + os.urandom(5000))
    clock = Clock()
    rec = Recommender(Library.scan(root), clock=clock, explore=0.0, features=False)
    bad = root / "happy" / "bad.ogg"
    assert rec.analysis.trouble(bad, "it would not play") == "bad"
    clock.t += 10 * 3600
    assert {rec.next("happy").name for _ in range(4)} == {"good.wav"}
    write_song(bad, "bright", seconds=1.2, seed=3)  # replaced: size and mtime change
    assert {rec.next("happy").name for _ in range(4)} == {"good.wav"}  # picking reads no disk ...
    rec.analysis.refresh()  # ... the analysis thread looks, every few seconds
    assert {rec.next("happy").name for _ in range(4)} == {"good.wav", "bad.ogg"}
    assert rec.analysis.trouble(root / "happy" / "good.wav") == "ok"  # it decodes: the trouble was elsewhere


# -- bounded work ----------------------------------------------------------------------------------------


def test_a_huge_many_channel_wav_is_analysed_in_bounded_memory(tmp_path: Path) -> None:
    """A 0.5 GB WAV (a sparse file: 16 channels, 48 kHz, 16-bit, about 5.5 minutes) with a tone in it;
    all channels of the 45 s excerpt as float32 would be 138 MB."""
    import struct
    import tracemalloc

    path, channels, rate = tmp_path / "huge.wav", 16, 48000
    data_bytes = 500 * 2**20 // (2 * channels) * (2 * channels)
    header = (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels, 2 * channels, 16) +
              b"data" + struct.pack("<I", data_bytes))
    frames = data_bytes // (2 * channels)
    start = int((frames - 45 * rate) * feats.START_AT)  # where the excerpt begins
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(10 * rate) / rate)).astype("<i2")
    with open(path, "wb") as f:
        f.write(header)
        f.seek(len(header) + (start + 5 * rate) * 2 * channels)
        f.write(np.repeat(tone[:, None], channels, axis=1).tobytes())
        f.truncate(len(header) + data_bytes)
    assert path.stat().st_size > 500_000_000
    tracemalloc.start()
    try:
        y, sr = feats.decode(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sr == pytest.approx(12000) and len(y) == pytest.approx(45 * 12000, abs=2)
    assert 0.1 < float(np.sqrt(np.mean(y[6 * 12000 : 14 * 12000] ** 2))) < 0.3  # the tone, mixed down
    assert peak < 30 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_the_feature_cache_is_saved_by_time_not_by_count(tmp_path: Path) -> None:
    for i in range(10):
        write_song(tmp_path / "songs" / "happy" / f"s{i}.wav", "bright", seconds=0.6, seed=i)
    clock, cache_file = Clock(), tmp_path / "cache.json"

    def ten_seconds_each(path: Path) -> feats.Features:
        clock.t += 10.0
        return feats.analyse(path)

    on_disk: list[int] = []

    def saved(done: int, total: int, path: Path) -> None:
        on_disk.append(len(json.loads(cache_file.read_text())["songs"]) if cache_file.exists() else 0)

    rec = Recommender(Library.scan(tmp_path / "songs"), cache=FeatureCache(cache_file), clock=clock,
                      analyse=ten_seconds_each)
    rec.analysis.scan(progress=saved)
    assert on_disk == [0, 0, 3, 3, 3, 6, 6, 6, 9, 9]  # every 30 s of the clock
    assert len(json.loads(cache_file.read_text())["songs"]) == 10  # and at the end
