"""Mood playlists on the music server: a stored playlist named after a mood supplies songs for it.

With ``music.output = "mpd"`` and ``music.playlists`` on, every stored playlist of the MPD or Mopidy
server whose name is a mood (case-insensitive, after ``music.playlist_prefix``: ``"mood: "`` takes
"mood: happy" and leaves "happy" alone) labels its songs with that mood. They join the songs folder
in one library (``Analyser.take_playlists``) and are ranked like every other song:

- an entry that is a file of MPD's music directory that this machine can read (a relative URI such
  as ``happy/a.ogg`` under ``music.mpd_music_dir``, MPD's own ``music_directory`` over its socket, or
  ``music.songs``) becomes that file's ``Path``: analysed, cached and played as today;
- any other entry (``spotify:track:...``, ``yt:...``, ``jellyfin:...``, ``file:///...`` on Mopidy, a
  radio stream, a file only the server holds) is a ``Uri``: its mood comes from the playlist, it has
  no audio features, its likes and skips are kept under the URI, and the MPD output queues the URI
  itself. It carries the server's ``title`` and ``artist`` tags (those ``currentsong`` reports).

``PlaylistWatcher`` reads the playlists on its own thread with its own connection: once connected,
again whenever the server says they changed (MPD's ``idle stored_playlist``, which Mopidy also sends
when a playlist is saved through it), and every ``REREAD_S`` in any case (Mopidy does not watch its
m3u folder). A server that is away is retried with a backoff from ``RETRY_S`` to ``MAX_RETRY_S``;
meanwhile the songs last read stay known, and nothing of this touches the camera loop.
"""

from __future__ import annotations

import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from edge.music.library import Song
from edge.types import EMOTIONS

log = logging.getLogger(__name__)

REREAD_S = 60.0  # the playlists are read again this often even when the server announces nothing
RETRY_S, MAX_RETRY_S = 1.0, 30.0  # a server that is away: tried again after these
TIMEOUT_S = 5.0  # one MPD command
POLL_S = 0.25  # how often the waiting thread looks at its stop flag
MAX_PLAYLIST_SONGS = 10_000  # songs taken from one playlist; the rest are left out with a warning
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class Uri(str):
    """A song the music server knows by its URI; ``title`` and ``artist`` are the server's tags ("" when
    it has none). Equal to (and hashed as) the plain URI string, never to a ``Path``."""

    title: str
    artist: str

    def __new__(cls, uri: str, title: str = "", artist: str = "") -> Uri:
        self = super().__new__(cls, uri)
        self.title, self.artist = title, artist
        return self

    @property
    def name(self) -> str:
        """What to call it: its title, else the last part of the URI."""
        return self.title or re.split(r"[/:]", self.rstrip("/"))[-1] or str(self)


SongRef = Path | Uri  # what the recommender picks and the player plays


def describe(song: SongRef | None) -> tuple[str | None, str | None]:
    """(title, artist) of a picked song as the music server tags it; (None, None) when unknown."""
    if isinstance(song, Uri):
        return song.title or None, song.artist or None
    return None, None


def mood_of(name: str, prefix: str = "") -> str | None:
    """The mood a playlist called ``name`` is for (``prefix`` first, both case-insensitive), or None."""
    if not name.lower().startswith(prefix.lower()):
        return None
    mood = name[len(prefix):].strip().lower()
    return mood if mood in EMOTIONS else None


def song_ref(uri: str, root: Path | None, tags: Mapping[str, object] | None = None) -> SongRef:
    """The file ``root``/``uri`` when ``uri`` is a relative path to a file this machine reads (the
    server's music directory is here), else the ``Uri`` with the server's tags. Reads the disk: call it
    off the camera thread."""
    if root is not None and not _SCHEME.match(uri) and not uri.startswith("/"):
        local = root / uri
        try:
            if ".." not in Path(uri).parts and local.is_file():
                return local
        except OSError:
            pass
    tags = tags or {}
    return Uri(uri, _tag(tags.get("title")), _tag(tags.get("artist")))


def read(client, prefix: str, root: Path | None) -> list[Song]:
    """The songs of ``client``'s mood playlists (python-mpd2's ``listplaylists``, ``listplaylistinfo``),
    in playlist order, a song in several mood playlists once with each mood."""
    songs: dict[SongRef, Song] = {}
    for entry in sorted(client.listplaylists(), key=lambda e: str(e.get("playlist", ""))):
        name = str(entry.get("playlist", ""))
        mood = mood_of(name, prefix)
        if mood is None:
            continue
        items = client.listplaylistinfo(name)
        if len(items) > MAX_PLAYLIST_SONGS:
            log.warning("mood playlist %r has %d songs: taking the first %d", name, len(items), MAX_PLAYLIST_SONGS)
        for item in items[:MAX_PLAYLIST_SONGS]:
            uri = item.get("file") if isinstance(item, dict) else item
            if not uri:
                continue
            ref = song_ref(str(uri), root, item if isinstance(item, dict) else None)
            songs.setdefault(ref, Song(ref, {}, "playlist")).moods[mood] = 1.0
    return list(songs.values())


def summary(songs: Iterable[Song]) -> str:
    counts: dict[str, int] = {}
    for song in songs:
        for mood in song.moods:
            counts[mood] = counts.get(mood, 0) + 1
    return ", ".join(f"{m} {n}" for m, n in sorted(counts.items())) or "none"


def _tag(value: object) -> str:
    if isinstance(value, list):  # a tag given twice (two artists): MPD repeats the line
        value = " / ".join(str(v) for v in value)
    return str(value) if value else ""


#: Takes the playlists' songs each time they were read (on the watcher's thread).
OnSongs = Callable[[list[Song]], None]


