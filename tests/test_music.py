"""The song library, the picker and the player, on tiny tone files the tests write.

Player tests run in a subprocess each (a clean SDL state, and SDL's audio driver chosen by the
environment before the mixer opens). With ``SDL_AUDIODRIVER=disk`` SDL writes the mixed output, in
real time, to a raw file that the tests then analyse: real audio, real fades.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge import config as configs
from edge.music.config import MusicConfig
from edge.music.idle import IdleWatch
from edge.music.library import Library, LibraryError, sniff
from edge.music.recommend import Recommender
from edge.types import EMOTIONS
from tests.music_synth import HAPPY_HZ, SAD_HZ, analyse, tone

ROOT = Path(__file__).resolve().parent.parent
SR = 22050





@pytest.fixture
def songs(tmp_path: Path) -> Path:
    """happy: two 1.2 s 440 Hz songs; sad: two 3 s 1320 Hz songs; neutral: one; plus clutter."""
    root = tmp_path / "songs"
    tone(root / "happy" / "a.ogg", HAPPY_HZ, 1.2)
    tone(root / "happy" / "b.wav", HAPPY_HZ, 1.2)
    tone(root / "sad" / "c.ogg", SAD_HZ, 3.0)
    tone(root / "sad" / "d.flac", SAD_HZ, 3.0)
    tone(root / "neutral" / "e.ogg", 660.0, 1.0)
    (root / "happy" / "notes.txt").write_text("not a song")
    return root


# -- Library -----------------------------------------------------------------------------------------


def test_scan_finds_songs_by_mood(songs: Path) -> None:
    lib = Library.scan(songs)
    assert lib.moods() == ("happy", "neutral", "sad")
    assert [p.name for p in lib.songs("happy")] == ["a.ogg", "b.wav"]
    assert [p.name for p in lib.songs("sad")] == ["c.ogg", "d.flac"]
    assert len(lib) == 5
    assert [sniff(p) for p in lib.songs("sad")] == ["ogg", "flac"]


def test_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="not found.*make_songs.py"):
        Library.scan(tmp_path / "nope")


def test_folder_without_audio_says_where_to_put_files(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    (tmp_path / "sad").mkdir()
    (tmp_path / "sad" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(LibraryError) as err:
        Library.scan(tmp_path)
    message = str(err.value)
    assert f"songs folder {tmp_path} has no audio files" in message
    assert f"{tmp_path}/<mood>/" in message and "angry, disgust, fear" in message
    assert "python songs/make_songs.py" in message


def test_non_audio_files_are_skipped_with_a_warning(songs: Path, caplog: pytest.LogCaptureFixture) -> None:
    (songs / "happy" / "broken.ogg").write_bytes(os.urandom(2000))
    (songs / "happy" / "readme.mp3").write_text("this is text, renamed .mp3\n" * 20)
    with caplog.at_level(logging.WARNING):
        lib = Library.scan(songs)
    assert [p.name for p in lib.songs("happy")] == ["a.ogg", "b.wav"]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    assert "broken.ogg: not an audio file" in warned and "readme.mp3: not an audio file" in warned


def test_the_shipped_songs_cover_every_emotion() -> None:
    lib = Library.scan(ROOT / "songs")
    assert lib.moods() == EMOTIONS
    assert all(len(lib.songs(m)) == 2 for m in EMOTIONS)
    sizes = [p.stat().st_size for m in EMOTIONS for p in lib.songs(m)]
    assert max(sizes) < 150_000 and sum(sizes) < 3_000_000


def test_make_songs_renders_every_emotion_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_songs", ROOT / "songs" / "make_songs.py")
    make_songs = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_songs", make_songs)  # dataclasses look their module up
    spec.loader.exec_module(make_songs)
    assert tuple(sorted(make_songs.PIECES)) == EMOTIONS
    happy, sad = (make_songs.render(make_songs.PIECES[m][0], 2.0) for m in ("happy", "sad"))
    assert np.isfinite(happy).all() and np.abs(happy).max() <= 0.8 and len(happy) >= 2 * make_songs.SR
    assert np.array_equal(happy, make_songs.render(make_songs.PIECES["happy"][0], 2.0))  # seeded
    assert np.sqrt(np.mean(happy**2)) > np.sqrt(np.mean(sad**2))  # happy is the livelier


# -- the chooser on labels alone (no features) ------------------------------------------------------


def labels_only(library: Library, seed: int | None = None) -> Recommender:
    return Recommender(library, seed=seed, features=False)


def make_library(counts: dict[str, int]) -> Library:
    return Library("x", {m: [Path(f"{m}/{i}.ogg") for i in range(n)] for m, n in counts.items()})


def test_chooser_cycles_through_a_mood_before_repeating() -> None:
    picker = labels_only(make_library({"happy": 5}), seed=3)
    picks = [picker.next("happy") for _ in range(30)]
    for cycle in range(6):
        assert len(set(picks[cycle * 5 : cycle * 5 + 5])) == 5
    assert len({tuple(picks[c * 5 : c * 5 + 5]) for c in range(6)}) > 1  # reshuffled each cycle
    assert all(a != b for a, b in zip(picks, picks[1:]))


def test_chooser_never_repeats_in_a_row_across_moods() -> None:
    lib = make_library({"happy": 2, "sad": 3, "neutral": 2})
    picker = labels_only(lib, seed=0)
    rng = np.random.default_rng(0)
    picks = [picker.next(str(rng.choice(["happy", "sad", "neutral", "fear"]))) for _ in range(300)]
    assert all(a != b for a, b in zip(picks, picks[1:]))
    assert collections.Counter(p.parts[0] for p in picks).keys() == {"happy", "sad", "neutral"}


def test_chooser_is_seeded_and_handles_edge_cases() -> None:
    lib = make_library({"happy": 4, "sad": 1})
    a, b = labels_only(lib, seed=7), labels_only(lib, seed=7)
    assert [a.next("happy") for _ in range(12)] == [b.next("happy") for _ in range(12)]
    assert [a.next("sad") for _ in range(3)] == [Path("sad/0.ogg")] * 3  # one song: it repeats
    assert labels_only(Library("x", {"happy": [Path("h.ogg")]}, fallback="")).next("fear") is None
    a.discard(Path("sad/0.ogg"))
    assert a.next("sad") is None


# -- small pieces ------------------------------------------------------------------------------------


def test_idle_watch_fires_once_per_absence() -> None:
    watch = IdleWatch(after=2.0)
    seen = [(0.0, 1), (1.0, 0), (1.9, 0), (2.0, 0), (2.5, 0), (4.0, 1), (5.0, 0), (5.9, 0), (6.0, 0)]
    assert [watch.update(t, faces) for t, faces in seen] == [False] * 3 + [True] + [False] * 4 + [True]


def test_music_config_names_the_bad_key() -> None:
    with pytest.raises(ValueError, match="music.volume"):
        MusicConfig(volume=1.5)
    with pytest.raises(ValueError, match="music.idle must be one of keep, fade"):
        MusicConfig(idle="pause")


@pytest.mark.parametrize("key, value", [("fade_ms", 3_000_000_000), ("fade_ms", -1), ("volume", -0.1),
                                        ("idle_after", 1e9), ("mpd_port", 0), ("output", "alsa"),
                                        ("transition", "crossfade"), ("strategy", "cheer"),
                                        ("fallback", "nuetral")])
def test_every_music_setting_is_bounded(key: str, value: object) -> None:
    """A value that would kill the player later (fade_ms overflowed SDL's int) stops start-up naming it."""
    with pytest.raises(configs.ConfigError, match=f"music.{key}"):
        configs.load(None, {f"music.{key}": value})


def test_a_bad_music_setting_exits_2_naming_the_key() -> None:
    out = subprocess.run([sys.executable, "-m", "edge", "--music-fade-ms", "3000000000", "--print-config"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "music.fade_ms" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("argv", [["--print-config"],
                                  ["songs", "like", "happy/skip_along.ogg", "--state-dir", "{tmp}"]])
def test_config_and_the_songs_cli_do_not_load_pygame(argv: list[str], tmp_path: Path) -> None:
    probe = ("import sys, edge.cli; rc = edge.cli.main(sys.argv[1:]); "
             "print('PYGAME', 'pygame' in sys.modules, flush=True); sys.exit(rc)")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    out = subprocess.run([sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "PYGAME False" in out.stdout


def test_a_retired_key_is_read_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = tmp_path / "old.toml"
    old.write_text("[mood]\nnobody_after = 5.0\n[music]\nidle_after = 30.0\n")
    with caplog.at_level(logging.WARNING):
        cfg = configs.load(old)
    assert cfg.music.idle_after == 30.0
    assert any("mood.nobody_after" in r.getMessage() and "music.idle_after" in r.getMessage() for r in caplog.records)


# -- Player, in a subprocess with a chosen SDL audio driver ------------------------------------------

#: Runs a timed script of player calls and writes what happened as JSON: argv[1] = the settings.
RUNNER = r"""
import json, logging, os, sys, time
from pathlib import Path
import pygame
from edge.music.config import MusicConfig
from edge.music.player import Player

class Folders:
    # each mood folder's files in name order, in turn; a discarded file is never offered again
    def __init__(self, root):
        self.songs = {d.name: sorted(p for p in d.iterdir() if p.suffix != ".txt") for d in Path(root).iterdir()}
        self.turn = {}
    def next(self, mood, point=None):
        songs = self.songs.get(mood, [])
        if not songs:
            return None
        self.turn[mood] = self.turn.get(mood, -1) + 1
        return songs[self.turn[mood] % len(songs)]
    def discard(self, path):
        for songs in self.songs.values():
            if path in songs:
                songs.remove(path)

args = json.loads(sys.argv[1])
logs = []
class Collect(logging.Handler):
    def emit(self, record): logs.append([record.levelname, record.getMessage()])
logging.basicConfig(level=logging.INFO, handlers=[Collect(), logging.StreamHandler()])
config = MusicConfig(songs=args["songs"], fade_ms=args["fade_ms"], idle=args.get("idle", "keep"))
songs, feedback, steps = [], [], []
t0 = time.monotonic()
player = Player(config, Folders(config.songs),
                on_song=lambda mood, path: songs.append([time.monotonic() - t0, mood, path.name]),
                on_feedback=lambda kind, mood, path: feedback.append([kind, mood, path.name]),
                retry_s=args.get("retry_s", 3.0))
player.start()
for at, action, arg in args["steps"]:
    time.sleep(max(0.0, at - (time.monotonic() - t0)))
    if action == "env":
        os.environ["SDL_AUDIODRIVER"] = arg
    elif action == "request":
        player.request(arg)
    elif action in ("idle", "like", "skip", "stop"):
        getattr(player, action)()
    current = player.current()
    steps.append(dict(at=at, action=action, arg=arg, current=current and current.name,
                      silent=player.silent, mixer=pygame.mixer.get_init(),
                      alive=player._thread is not None and player._thread.is_alive()))
json.dump(dict(songs=songs, feedback=feedback, steps=steps, logs=logs), open(args["out"], "w"))
"""


def run_player(tmp_path: Path, songs: Path, steps: list, driver: str = "disk", **settings) -> dict:
    """Run RUNNER with ``steps`` ([at_s, action, arg], ...); returns its record, plus the raw audio path."""
    out, raw = tmp_path / "record.json", tmp_path / "out.raw"
    env = dict(os.environ, SDL_AUDIODRIVER=driver, SDL_DISKAUDIOFILE=str(raw), PYTHONPATH=str(ROOT),
               PYGAME_HIDE_SUPPORT_PROMPT="1")
    args = dict(songs=str(songs), fade_ms=400, steps=steps, out=str(out), **settings)
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    record["raw"] = raw
    return record


def step(record: dict, action: str, arg: str = "", nth: int = 0) -> dict:
    return [s for s in record["steps"] if s["action"] == action and s["arg"] == arg][nth]





def test_player_plays_fades_between_moods_and_ignores_repeats(tmp_path: Path, songs: Path) -> None:
    record = run_player(tmp_path, songs, [
        [0.0, "request", "happy"],
        [0.15, "probe", ""],
        [0.4, "request", "happy"],  # same mood: no restart
        [0.5, "request", "uncertain"],  # changes nothing
        [0.6, "probe", ""],
        [1.6, "request", "sad"],  # the second happy song is playing by now
        [1.7, "request", "sad"],  # during the fade: returns at once, changes nothing
        [1.75, "request", "happy"],
        [1.8, "request", "sad"],
        [2.9, "probe", ""],
        [3.0, "stop", ""],
    ])
    first, later = step(record, "probe"), step(record, "probe", nth=1)
    assert not first["silent"] and first["current"] in ("a.ogg", "b.wav")
    assert later["current"] == first["current"]
    moods = [mood for _, mood, _ in record["songs"]]
    # Decisions: happy; the next happy when the first ended; then each mood change during the fade
    # (the filter's hold keeps these apart in a real run); only the last one plays.
    assert moods == ["happy", "happy", "sad", "happy", "sad"], record["songs"]
    assert record["songs"][1][2] != record["songs"][0][2]
    assert step(record, "probe", nth=2)["current"] == record["songs"][-1][2]
    stop = step(record, "stop")
    assert not stop["alive"] and stop["silent"] and stop["current"] is None

    rms, happy, sad = analyse(record["raw"], first["mixer"])
    assert rms.max() > 0.1, "the disk audio is silent"
    loud = rms > 0.05 * rms.max()
    is_happy, is_sad = loud & (happy > 10 * sad), loud & (sad > 10 * happy)
    assert is_happy.sum() * 0.02 > 1.0 and is_sad.sum() * 0.02 > 0.4  # seconds of each tone
    last_happy, first_sad = np.flatnonzero(is_happy)[-1], np.flatnonzero(is_sad)[0]
    assert first_sad > last_happy, "the tones overlap or come in the wrong order"
    level = np.median(rms[is_happy])
    assert rms[last_happy:first_sad + 1].min() < 0.1 * level, "no dip between the songs"
    fade = rms[last_happy - 20 : last_happy + 1] / level  # the last 0.4 s of the happy tone
    assert fade[0] > 0.7 and fade[-1] < 0.3, "the happy tone did not fade out"
    assert ((fade > 0.2) & (fade < 0.8)).sum() >= 5, "the happy tone was cut, not faded"


def test_player_skips_unplayable_files_and_keeps_going(tmp_path: Path, songs: Path) -> None:
    (songs / "angry").mkdir()
    (songs / "angry" / "bad.ogg").write_bytes(b"OggS" + os.urandom(4000))  # looks like OGG, isn't
    tone(songs / "angry" / "good.ogg", 880.0, 0.6)
    record = run_player(tmp_path, songs, [[0.0, "request", "angry"], [1.8, "probe", ""]], driver="dummy")
    names = [name for _, _, name in record["songs"]]
    assert names[0] == "bad.ogg" and set(names[1:]) == {"good.ogg"} and len(names) >= 3  # decided, replaced
    assert step(record, "probe")["current"] == "good.ogg"
    skipped = [m for level, m in record["logs"] if "bad.ogg" in m and "can't play" in m]
    assert len(skipped) == 1 and "can't play" in skipped[0]
    assert step(record, "probe")["alive"]


def test_player_idle_fade_skip_and_like(tmp_path: Path, songs: Path) -> None:
    record = run_player(tmp_path, songs, [
        [0.0, "request", "sad"],
        [0.3, "like", ""],
        [0.4, "skip", ""],
        [1.2, "probe", ""],
        [1.3, "idle", ""],
        [2.2, "probe", "after idle"],
        [2.3, "request", "sad"],
        [2.6, "probe", "back"],
    ], driver="dummy", idle="fade")
    names = [name for _, _, name in record["songs"]]
    assert len(names) == 3 and names[0] != names[1]  # skip: another sad song at once
    assert record["feedback"] == [["like", "sad", names[0]], ["skip", "sad", names[0]]]
    assert step(record, "probe")["current"] == names[1]
    assert step(record, "probe", "after idle")["current"] is None  # faded to quiet
    assert step(record, "probe", "back")["current"] == names[2]  # same mood plays again after idle


def test_player_without_audio_device_runs_silent_and_retries(tmp_path: Path, songs: Path) -> None:
    record = run_player(tmp_path, songs, [
        [0.0, "request", "happy"],
        [0.6, "probe", "silent"],
        [0.65, "env", "dummy"],  # the device "appears"; the next retry (at 1.4 s: 0.2, 0.4, 0.8 apart) opens it
        [1.9, "probe", "open"],
        [2.0, "stop", ""],
    ], driver="nonexistent", retry_s=0.2)
    silent, opened = step(record, "probe", "silent"), step(record, "probe", "open")
    assert silent["silent"] and silent["current"] is None and silent["alive"]
    warnings = [m for level, m in record["logs"] if "no audio output" in m]
    assert len(warnings) == 1 and "running silent" in warnings[0]  # logged once over several retries
    assert not opened["silent"] and opened["current"] in ("a.ogg", "b.wav")
    assert not step(record, "stop")["alive"]


#: A stand-in speaker: SDL's disk driver writes into a FIFO that a reader thread drains; closing the
#: reader unplugs it (SDL's write fails, SDL marks the device stopped), a new reader plugs it back.
UNPLUG = r"""
import json, logging, os, sys, threading, time
from pathlib import Path
from edge.music.config import MusicConfig
from edge.music.player import Player
""" + RUNNER.split("from edge.music.player import Player", 1)[1].split("args = json.loads", 1)[0] + r"""
args = json.loads(sys.argv[1])
logs = []
class Collect(logging.Handler):
    def emit(self, record): logs.append([record.levelname, record.getMessage()])
logging.basicConfig(level=logging.INFO, handlers=[Collect(), logging.StreamHandler()])

class Speaker(threading.Thread):
    def __init__(self, out):
        super().__init__(daemon=True)
        self.out, self.bytes, self.unplug = open(out, "wb"), 0, threading.Event()
    def run(self):
        fd = os.open(args["fifo"], os.O_RDONLY)  # blocks until SDL opens the FIFO for writing
        while not self.unplug.is_set():
            data = os.read(fd, 65536)
            if not data:
                break
            self.bytes += len(data)
            self.out.write(data)
        os.close(fd)
        self.out.close()

def wait_for(condition, limit=15.0):
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise SystemExit(f"timed out after {limit} s; logs: {logs}")
        time.sleep(0.01)
    return time.monotonic()

SECOND = 44100 * 4  # bytes of one second of 16-bit stereo at 44.1 kHz
first = Speaker(args["before"])
first.start()
player = Player(MusicConfig(songs=args["songs"], fade_ms=0, transition="cut"), Folders(args["songs"]), retry_s=0.2)
player.start()
player.request("happy")
wait_for(lambda: first.bytes > SECOND // 2)
unplugged = time.monotonic()
first.unplug.set()  # the reader closes the FIFO after its current read
noticed = wait_for(lambda: player.silent)
second = Speaker(args["after"])
replugged = time.monotonic()
second.start()
flowing = wait_for(lambda: second.bytes > 0)
back = wait_for(lambda: not player.silent and player.current() is not None and second.bytes > SECOND)
current = player.current().name
player.stop()
json.dump(dict(logs=logs, noticed_s=noticed - unplugged, flowing_s=flowing - replugged, back_s=back - replugged,
               current=current, alive=player.alive()), open(args["out"], "w"))
"""


def test_an_unplugged_speaker_is_noticed_and_the_music_comes_back(tmp_path: Path, songs: Path) -> None:
    fifo, out = tmp_path / "speaker.fifo", tmp_path / "record.json"
    os.mkfifo(fifo)
    args = dict(songs=str(songs), fifo=str(fifo), out=str(out), before=str(tmp_path / "before.raw"),
                after=str(tmp_path / "after.raw"))
    env = dict(os.environ, SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(fifo), PYTHONPATH=str(ROOT),
               PYGAME_HIDE_SUPPORT_PROMPT="1")
    proc = subprocess.run([sys.executable, "-c", UNPLUG, json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    messages = [m for _, m in record["logs"]]
    assert sum("audio output lost" in m for m in messages) == 1, messages
    assert sum("audio output back" in m for m in messages) == 1, messages
    assert record["current"] in ("a.ogg", "b.wav") and record["alive"]
    print(f"unplug noticed after {record['noticed_s']:.3f} s; audio flowing {record['flowing_s']:.3f} s after "
          f"replug; the song playing again {record['back_s']:.3f} s after replug")
    for raw in ("before.raw", "after.raw"):  # real audio of the happy tone on both sides of the unplug
        rms, happy, sad = analyse(tmp_path / raw, [44100, -16, 2])
        assert rms.max() > 0.1 and (happy > 10 * sad).sum() * 0.02 > 0.4, raw
