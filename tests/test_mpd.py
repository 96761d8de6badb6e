"""The MPD output against a real ``mpd`` (Debian's package): the test writes its own mpd.conf (a temp
music folder, a null audio output, a Unix socket and a loopback port), starts it, plays moods through
the player and reads back what MPD plays. Skipped where /usr/bin/mpd or python-mpd2 is missing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from edge.music.config import MusicConfig
from edge.music.player import Player
from tests.music_synth import write_song
from tests.rig import free_port, wait_for

MPD_BIN = Path("/usr/bin/mpd")
mpd = pytest.importorskip("mpd", reason="python-mpd2 is not installed (pip install 'moodplayer[mpd]')")
pytestmark = pytest.mark.skipif(not MPD_BIN.exists(), reason="no mpd at /usr/bin/mpd (apt install mpd)")

SONGS = {"happy": ["a.ogg", "b.ogg"], "sad": ["c.ogg", "d.ogg"]}


class Folders:
    """Each mood folder's songs in name order, in turn."""

    def __init__(self, root: Path) -> None:
        self.songs = {m: [root / m / n for n in names] for m, names in SONGS.items()}
        self.turn: dict[str, int] = {}

    def next(self, mood: str, point=None) -> Path | None:
        songs = self.songs.get(mood, [])
        self.turn[mood] = self.turn.get(mood, -1) + 1
        return songs[self.turn[mood] % len(songs)] if songs else None

    def discard(self, path: Path) -> None:
        pass