class PlaylistWatcher:
    """Keeps the mood playlists of the MPD server at ``host``/``port`` read; see the module docstring.

    ``root``: the server's music directory here (None: ask the server over a Unix socket, else no file
    is local). ``start(on_songs)`` runs it on a thread until ``stop``; ``on_songs`` gets every reading
    that differs from the last. Each reading uses a fresh python-mpd2 connection; a second, raw one
    waits in ``idle stored_playlist`` (``IdleLine``: python-mpd2's ``idle`` can't be given up)."""

    def __init__(self, host: str, port: int, prefix: str = "", root: Path | None = None, *,
                 reread_s: float = REREAD_S, retry_s: float = RETRY_S) -> None:
        self.host, self.port, self.prefix, self.root = host or "localhost", port, prefix, root
        self.reread_s, self.retry_s = reread_s, retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: list[Song] | None = None
        self._away = False

    @classmethod
    def from_config(cls, config) -> PlaylistWatcher:
        """The watcher a ``MusicConfig`` with ``output = "mpd"`` describes."""
        root = config.mpd_music_dir or (None if config.mpd_host.startswith("/") else config.songs)
        return cls(config.mpd_host, config.mpd_port, config.playlist_prefix, Path(root) if root else None)

    @property
    def where(self) -> str:
        return self.host if self.host.startswith("/") else f"{self.host}:{self.port}"

    def start(self, on_songs: OnSongs, shutdown: threading.Event | None = None) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(on_songs, shutdown), name="music-playlists",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _stopping(self, shutdown: threading.Event | None) -> bool:
        return self._stop.is_set() or (shutdown is not None and shutdown.is_set())

    def _run(self, on_songs: OnSongs, shutdown: threading.Event | None) -> None:
        import mpd

        wait = self.retry_s
        while not self._stopping(shutdown):
            try:
                with IdleLine(self.host, self.port) as line:
                    while not self._stopping(shutdown):
                        line.send()  # before reading: a change made while we read wakes us again
                        self._take(self._read(), on_songs)
                        wait = self.retry_s
                        if not line.wait(self.reread_s, lambda: self._stopping(shutdown)):
                            break  # reread_s passed (or stopping): a fresh line, and read again
            except (OSError, EOFError, mpd.ConnectionError, mpd.ProtocolError, mpd.CommandError) as e:
                if not self._away:
                    log.warning("mood playlists: MPD at %s: %s; keeping the %s read so far, retrying (after %.0f s, "
                                "then less often)", self.where, e or type(e).__name__,
                                "songs" if self._last else "none", wait)
                self._away = True
                _wait_either(self._stop, shutdown or self._stop, wait)
                wait = min(MAX_RETRY_S, wait * 2)
            except Exception:  # a bug here must not end the reading for good
                log.exception("reading the mood playlists failed; retrying")
                self._stop.wait(MAX_RETRY_S)

    def _read(self) -> list[Song]:
        import mpd

        client = mpd.MPDClient()
        client.timeout = TIMEOUT_S
        client.connect(self.host, self.port)
        try:
            root = self.root if self.root is not None else _server_root(client, self.host)
            songs = read(client, self.prefix, root)
        finally:
            _close(client)
        if self._away:
            log.info("mood playlists: MPD at %s is back", self.where)
            self._away = False
        return songs

    def _take(self, songs: list[Song], on_songs: OnSongs) -> None:
        if songs == self._last:
            return
        self._last = songs
        log.info("mood playlists on MPD at %s: %s", self.where, summary(songs))
        on_songs(list(songs))


class IdleLine:
    """A raw MPD connection for ``idle stored_playlist``: ``send`` it, then ``wait`` for the answer
    while looking at a stop flag. A context manager (closes the socket)."""

    def __init__(self, host: str, port: int) -> None:
        if host.startswith("/"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(TIMEOUT_S)
            self.sock.connect(host)
        else:
            self.sock = socket.create_connection((host, port), TIMEOUT_S)
        self.file = self.sock.makefile("rb")
        if not self._line().startswith(b"OK MPD"):
            raise EOFError("not an MPD server (no greeting)")

    def send(self) -> None:
        self.sock.sendall(b"idle stored_playlist\n")

    def wait(self, seconds: float, stopping: Callable[[], bool]) -> bool:
        """True once the server answered (a stored playlist changed); False after ``seconds`` or when
        ``stopping()`` (then the idle is still pending: close this line)."""
        deadline = time.monotonic() + seconds
        while not stopping() and time.monotonic() < deadline:
            if select.select([self.sock], [], [], POLL_S)[0]:
                while (line := self._line()) != b"OK":
                    if line.startswith(b"ACK"):
                        raise EOFError(line.decode("utf-8", "replace"))
                return True
        return False

    def _line(self) -> bytes:
        line = self.file.readline()
        if not line.endswith(b"\n"):
            raise EOFError("the connection closed")
        return line.rstrip(b"\n")

    def __enter__(self) -> IdleLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.sock.close()


def _wait_either(a: threading.Event, b: threading.Event, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not (a.is_set() or b.is_set()) and time.monotonic() < end:
        a.wait(min(POLL_S, max(0.0, end - time.monotonic())))


def _server_root(client, host: str) -> Path | None:
    """MPD's music_directory, which it tells local clients on its Unix socket; None otherwise."""
    if not host.startswith("/"):
        return None
    import mpd

    try:
        answer = client.config()
    except mpd.CommandError:
        return None
    if isinstance(answer, dict):
        answer = answer.get("music_directory")
    return Path(answer) if answer else None


def _close(client) -> None:
    try:
        client.disconnect()
    except Exception:  # a connection that is already gone
        pass
