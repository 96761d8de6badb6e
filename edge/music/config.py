"""The ``[music]`` settings and the one copy of each music constant. Light: no pygame, numpy or cv2.

Every setting is bounded here, so a value that would break the player later (``fade_ms`` of three
billion overflowed SDL's int and killed the player thread) stops start-up with its key instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.circumplex import CIRCUMPLEX
from edge.settings import key

IDLE_MODES = ("keep", "fade")  # nobody seen: keep playing, or fade to quiet
TRANSITIONS = ("fade", "cut")  # a mood change: fade out then in, or switch at once
STRATEGIES = ("match", "uplift")  # the recommender: match the room's mood, or lift sad/angry/fear
OUTPUTS = ("pygame", "mpd")  # who plays: this process's SDL mixer, or a Music Player Daemon

MAX_FADE_MS = 60_000  # a fade longer than a minute is a typo (and SDL takes an int of milliseconds)
MAX_IDLE_AFTER_S = 86_400.0  # a day
MAX_PATH_CHARS = 4096
MAX_PREFIX_CHARS = 100  # a playlist name prefix


@dataclass(frozen=True)
class MusicConfig:
    """The ``[music]`` section: the songs, how they are picked and who plays them.

    ``idle_after`` is applied by the loop (``edge.music.idle``); ``strategy``, ``features``,
    ``state_dir`` and ``fallback`` by the recommender; the rest by the player and its output.
    """

    songs: str = key("songs", "songs folder: a subfolder per mood, others unlabelled, and/or songs.toml")
    volume: float = key(0.8, "playback volume (0..1)")
    fade_ms: int = key(1500, "on a mood change, fade the old song out, then the new one in, "
                       "this long each (ms, 0..60000)")
    transition: str = key("fade", "on a mood change: fade (out, then in, fade_ms each) | cut (switch at once)")
    strategy: str = key("match", "which songs: match (the room's mood) | "
                        "uplift (sad/angry/fear towards brighter songs)")
    features: bool = key(True, "analyse the songs' audio (tempo, energy, brightness) in the background")
    state_dir: str = key("", "folder for likes/skips, and the feature cache if the songs folder is read-only "
                         "(empty: the default state folder)")
    idle: str = key("keep", "nobody seen for idle_after: keep (playing) | fade (to quiet)")
    idle_after: float = key(20.0, "frame time without faces before the player counts the room empty (s, 0..86400)")
    fallback: str = key("neutral", "mood whose songs stand in for a mood with none: a mood name | \"\" (quiet)")
    output: str = key("pygame", "who plays: pygame (SDL on this machine) | mpd (a Music Player Daemon)")
    audio_device: str = key("", "pygame: an ALSA name (default:CARD=<id>) or an SDL device name, see "
                            "`python -m edge audio-devices` (empty: the system default)")
    mpd_host: str = key("", "mpd: host name, or the path of MPD's Unix socket (empty: localhost)")
    mpd_port: int = key(6600, "mpd: TCP port when mpd_host is not a socket (1..65535)")
    mpd_music_dir: str = key("", "mpd: MPD's music_directory as seen here "
                             "(empty: ask MPD over a socket, else music.songs)")
    playlists: bool = key(True, "mpd: the server's stored playlists named after a mood (after playlist_prefix) "
                                "supply songs for it: true | false")
    playlist_prefix: str = key("", "mpd: the start of a mood playlist's name, e.g. \"mood: \" for \"mood: happy\" "
                                   "(case-insensitive; \"\" = the bare mood name)")
    enabled: bool = key(True, "play music (false: moods and events only)")

    def __post_init__(self) -> None:
        _between("volume", self.volume, 0.0, 1.0)
        _between("fade_ms", self.fade_ms, 0, MAX_FADE_MS, "milliseconds")
        _between("idle_after", self.idle_after, 0.0, MAX_IDLE_AFTER_S, "seconds")
        _between("mpd_port", self.mpd_port, 1, 65535)
        for name, options in (("idle", IDLE_MODES), ("transition", TRANSITIONS), ("strategy", STRATEGIES),
                             ("output", OUTPUTS)):
            value = getattr(self, name)
            if value not in options:
                raise ValueError(f"music.{name} must be one of {', '.join(options)}, got {value!r}")
        if self.fallback not in ("", *CIRCUMPLEX):  # a typo here would leave moods without songs silent
            raise ValueError(f"music.fallback must be a mood ({', '.join(CIRCUMPLEX)}) or \"\" (quiet), "
                             f"got {self.fallback!r}")
        if len(self.playlist_prefix) > MAX_PREFIX_CHARS or any(c in self.playlist_prefix for c in "\0\n\r"):
            raise ValueError(f"music.playlist_prefix must be at most {MAX_PREFIX_CHARS} characters on one line, "
                             f"got {self.playlist_prefix[:40]!r}")
        for name in ("songs", "state_dir", "audio_device", "mpd_host", "mpd_music_dir"):
            value = getattr(self, name)
            if len(value) > MAX_PATH_CHARS or "\0" in value:
                raise ValueError(f"music.{name} must be a path or name without NUL, at most {MAX_PATH_CHARS} "
                                 f"characters, got {value[:40]!r}...")


def _between(key: str, value: float, low: float, high: float, unit: str = "") -> None:
    if not low <= value <= high:  # also false for NaN
        unit = f" {unit}" if unit else ""
        raise ValueError(f"music.{key} must be between {low} and {high}{unit}, got {value!r}")
