"""Real music servers for the mood playlist tests: Debian's ``mpd`` and ``mopidy`` (with ``mopidy-mpd``),
each started on a free loopback port with its own config in a temp folder (no audio device: MPD's
``null`` output, Mopidy's ``fakesink``), a small tagged music folder, and stored playlists made through
the MPD protocol as a listener's client would. Stopped by ``stop``; bounded waits only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mutagen

from tests.music_synth import write_song
from tests.rig import free_port, terminate, wait_for

MPD_BIN, MOPIDY_BIN = Path("/usr/bin/mpd"), Path("/usr/bin/mopidy")

#: The music folder: relative path -> (kind of sound, title, artist).
SONGS = {
    "happy/a.ogg": ("bright", "Sunny A", "The Testers"),
    "happy/b.ogg": ("bright", "Sunny B", "The Testers"),
    "sad/c.ogg": ("gloomy", "Rain C", "Grey Skies"),
    "sad/d.ogg": ("gloomy", "Rain D", "Grey Skies"),
}


def write_music(music: Path, seconds: float = 6.0) -> None:
    """``SONGS`` under ``music``, tagged with their title and artist (Vorbis comments, via mutagen)."""
    for i, (rel, (kind, title, artist)) in enumerate(SONGS.items()):
        path = write_song(music / rel, kind, seconds=seconds, seed=i)
        tags = mutagen.File(str(path), easy=True)
        tags["title"], tags["artist"] = title, artist
        tags.save()


class Server:
    """One music server (``kind`` "mpd" or "mopidy") in ``root``: ``start``, ``stop`` (again and again,
    on the same port and folders), ``client`` (a python-mpd2 connection), ``uri`` (how this server names a
    file of the music folder), ``playlists({name: [files]})`` (replaces every stored playlist)."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind, self.root, self.port = kind, root, free_port()
        self.music, self.lists = root / "music", root / "playlists"
        self.proc: subprocess.Popen | None = None
        if not self.music.exists():
            write_music(self.music)
        self.lists.mkdir(exist_ok=True)

    def uri(self, rel: str) -> str:
        return rel if self.kind == "mpd" else (self.music / rel).as_uri()

    def start(self) -> Server:
        conf = self.root / f"{self.kind}.conf"
        if self.kind == "mpd":
            conf.write_text(f'''music_directory "{self.music}"
playlist_directory "{self.lists}"
db_file "{self.root}/mpd.db"
log_file "{self.root}/mpd.log"
bind_to_address "127.0.0.1"
port "{self.port}"
auto_update "no"
audio_output {{
    type "null"
    name "null"
    mixer_type "software"
}}
''')
            cmd = [str(MPD_BIN), "--no-daemon", "--stderr", str(conf)]
        else:
            conf.write_text(f"""[core]
cache_dir = {self.root}/cache
config_dir = {self.root}/config
data_dir = {self.root}/data
[logging]
verbosity = 0
[audio]
output = fakesink sync=true
[file]
enabled = true
media_dirs = {self.music}
[m3u]
enabled = true
playlists_dir = {self.lists}
base_dir = {self.music}
[mpd]
enabled = true
hostname = 127.0.0.1
port = {self.port}
[http]
enabled = false
[stream]
enabled = false
""")
            cmd = [str(MOPIDY_BIN), "--config", str(conf)]
        log = open(self.root / f"{self.kind}.out", "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        try:
            client = wait_for(self._connect, 30, f"{self.kind} serving on port {self.port}")
            if self.kind == "mpd":
                wait_for(lambda: int(client.stats()["songs"]) == len(SONGS), what="mpd's database scan")
            client.disconnect()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate(proc)

    def client(self):
        import mpd

        client = mpd.MPDClient()
        client.timeout = 10
        client.connect("127.0.0.1", self.port)
        return client

    def _connect(self):
        import mpd

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.kind} exited: {(self.root / f'{self.kind}.out').read_text()[-2000:]}")
        try:
            return self.client()
        except (OSError, mpd.ConnectionError):
            return None

    def playlists(self, lists: dict[str, list[str]]) -> None:
        """Make the stored playlists exactly ``lists`` (name -> files of the music folder, in order)."""
        client = self.client()
        try:
            for entry in client.listplaylists():
                client.rm(entry["playlist"])
            for name, rels in lists.items():
                for rel in rels:
                    client.playlistadd(name, self.uri(rel))
        finally:
            client.disconnect()

    def add(self, name: str, rel: str) -> None:
        """Add one file to a playlist while everything runs (as a listener's MPD client would)."""
        client = self.client()
        try:
            client.playlistadd(name, self.uri(rel))
        finally:
            client.disconnect()

    def playing(self) -> dict | None:
        """MPD's ``currentsong`` while it plays, else None."""
        client = self.client()
        try:
            return client.currentsong() if client.status().get("state") == "play" else None
        finally:
            client.disconnect()


def available(kind: str) -> bool:
    return (MPD_BIN if kind == "mpd" else MOPIDY_BIN).exists()