def start_mpd(root: Path, port: int) -> subprocess.Popen:
    """mpd on ``root``/music (made once), a socket ``root``/mpd.sock and ``port``; returns once it is
    serving and has scanned the songs."""
    music, sock = root / "music", root / "mpd.sock"
    if not music.exists():
        for mood, names in SONGS.items():
            for i, name in enumerate(names):
                write_song(music / mood / name, "bright" if mood == "happy" else "gloomy", seconds=4.0, seed=i)
    conf = root / "mpd.conf"
    conf.write_text(f'''music_directory "{music}"
db_file "{root}/mpd.db"
log_file "{root}/mpd.log"
bind_to_address "{sock}"
bind_to_address "127.0.0.1"
port "{port}"
auto_update "no"
audio_output {{
    type "null"
    name "null"
    mixer_type "software"
}}
''')
    proc = subprocess.Popen([str(MPD_BIN), "--no-daemon", "--stderr", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        client = mpd.MPDClient()
        client.timeout = 5
        wait_for(lambda: _connects(client, str(sock)), what="mpd's socket")
        wait_for(lambda: int(client.stats()["songs"]) == 4, what="mpd's database scan")
        client.disconnect()
    except BaseException:
        stop_mpd(proc)
        raise
    return proc


def stop_mpd(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running mpd: (music folder, socket path, port); stopped afterwards."""
    root, port = tmp_path_factory.mktemp("mpd"), free_port()
    proc = start_mpd(root, port)
    try:
        yield root / "music", root / "mpd.sock", port
    finally:
        stop_mpd(proc)


def _connects(client, where: str) -> bool:
    try:
        client.connect(where)
    except (OSError, mpd.ConnectionError):
        return False
    return True


def _watch(where: str, port: int = 6600):
    client = mpd.MPDClient()
    client.timeout = 5
    client.connect(where, port)
    return client


def _playing(client) -> str | None:
    status = client.status()
    return client.currentsong().get("file") if status.get("state") == "play" else None


@pytest.mark.parametrize("via", ["socket", "tcp"])
def test_a_mood_change_queues_and_plays_the_right_file_on_mpd(server, via: str) -> None:
    music, sock, port = server
    if via == "socket":  # MPD tells where its music is (the config command, socket only)
        config = MusicConfig(output="mpd", mpd_host=str(sock), songs="/nonexistent", fade_ms=500)
    else:  # over TCP the music folder is music.songs (or mpd_music_dir)
        config = MusicConfig(output="mpd", mpd_host="127.0.0.1", mpd_port=port, songs=str(music), fade_ms=500)
    songs: list[tuple[str, str]] = []
    watch = _watch(str(sock))
    player = Player(config, Folders(music), on_song=lambda mood, path: songs.append((mood, path.name)), retry_s=0.2)
    player.start()
    try:
        assert player.request("happy") == music / "happy" / "a.ogg"
        assert wait_for(lambda: _playing(watch) == "happy/a.ogg", what="happy/a.ogg playing")
        assert not player.silent and player.current() == music / "happy" / "a.ogg"
        player.set_volume(0.5)
        assert wait_for(lambda: watch.status()["volume"] == "50", what="volume 50")
        assert player.request("sad") == music / "sad" / "c.ogg"
        assert wait_for(lambda: _playing(watch) == "sad/c.ogg", what="sad/c.ogg playing")
        assert len(watch.playlistinfo()) == 1  # each song replaces the queue
        assert wait_for(lambda: _playing(watch) == "sad/d.ogg", what="the next sad song after c.ogg ends")
        player.pause()
        assert wait_for(lambda: watch.status()["state"] == "pause", what="paused")
        player.resume()
        assert wait_for(lambda: watch.status()["state"] == "play", what="playing again")
    finally:
        player.stop()
    assert watch.status()["state"] == "stop"  # stopping the player stops MPD's playback
    assert songs == [("happy", "a.ogg"), ("sad", "c.ogg"), ("sad", "d.ogg")]
    watch.disconnect()


def test_no_mpd_means_silent_and_retrying(tmp_path, caplog) -> None:
    config = MusicConfig(output="mpd", mpd_host=str(tmp_path / "no.sock"), songs=str(tmp_path))
    player = Player(config, Folders(tmp_path), retry_s=0.2)
    player.request("happy")
    player.step(0.0)
    assert player.silent
    assert any("can't reach MPD" in r.getMessage() and "no.sock" in r.getMessage() for r in caplog.records)


def test_a_song_outside_mpds_music_directory_is_discarded_with_what_to_do(server, tmp_path, caplog) -> None:
    music, sock, _ = server
    outside = write_song(tmp_path / "elsewhere" / "x.ogg", "bright", seconds=1.0)

    class One(Folders):
        def next(self, mood, point=None):
            return None if self.discarded else outside

        def discard(self, path):
            self.discarded = True

    picker = One(music)
    picker.discarded = False
    player = Player(MusicConfig(output="mpd", mpd_host=str(sock), songs=str(music)), picker)
    player.request("happy")
    player.step(0.0)
    player.stop()
    assert picker.discarded
    assert any("outside MPD's music directory" in r.getMessage() for r in caplog.records)


def test_a_restarted_mpd_is_reconnected_and_the_song_resumes(tmp_path, caplog) -> None:
    port = free_port()
    proc = start_mpd(tmp_path, port)
    sock, music = tmp_path / "mpd.sock", tmp_path / "music"
    player = Player(MusicConfig(output="mpd", mpd_host=str(sock)), Folders(music), retry_s=0.2)
    player.start()
    try:
        player.request("sad")
        watch = _watch(str(sock))
        wait_for(lambda: _playing(watch) == "sad/c.ogg", what="sad/c.ogg playing")
        watch.disconnect()
        stop_mpd(proc)  # MPD restarts (an upgrade, a crash)
        wait_for(lambda: player.silent, what="the player noticing")
        proc = start_mpd(tmp_path, port)
        serving = time.monotonic()
        watch = _watch(str(sock))
        wait_for(lambda: _playing(watch) == "sad/c.ogg", what="sad/c.ogg playing again")  # (no state_file)
        print(f"playing again {time.monotonic() - serving:.2f} s after mpd served again")
        assert not player.silent
        watch.disconnect()
    finally:
        player.stop()
        stop_mpd(proc)
    messages = [r.getMessage() for r in caplog.records]
    assert any("audio output lost" in m for m in messages) and any("audio output back" in m for m in messages)
