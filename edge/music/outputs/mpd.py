"""The ``mpd`` output: a Music Player Daemon (moOde, Volumio, a plain ``mpd``) plays the songs.

Connects with python-mpd2 over MPD's Unix socket (``music.mpd_host`` = its path) or TCP
(``mpd_host`` "" = localhost, ``mpd_port``). A song is sent as its path relative to MPD's
``music_directory``: ``music.mpd_music_dir`` when set, else what MPD's ``config`` command says (Unix
socket only), else ``music.songs``; so the recommender, likes and features work on the same files.
A song the server knows only by its URI (``edge.music.playlists.Uri``: a mood playlist's Spotify track,
stream or remote file) is queued as that URI.
Each song replaces MPD's queue (``clear``, ``addid``, ``playid``). Switching is a cut: MPD's own
crossfade applies only between queued songs, and stepping the volume from here would fight a
listener's volume knob. ``busy``/``position`` read ``status`` (state, songid, elapsed); any lost
connection raises ``OutputError``, so the player reconnects with its backoff. What MPD says is playing
(``currentsong``'s title and artist) goes to ``on_tags`` after each ``play`` and every ``TAGS_EVERY_S``
while it plays (a radio stream's title changes as it goes; every ``TAGS_SOON_S`` while it says nothing).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

try:
    import mpd
except ImportError:  # pragma: no cover - the extra is not installed
    mpd = None

from edge.music.config import MusicConfig
from edge.music.outputs.base import OnTags, OutputError, SongError
from edge.music.playlists import Uri

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0  # one MPD command
UPDATE_WAIT_S = 3.0  # a song MPD's database doesn't know yet: how long its update may take
TAGS_EVERY_S = 5.0  # how often currentsong is read again while a song plays
TAGS_SOON_S = 0.5  # ... while it says nothing yet (Mopidy fills it in once playback has started)


class MpdOutput:
    name = "mpd"

    def __init__(self, config: MusicConfig, on_tags: OnTags | None = None) -> None:
        if mpd is None:
            raise OutputError("music.output = \"mpd\" needs python-mpd2: pip install 'moodplayer[mpd]'")
        self.host = config.mpd_host or "localhost"
        self.port = config.mpd_port
        self.music_dir = config.mpd_music_dir
        self.songs = config.songs
        self.volume = config.volume
        self.root: Path | None = None
        self._client: mpd.MPDClient | None = None
        self._id: str | None = None
        self._status: dict | None = None  # MPD's status, read once a tick (by alive) and after each change
        self._warned: set[str] = set()
        self._on_tags = on_tags
        self._song: Path | Uri | None = None  # what play was given last
        self._tags: tuple[str | None, str | None] | None = None
        self._tags_at = 0.0

    @property
    def where(self) -> str:
        return self.host if self.host.startswith("/") else f"{self.host}:{self.port}"

    def open(self) -> None:
        client = mpd.MPDClient()
        client.timeout = TIMEOUT_S
        try:
            client.connect(self.host, self.port)
        except (OSError, mpd.ConnectionError) as e:
            raise OutputError(f"can't reach MPD at {self.where}: {e}; is mpd running (systemctl status mpd)?") from None
        self._client = client
        self.root = self._music_root()
        log.info("audio output open: MPD %s at %s, music directory %s", client.mpd_version, self.where, self.root)

    def _music_root(self) -> Path:
        if self.music_dir:
            return Path(self.music_dir).resolve()
        if self.host.startswith("/"):
            try:
                answer = self._call("config")  # python-mpd2 gives the music_directory itself
            except mpd.CommandError:
                answer = None
            if isinstance(answer, dict):
                answer = answer.get("music_directory")
            if answer:
                return Path(answer).resolve()
        return Path(self.songs).resolve()

    def uri(self, path: Path | Uri) -> str:
        """``path`` relative to MPD's music directory (SongError when it is outside); a ``Uri`` as it is."""
        if isinstance(path, Uri):
            return str(path)
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            raise SongError(f"{path} is outside MPD's music directory {self.root}: keep the songs there, "
                            "or set music.mpd_music_dir to where MPD's music_directory is") from None

    def play(self, path: Path | Uri, fade_in_ms: int = 0) -> None:
        uri = self.uri(path)
        self._call("clear")
        try:
            song_id = self._call("addid", uri) if isinstance(path, Uri) else self._add(uri)
        except mpd.CommandError as e:
            raise SongError(f"MPD can't play {uri}: {e}") from None
        self._call("playid", song_id)
        self._id, self._song, self._tags = str(song_id), path, None  # a new song is told its tags, even equal ones
        self._read_tags()

    def _add(self, uri: str) -> str:
        try:
            return self._call("addid", uri)
        except mpd.CommandError:  # not in MPD's database yet: have it look, then try once more
            self._call("update", uri)
            end = time.monotonic() + UPDATE_WAIT_S
            while "updating_db" in self._call("status") and time.monotonic() < end:
                time.sleep(0.05)
            return self._call("addid", uri)

    def fade_out(self, ms: int) -> None:
        self.stop()

    def stop(self) -> None:
        self._call("stop")
        self._id = None

    def set_volume(self, volume: float) -> None:
        self.volume = volume
        try:
            self._call("setvol", round(volume * 100))
        except mpd.CommandError as e:  # an output without a mixer: the listener's volume rules
            if "volume" not in self._warned:
                self._warned.add("volume")
                log.warning("MPD at %s can't set the volume (%s): set a mixer_type in mpd.conf", self.where, e)

    def pause(self) -> None:
        self._call("pause", 1)

    def resume(self) -> None:
        self._call("pause", 0)

    def busy(self) -> bool:
        status = self._state()
        return status.get("state") == "play" and status.get("songid") == self._id

    def position(self) -> float | None:
        elapsed = self._state().get("elapsed")
        return float(elapsed) if elapsed is not None else None

    def alive(self) -> bool:
        """Reads MPD's status (the player calls this first on every tick; busy/position reuse it)."""
        try:
            self._status = self._call("status")
            every = TAGS_EVERY_S if self._tags and any(self._tags) else TAGS_SOON_S
            if self._id is not None and time.monotonic() - self._tags_at >= every:
                self._read_tags()
        except OutputError:
            return False
        return True

    def _read_tags(self) -> None:
        """Tell ``on_tags`` the title and artist MPD reports for what it plays, when they changed."""
        if self._on_tags is None:
            return
        self._tags_at, status = time.monotonic(), self._status
        now = self._call("currentsong") or {}
        self._status = status  # currentsong changes nothing status says
        tags = (_tag(now.get("title")) or _tag(now.get("name")), _tag(now.get("artist")))
        if tags != self._tags:
            self._tags = tags
            self._on_tags(self._song, *tags)

    def _state(self) -> dict:
        if self._status is None:
            self._status = self._call("status")
        return self._status

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.stop()
            client.close()
        except (OSError, mpd.ConnectionError, mpd.CommandError):
            pass
        try:
            client.disconnect()
        except (OSError, mpd.ConnectionError):
            pass

    def _call(self, command: str, *args: object):
        if command != "status":
            self._status = None  # it may change what status says
        if self._client is None:
            raise OutputError(f"not connected to MPD at {self.where}")
        try:
            return getattr(self._client, command)(*args)
        except (OSError, mpd.ConnectionError) as e:
            raise OutputError(f"MPD at {self.where}: {e or type(e).__name__}") from None


def _tag(value: object) -> str | None:
    """One tag's text (MPD repeats a tag given twice: joined), or None."""
    if isinstance(value, list):
        value = " / ".join(str(v) for v in value)
    return str(value) if value else None
