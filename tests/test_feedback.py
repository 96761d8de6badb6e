"""Likes are never lost (issue 18, item 1): a feedback file or feature cache that can't be read is moved
aside, never written over; the CLI writes as the state folder's owner or refuses. Real files throughout;
the "no permission" cases run as another user (nobody) in a subprocess, which needs root (as CI runs)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from edge import statefile
from edge.music import features as feats
from edge.music import feedback as fb
from edge.music.analysis import FeatureCache
from edge.music.cli import main as songs_cli
from edge.music.feedback import FeedbackStore, write_access
from tests.music_synth import write_song

ROOT = Path(__file__).resolve().parent.parent
WALL = 1_790_000_000.0  # the injected "now": it names the .bad file
NOBODY = 65534


def wall() -> float:
    return WALL


def good_file(path: Path) -> dict:
    data = {"version": 1, "songs": {
        "/songs/a.ogg": {"like": {"happy": 2}, "last": 1.0},
        "/songs/b.ogg": {"like": {"sad": 1}, "skip": {"happy": 1}},
    }}
    path.write_text(json.dumps(data, indent=1))
    return data


def aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".bad-*"))


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("damage", ["garbage", "version", "not-an-object"])
def test_an_unreadable_feedback_file_is_moved_aside_not_written_over(tmp_path: Path, caplog, damage: str) -> None:
    path = tmp_path / "feedback.json"
    good_file(path)
    text = {"garbage": path.read_text()[:40] + "<<power cut>>" + path.read_text()[60:],
            "version": json.dumps({"version": 7, "songs": {"/songs/a.ogg": {"like": {"happy": 5}}}}),
            "not-an-object": "[1, 2, 3]"}[damage]
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        store = FeedbackStore(path, wall=wall)
        store.record("like", "/songs/c.ogg", "happy")
        store.record("like", "/songs/c.ogg", "happy")
    [bad] = aside(path)
    assert bad.name == "feedback.json.bad-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(WALL))
    assert bad.read_text() == text  # the damaged file is kept as it was
    assert json.loads(path.read_text())["songs"] == {str(Path("/songs/c.ogg")): {"like": {"happy": 2}, "last": WALL}}
    said = [m for m in warnings(caplog) if str(bad) in m]
    assert len(said) == 1 and str(path) in said[0]  # once, with both paths
    if damage == "version":
        assert "unknown version 7" in said[0]


def test_a_file_cut_short_keeps_every_like(tmp_path: Path, caplog) -> None:
    path = tmp_path / "feedback.json"
    data = good_file(path)
    path.write_text(path.read_text().rstrip()[:-1])  # the missing closing brace
    with caplog.at_level(logging.WARNING):
        store = FeedbackStore(path, wall=wall)
    assert store.snapshot()["/songs/a.ogg"]["like"] == {"happy": 2}
    assert json.loads(path.read_text()) == data  # written back whole, at once
    assert len(aside(path)) == 1 and "added" in warnings(caplog)[0]


def test_entries_of_the_wrong_type_are_dropped_and_the_rest_kept(tmp_path: Path, caplog) -> None:
    path = tmp_path / "feedback.json"
    path.write_text(json.dumps({"version": 1, "songs": {
        "/songs/a.ogg": {"like": 3},  # the wrong type
        "/songs/b.ogg": {"like": {"happy": 1}, "skip": {"sad": "many"}},
        "/songs/c.ogg": "liked",
        "/songs/d.ogg": {"like": {"neutral": 4}},
    }}))
    with caplog.at_level(logging.WARNING):
        store = FeedbackStore(path, wall=wall)
    assert store.snapshot() == {"/songs/b.ogg": {"like": {"happy": 1}, "skip": {}},
                                "/songs/d.ogg": {"like": {"neutral": 4}, "skip": {}}}
    assert "3 entries of the wrong type" in warnings(caplog)[0]
    assert json.loads(aside(path)[0].read_text())["songs"]["/songs/a.ogg"] == {"like": 3}


def test_the_cli_never_tracebacks_on_a_damaged_file(tmp_path: Path, capsys) -> None:
    songs, state = tmp_path / "songs", tmp_path / "state"
    song = write_song(songs / "happy" / "a.wav", "bright", seconds=1.0)
    state.mkdir()
    (state / "feedback.json").write_text(json.dumps({"version": 1, "songs": {str(song): {"like": 3}}}))
    common = ["--songs", str(songs), "--state-dir", str(state)]
    assert songs_cli(["recommend", "--mood", "happy", "--json", *common]) == 0  # read-only: left alone
    assert not aside(state / "feedback.json") and json.loads(capsys.readouterr().out)["songs"]
    assert songs_cli(["like", str(song), "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["like"] == {"happy": 1}
    assert json.loads((state / "feedback.json").read_text())["songs"][str(song)]["like"] == {"happy": 1}
    assert len(aside(state / "feedback.json")) == 1


def test_a_folder_in_place_of_the_file_is_moved_aside(tmp_path: Path, caplog) -> None:
    """Unreadable as root too: reading a folder fails with IsADirectoryError whoever you are."""
    path = tmp_path / "feedback.json"
    path.mkdir()
    (path / "inside").write_text("kept")
    with caplog.at_level(logging.WARNING):
        store = FeedbackStore(path, wall=wall)
        store.record("skip", "/songs/a.ogg", "sad")
    [bad] = aside(path)
    assert (bad / "inside").read_text() == "kept" and "IsADirectoryError" in warnings(caplog)[0]
    assert store.problem == "" and FeedbackStore(path).counts("/songs/a.ogg")["skip"] == {"sad": 1}


#: As another user: read a feedback file it may not read; record a like; print what happened.
AS_NOBODY = r"""
import json, logging, os, sys
from pathlib import Path
from edge.music.feedback import FeedbackStore  # imported as root: the Python install may be root-only
logging.basicConfig(level=logging.WARNING)
os.setgid(65534); os.setuid(65534)
store = FeedbackStore(Path(sys.argv[1]))
store.record("like", "/songs/new.ogg", "happy")
print(json.dumps({"problem": store.problem, "songs": sorted(store.snapshot())}))
"""


def _as_nobody(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", AS_NOBODY, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(path.parent)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_a_root_owned_file_the_service_cannot_read_is_set_aside_or_left_alone() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        ours = Path(tmp) / "ours"  # the service's own state folder, a root-owned 0600 file in it
        ours.mkdir()
        os.chown(ours, NOBODY, NOBODY)
        good_file(ours / "feedback.json")
        os.chmod(ours / "feedback.json", 0o600)
        got = _as_nobody(ours / "feedback.json")
        assert got == {"problem": "", "songs": ["/songs/new.ogg"]}
        [bad] = aside(ours / "feedback.json")
        assert json.loads(bad.read_text())["songs"]["/songs/a.ogg"]["like"] == {"happy": 2}
        theirs = Path(tmp) / "theirs"  # a folder it can't write either: nothing is touched
        theirs.mkdir()
        good_file(theirs / "feedback.json")
        os.chmod(theirs / "feedback.json", 0o600)
        before = (theirs / "feedback.json").read_text()
        got = _as_nobody(theirs / "feedback.json")
        assert "not written over" in got["problem"] and (theirs / "feedback.json").read_text() == before


def test_a_read_only_store_leaves_a_damaged_file_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "feedback.json"
    path.write_text("{oops")
    store = FeedbackStore(path, read_only=True)
    store.record("like", "/songs/a.ogg")
    assert path.read_text() == "{oops" and not aside(path)


def test_writes_are_atomic_and_the_folder_is_fsynced(tmp_path: Path, monkeypatch) -> None:
    synced: list[bool] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(statefile.os, "fsync", fsync)
    FeedbackStore(tmp_path / "feedback.json").record("like", "/songs/a.ogg")
    assert synced == [False, True]  # the file's data, then the folder's rename
    assert oct((tmp_path / "feedback.json").stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["feedback.json"]


# -- the feature cache follows the same rule ------------------------------------------------------------


def test_a_damaged_feature_cache_is_moved_aside_and_an_old_one_replaced(tmp_path: Path, caplog) -> None:
    song = write_song(tmp_path / "a.wav", "calm", seconds=1.0)
    path = tmp_path / "cache.json"
    path.write_text('{"version": 1, "songs": {')
    with caplog.at_level(logging.WARNING):
        cache = FeatureCache(path)
    assert len(aside(path)) == 1 and not path.exists()
    cache.put(song, {"features": feats.analyse(song).to_dict()})
    assert cache.save() and str(song) in json.loads(path.read_text())["songs"]
    path.write_text(json.dumps({"version": feats.VERSION + 1, "songs": {}}))  # a newer moodplayer's
    assert FeatureCache(path).get(song) is None and len(aside(path)) == 2
    path.write_text(json.dumps({"version": 0, "songs": {"x": {}}}))  # an older analysis: replaced
    old = FeatureCache(path)
    old.put(song, {"error": "x"})
    assert old.save() and len(aside(path)) == 2 and json.loads(path.read_text())["version"] == feats.VERSION


# -- who writes the state folder ------------------------------------------------------------------------


class _Stat:
    def __init__(self, uid: int, gid: int):
        self.st_uid, self.st_gid = uid, gid


def test_write_access_decides_by_the_folders_owner(tmp_path: Path) -> None:
    owner = lambda path: _Stat(999, 998)  # noqa: E731 (the service user, moodplayer)
    names = {999: "moodplayer"}.get
    cmd = "python -m edge songs like x.ogg"
    assert write_access(tmp_path, 999, cmd, stat=owner) == fb.Access("self")
    assert write_access(tmp_path, 0, cmd, stat=owner) == fb.Access("owner", 999, 998)
    refused = write_access(tmp_path, 1000, cmd, stat=owner, user_name=names)
    assert refused.how == "refuse"
    assert "sudo -u moodplayer python -m edge songs like x.ogg" in refused.message
    assert write_access(tmp_path / "not-yet", 1000, cmd) == fb.Access("self")  # whoever runs first makes it


def song_and_state(tmp: str) -> tuple[Path, Path, Path]:
    """In a folder other users may enter (a tmp_path is not): a songs folder with one happy song, and an
    empty state folder. Returns (songs, state, the song)."""
    os.chmod(tmp, 0o755)
    songs, state = Path(tmp) / "songs", Path(tmp) / "state"
    song = write_song(songs / "happy" / "a.wav", "bright", seconds=1.0)
    state.mkdir()
    return songs, state, song


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as the folder's owner needs root")
def test_a_like_as_root_is_written_as_the_state_folders_owner() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        songs, state, song = song_and_state(tmp)
        os.chown(state, NOBODY, NOBODY)
        proc = subprocess.run([sys.executable, "-m", "edge", "songs", "like", str(song), "--songs", str(songs),
                               "--state-dir", str(state)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert proc.returncode == 0, proc.stderr
        st = (state / "feedback.json").stat()
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
        assert json.loads((state / "feedback.json").read_text())["songs"][str(song)]["like"] == {"happy": 1}


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user needs root to switch to it")
def test_a_like_from_another_user_is_refused_with_the_command_to_use() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        songs, state, song = song_and_state(tmp)  # the state folder owned by root, as if by the service's user
        # Imported as root first: this machine's Python install may be readable by root only.
        script = ("import os, sys, locale, pwd, shlex, tomllib\nfrom edge.music.cli import main\n"
                  "import edge.config, edge.music.recommend\n"
                  "os.setgid(65534); os.setuid(65534)\nsys.exit(main(sys.argv[1:]))")
        proc = subprocess.run([sys.executable, "-c", script, "like", str(song), "--songs", str(songs),
                               "--state-dir", str(state)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(ROOT), HOME=tmp))
        assert proc.returncode == 2, proc.stderr
        assert f"sudo -u root python -m edge songs like {song} --songs {songs} --state-dir {state}" in proc.stderr
        assert "Traceback" not in proc.stderr and not (state / "feedback.json").exists()
