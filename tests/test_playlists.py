"""Mood playlists on real music servers: Debian's ``mpd`` and ``mopidy`` + ``mopidy-mpd``, each started once
for the module on a loopback port with its own config and stored playlists (``tests/music_servers.py``),
and once more for the restart test. The songs folder is empty: every song comes from the server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from edge import bundle as bundles
from edge import config as configs
from edge.classify import DEFAULT_MODEL
from edge.control.glue import PlayerControls
from edge.loop import Pipeline
from edge.music import playlists
from edge.music.config import MusicConfig
from edge.music.library import Library
from edge.music.player import Player
from edge.music.playlists import PlaylistWatcher, Uri, mood_of
from edge.music.recommend import Recommender
from edge.types import Frame
from tests.music_servers import Server, available
from tests.rig import OneFace, Reading, wait_for

mpd = pytest.importorskip("mpd", reason="python-mpd2 is not installed (pip install 'moodplayer[mpd]')")

KINDS = [pytest.param(kind, marks=pytest.mark.skipif(not available(kind), reason=f"{kind} is not installed "
                                                     f"(apt install mpd mopidy mopidy-mpd)"))
         for kind in ("mpd", "mopidy")]


@pytest.fixture(scope="module", params=KINDS)
def server(request, tmp_path_factory):
    srv = Server(request.param, tmp_path_factory.mktemp(request.param)).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()


def music(server: Server, tmp_path: Path, **overrides) -> MusicConfig:
    """The mpd output on ``server`` with an empty songs folder."""
    (tmp_path / "songs").mkdir(exist_ok=True)
    return MusicConfig(**{"output": "mpd", "mpd_host": "127.0.0.1", "mpd_port": server.port,
                          "songs": str(tmp_path / "songs"), "features": False, "state_dir": str(tmp_path / "state"),
                          "transition": "cut", **overrides})


def ranked(rec: Recommender, mood: str) -> list[str]:
    return [str(r.path) for r in rec.rank(mood)]


def started(rec: Recommender, stop: threading.Event, mood: str = "happy") -> Recommender:
    rec.start(stop)
    wait_for(lambda: rec.rank(mood), what=f"the {mood} playlist read")
    return rec


def test_playlist_names_are_moods_after_the_prefix() -> None:
    assert mood_of("Happy") == "happy" and mood_of("party") is None and mood_of("mood: happy") is None
    assert mood_of("Mood: SAD ", "mood: ") == "sad" and mood_of("sad", "mood: ") is None
    uri = Uri("spotify:track:4uLU6hMCjMI75M1A2tKUQC", "Never", "Rick")
    assert uri == "spotify:track:4uLU6hMCjMI75M1A2tKUQC" and uri.name == "Never" and uri != Path(uri)
    for bad in ("x" * 101, "mood:\nhappy"):
        with pytest.raises(ValueError, match="music.playlist_prefix"):
            MusicConfig(playlist_prefix=bad)


def test_a_happy_face_queues_a_song_from_the_happy_playlist(server: Server, tmp_path: Path, stop) -> None:
    server.playlists({"happy": ["happy/a.ogg", "happy/b.ogg"], "sad": ["sad/c.ogg"], "party": ["sad/d.ogg"]})
    events = tmp_path / "events.jsonl"
    cfg = configs.load(None, {"output.events": str(events), **{f"music.{k}": v for k, v in vars(
        music(server, tmp_path)).items()}})
    rec = Recommender.from_config(cfg.music, seed=0)
    pipe = Pipeline(cfg, bundle=bundles.load(DEFAULT_MODEL), finder=OneFace(), classifier=Reading(lambda t: "happy"), recommender=rec)
    pipe.start(stop)
    try:
        wait_for(lambda: rec.rank("happy"), what="the happy playlist read")
        assert set(ranked(rec, "happy")) == {server.uri("happy/a.ogg"), server.uri("happy/b.ogg")}
        assert ranked(rec, "sad") == [server.uri("sad/c.ogg")]  # "party" is no mood: not taken
        image = np.zeros((480, 640, 3), np.uint8)
        for i in range(40):  # 4 s of frame time: the mood settles on happy after its hold
            pipe.step(Frame(image, i / 10, i), stop)
        assert pipe.stats.songs == 1
        now = wait_for(server.playing, what="the server playing")
        # The page and MQTT get what the server says plays (its currentsong), through the control glue.
        shown = wait_for(lambda: (st := PlayerControls(pipe.player, rec).status())["title"] and st, what="a title")
        assert (shown["title"], shown["artist"], str(shown["song"])) == (now["title"], now["artist"], now["file"])
        heard = wait_for(lambda: (st := pipe.player.status()).title and st, what="the output's currentsong")
        assert (heard.title, heard.artist) == (now["title"], now["artist"])  # read by the MPD output itself
    finally:
        pipe.close()
    [song] = [e for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "song"]
    assert song["mood"] == "happy" and song["path"] == now["file"]
    assert song["path"] in (server.uri("happy/a.ogg"), server.uri("happy/b.ogg"))
    # The song event carries the server's title and artist: the very tags currentsong reports.
    assert (song["title"], song["artist"]) == (now["title"], now["artist"])
    assert song["title"].startswith("Sunny") and song["artist"] == "The Testers"


def test_a_prefix_picks_its_playlists_only(server: Server, tmp_path: Path, stop) -> None:
    server.playlists({"mood: happy": ["happy/b.ogg"], "happy": ["happy/a.ogg"], "Mood: SAD": ["sad/c.ogg"]})
    prefixed = started(Recommender.from_config(music(server, tmp_path, playlist_prefix="mood: ")), stop)
    bare = started(Recommender.from_config(music(server, tmp_path)), stop)
    try:
        assert ranked(prefixed, "happy") == [server.uri("happy/b.ogg")]
        assert ranked(prefixed, "sad") == [server.uri("sad/c.ogg")]
        assert ranked(bare, "happy") == [server.uri("happy/a.ogg")]
        assert ranked(bare, "sad") == []  # "Mood: SAD" is not a mood's name without the prefix
    finally:
        prefixed.stop()
        bare.stop()


def test_a_playlist_edited_while_running_is_read_again(server: Server, tmp_path: Path, stop) -> None:
    server.playlists({"happy": ["happy/a.ogg"]})
    (tmp_path / "songs").mkdir()
    # No periodic re-read within the test: only the server's "stored_playlist changed" can bring news.
    watcher = PlaylistWatcher("127.0.0.1", server.port, reread_s=3600.0)
    rec = started(Recommender(Library.scan(tmp_path / "songs", elsewhere="the server's playlists"),
                              playlists=watcher, features=False), stop)
    try:
        assert ranked(rec, "happy") == [server.uri("happy/a.ogg")]
        server.add("happy", "happy/b.ogg")
        wait_for(lambda: len(rec.rank("happy")) == 2, what="the added song")
        server.playlists({"happy": ["happy/b.ogg"], "sad": ["happy/a.ogg"]})  # moved to another mood
        wait_for(lambda: ranked(rec, "sad") == [server.uri("happy/a.ogg")] and len(rec.rank("happy")) == 1,
                 what="the edit")
        assert ranked(rec, "happy") == [server.uri("happy/b.ogg")]
        pick = rec.next("happy")
        assert isinstance(pick, Uri) and pick == server.uri("happy/b.ogg")
    finally:
        rec.stop()


def test_a_song_skipped_by_uri_is_not_offered_first_again(server: Server, tmp_path: Path, stop) -> None:
    server.playlists({"happy": ["happy/a.ogg", "happy/b.ogg"]})
    cfg = music(server, tmp_path)
    rec = started(Recommender.from_config(cfg, seed=1), stop)
    player = Player(cfg, rec, on_feedback=rec.feedback, retry_s=0.2)
    player.start()
    try:
        played = player.request("happy")
        wait_for(lambda: (server.playing() or {}).get("file") == played, what=f"{played} playing")
        player.skip()
        wait_for(lambda: (server.playing() or {}).get("file") not in (None, played),
                 what="the other song after the skip")
    finally:
        player.stop()
        rec.stop()
    saved = json.loads((tmp_path / "state" / "feedback.json").read_text())["songs"]
    assert saved[str(played)]["skip"] == {"happy": 1}  # kept under the URI itself
    again = started(Recommender.from_config(cfg, seed=1), stop)  # a restart: the skip is remembered
    try:
        assert ranked(again, "happy")[0] != played and again.next("happy") != played
        assert again.rank("happy")[-1].feedback < 0
    finally:
        again.stop()


def test_a_server_stopped_and_started_again(server: Server, tmp_path: Path, stop) -> None:
    other = Server(server.kind, tmp_path / "server")
    other.start()
    try:
        other.playlists({"happy": ["happy/a.ogg"], "sad": ["sad/c.ogg"]})
        cfg = music(other, tmp_path)
        rec = started(Recommender.from_config(cfg), stop)
        player = Player(cfg, rec, retry_s=0.2)
        player.start()
        try:
            assert player.request("happy") == other.uri("happy/a.ogg")
            wait_for(lambda: (other.playing() or {}).get("file") == other.uri("happy/a.ogg"), what="happy playing")
            other.stop()
            wait_for(lambda: player.silent, what="the player noticing")
            # Meanwhile the camera loop goes on: picks come from the playlists read before, at once.
            assert player.request("sad") == other.uri("sad/c.ogg")
            assert rec.next("happy") == other.uri("happy/a.ogg")
            other.start()
            wait_for(lambda: (other.playing() or {}).get("file") == other.uri("sad/c.ogg"), 30, "sad playing again")
            other.add("sad", "sad/d.ogg")  # read again: the watcher is back in idle on the new server
            wait_for(lambda: len(rec.rank("sad")) == 2, 30, "the playlist edit after the restart")
        finally:
            player.stop()
            rec.stop()
    finally:
        other.stop()


def test_a_playlist_file_this_machine_holds_is_analysed_as_today(server: Server, tmp_path: Path, stop) -> None:
    if server.kind != "mpd":
        pytest.skip("Mopidy names files by file:// URI: they play by the playlist's mood (see docs/music.md)")
    server.playlists({"happy": ["happy/a.ogg"]})
    rec = started(Recommender.from_config(music(server, tmp_path, mpd_music_dir=str(server.music), features=True)),
                  stop)
    try:
        [song] = rec.rank("happy")
        assert song.path == server.music / "happy" / "a.ogg" and isinstance(song.path, Path)
        wait_for(lambda: rec.analysis.state(song.path).features is not None, 30, "its features")
    finally:
        rec.stop()


def test_a_huge_playlist_is_cut_with_a_warning(server: Server, monkeypatch, caplog) -> None:
    server.playlists({"happy": ["happy/a.ogg", "happy/b.ogg", "sad/c.ogg", "sad/d.ogg"]})
    monkeypatch.setattr(playlists, "MAX_PLAYLIST_SONGS", 3)
    client = server.client()
    try:
        songs = playlists.read(client, "", None)
    finally:
        client.disconnect()
    assert [str(s.path) for s in songs] == [server.uri(r) for r in ("happy/a.ogg", "happy/b.ogg", "sad/c.ogg")]
    assert any("has 4 songs: taking the first 3" in r.getMessage() for r in caplog.records)
