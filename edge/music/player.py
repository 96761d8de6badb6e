"""Music playback on its own thread; ``request(mood, point)`` never blocks the camera loop.

It uses ``pygame.mixer.music``, not ``Sound`` + ``Channel``: ``music`` streams from disk a buffer at a
time, so a four-minute MP3 costs a few kilobytes of RAM and no load time on a Pi, where ``Sound``
decodes the whole file into memory first (~40 MB for four minutes of 44.1 kHz stereo) and blocks
while doing so. The price is one stream at a time: a mood change fades the old song out, then the
new one in (``transition = "fade"``), rather than overlapping them, which at ``fade_ms`` each way
sounds smooth enough; ``transition = "cut"`` switches at once. A true crossfade would need two
streams, i.e. ``Sound`` objects and their memory, so it is not offered.

Every pygame call happens on the player's thread; other threads only put commands on a queue or
read ``current()`` / ``silent`` under a lock.
"""

from __future__ import annotations

import inspect
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from edge.music.library import Library, Picker, SongPicker  # noqa: E402
from edge.types import UNCERTAIN  # noqa: E402

log = logging.getLogger(__name__)

IDLE_MODES = ("keep", "fade")
TRANSITIONS = ("fade", "cut")
STRATEGIES = ("match", "uplift")  # edge.music.recommend's; repeated here so the config needs no numpy

#: (mood, path) of a song that just started; called on the player thread, so keep it cheap.
OnSong = Callable[[str, Path], None]
#: ("like" | "skip", mood, path) when the user likes or skips the current song.
OnFeedback = Callable[[str, str, Path], None]


@dataclass(frozen=True)
class PlayerStatus:
    """What the player is doing (TEMP shim; helper M1's version replaces it)."""

    song: Path | None
    mood: str | None
    volume: float
    paused: bool
    silent: bool


@dataclass(frozen=True)
class MusicConfig:
    """The ``[music]`` settings. ``idle_after`` is applied by the loop (see ``edge.music.idle``)."""

    songs: str = "songs"  # folder of songs: a subfolder per mood, others unlabelled, and/or songs.toml
    volume: float = 0.8  # 0..1
    fade_ms: int = 1500  # fade out the old song, then in the new one, on a mood change
    transition: str = "fade"  # on a mood change: "fade" (out, then in, fade_ms each) or "cut"
    strategy: str = "match"  # "match" the room's mood, or "uplift" sad/angry/fear towards brighter songs
    features: bool = True  # analyse the songs (tempo, brightness, ...) in the background
    state_dir: str = ""  # likes/skips (and the feature cache if the songs folder is read-only); "" = default
    idle: str = "keep"  # nobody seen: "keep" playing, or "fade" to quiet
    idle_after: float = 20.0  # seconds of frame time without faces before the player is told
    fallback: str = "neutral"  # mood whose songs stand in for a mood with none; "" = quiet
    audio_device: str = ""  # SDL audio device name; "" = the system default
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.volume <= 1.0:
            raise ValueError(f"music.volume must be between 0 and 1, got {self.volume}")
        if self.fade_ms < 0:
            raise ValueError(f"music.fade_ms must be 0 or more milliseconds, got {self.fade_ms}")
        if self.idle not in IDLE_MODES:
            raise ValueError(f"music.idle must be one of {', '.join(IDLE_MODES)}, got {self.idle!r}")
        if self.idle_after < 0:
            raise ValueError(f"music.idle_after must be 0 or more seconds, got {self.idle_after}")
        if self.transition not in TRANSITIONS:
            raise ValueError(f"music.transition must be one of {', '.join(TRANSITIONS)}, got {self.transition!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"music.strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")


class Player:
    """Plays songs that fit the requested mood, on its own thread.

    ``request(mood, point)``, ``idle()``, ``like()`` and ``skip()`` only enqueue a command and return at once.
    Without an audio device the player runs silent and retries opening it, first after ``retry_s``
    seconds, then backing off (doubling, at most ``MAX_RETRY_S``) so a missing device does not fill
    the journal with ALSA's complaints.
    """

    POLL_S = 0.05  # how often the thread checks for commands and for the end of a song
    SKIP_FADE_MS = 300
    STOP_FADE_MS = 250
    MIN_PLAY_S = 0.2  # a song that "ends" sooner than this is treated as unplayable
    MAX_RETRY_S = 60.0  # longest wait between tries to open a missing audio device

    def __init__(
        self,
        config: MusicConfig = MusicConfig(),
        picker: SongPicker | None = None,
        on_song: OnSong | None = None,
        on_feedback: OnFeedback | None = None,
        *,
        shutdown: threading.Event | None = None,
        retry_s: float = 3.0,
    ):
        """Scans ``config.songs`` (raising ``LibraryError`` if it's unusable) unless ``picker`` is given."""
        self.config = config
        if picker is None and config.enabled:
            picker = Picker(Library.scan(config.songs, fallback=config.fallback))
        self.picker = picker
        self._picker_takes_point = _takes_point(picker)
        self.on_song = on_song
        self.on_feedback = on_feedback
        self.retry_s = retry_s
        self._commands: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._shutdown = shutdown
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Shared with other threads (under _lock):
        self._current: Path | None = None
        self._silent = True
        self._volume = config.volume
        self._paused = False
        # Owned by the player thread:
        self._mood: str | None = None  # the mood playing, or being faded towards
        self._point: tuple[float, float] | None = None  # the room's (valence, arousal) with the last request
        self._song_mood: str | None = None  # the mood the current song was picked for
        self._fade_until: float | None = None  # a fade-out is running until then
        self._fade_in_ms = 0
        self._started = 0.0
        self._given_up: str | None = None  # mood with nothing playable; retried when the mood changes
        self._mixer_ok = False
        self._next_open = 0.0
        self._retry_wait = retry_s
        self._warned: set[str] = set()

    # -- the public, non-blocking side -------------------------------------------------------------

    def start(self) -> None:
        """Start the player thread (it opens the audio device); does nothing when disabled."""
        if not self.config.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="music-player", daemon=True)
        self._thread.start()

    def request(self, mood_label: str, point: tuple[float, float] | None = None) -> None:
        """Ask for music that fits ``mood_label``; "uncertain" leaves the current song playing.

        ``point`` is the room's (valence, arousal), passed on to the picker for the next song; a
        request for the mood already playing only updates it (no restart)."""
        self._commands.put(("mood", (mood_label, point)))

    def idle(self) -> None:
        """Nobody is seen: fade to quiet if ``config.idle == "fade"``, else keep playing."""
        self._commands.put(("idle", ""))

    def like(self) -> None:
        """The user likes the current song (passed to ``on_feedback``)."""
        self._commands.put(("like", ""))

    def skip(self) -> None:
        """Play another song of the same mood now (and tell ``on_feedback``)."""
        self._commands.put(("skip", ""))

    def set_volume(self, volume: float) -> None:
        """Set the volume (0..1) from now on (TEMP shim)."""
        with self._lock:
            self._volume = min(1.0, max(0.0, float(volume)))
        self._commands.put(("volume", ""))

    def pause(self) -> None:
        self._commands.put(("pause", ""))

    def resume(self) -> None:
        self._commands.put(("resume", ""))

    def status(self) -> PlayerStatus:
        with self._lock:
            return PlayerStatus(self._current, self._song_mood, self._volume, self._paused, self._silent)

    def current(self) -> Path | None:
        """The song playing now, or None."""
        with self._lock:
            return self._current

    @property
    def silent(self) -> bool:
        """True while no audio device is open (not started, disabled, or the device failed)."""
        with self._lock:
            return self._silent

    def stop(self, timeout: float = 1.0) -> None:
        """Fade out quickly, close the audio device and join the thread (waits at most ``timeout``)."""
        self._stop.set()
        self._commands.put(("stop", ""))
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("music player thread did not stop within %.1f s", timeout)
            self._thread = None

    def __enter__(self) -> Player:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the player thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping():
                now = time.monotonic()
                if not self._mixer_ok and now >= self._next_open:
                    self._open_mixer(now)
                try:
                    command, arg = self._commands.get(timeout=self.POLL_S)
                    while True:  # handle everything queued, then look at the stream once
                        self._handle(command, arg)
                        command, arg = self._commands.get_nowait()
                except queue.Empty:
                    pass
                if self._mixer_ok and not self._stopping():
                    self._tick(time.monotonic())
        except Exception:  # never let the thread die silently
            log.exception("music player failed; music stops (the camera loop carries on)")
        finally:
            self._close_mixer()

    def _stopping(self) -> bool:
        return self._stop.is_set() or (self._shutdown is not None and self._shutdown.is_set())

    def _handle(self, command: str, arg: object) -> None:
        if command == "mood":
            label, point = arg if isinstance(arg, tuple) else (arg, None)
            if label == UNCERTAIN:
                return
            if point is not None:
                self._point = (float(point[0]), float(point[1]))
            if label == self._mood:
                return
            log.debug("mood %s -> %s", self._mood, label)
            self._mood = label
            self._fade_out(self._transition_ms())
        elif command == "idle":
            if self.config.idle == "fade" and self._mood is not None:
                log.info("nobody seen: fading the music out")
                self._mood = None
                self._fade_out(self.config.fade_ms)
        elif command in ("volume", "pause", "resume"):
            with self._lock:
                self._paused = {"pause": True, "resume": False}.get(command, self._paused)
                volume, paused = self._volume, self._paused
            if self._mixer_ok:
                pygame.mixer.music.set_volume(volume)
                pygame.mixer.music.pause() if paused else pygame.mixer.music.unpause()
        elif command in ("like", "skip"):
            path = self.current()
            if path is None or self._song_mood is None:
                return
            if self.on_feedback is not None:
                self._call(self.on_feedback, command, self._song_mood, path)
            if command == "skip":
                self._fade_out(self.SKIP_FADE_MS if self.config.transition == "fade" else 0)

    def _transition_ms(self) -> int:
        return self.config.fade_ms if self.config.transition == "fade" else 0

    def _fade_out(self, ms: int) -> None:
        """Start fading the current song; ``_tick`` starts the next once it's quiet."""
        self._given_up = None
        self._fade_in_ms = self._transition_ms()
        if self._fade_until is not None:
            return  # already fading; the new target is picked up when it ends
        now = time.monotonic()
        if self._mixer_ok and pygame.mixer.music.get_busy() and ms > 0:
            pygame.mixer.music.fadeout(ms)
            self._fade_until = now + ms / 1000 + 0.2
        else:
            self._fade_until = now

    def _tick(self, now: float) -> None:
        if self.status().paused:
            return
        busy = pygame.mixer.music.get_busy()
        if self._fade_until is not None:
            if busy and now < self._fade_until:
                return
            pygame.mixer.music.stop()
            self._fade_until = None
            self._set_current(None, None)
            busy = False
        if busy:
            return
        ended = self.current()
        if ended is not None:
            if now - self._started < self.MIN_PLAY_S:
                self._unplayable(ended, "it stopped as soon as it started")
            self._set_current(None, None)
        if self._mood is not None and self._mood != self._given_up:
            self._play_next(self._mood, now)

    def _play_next(self, mood: str, now: float) -> None:
        assert self.picker is not None
        while (path := self._pick(mood)) is not None:
            try:
                pygame.mixer.music.load(str(path))
                pygame.mixer.music.set_volume(self.status().volume)
                pygame.mixer.music.play(fade_ms=self._fade_in_ms)
            except (pygame.error, OSError) as e:
                self._unplayable(path, str(e))
                continue
            log.debug("playing %s for %s", path, mood)
            self._started = now
            self._fade_in_ms = 0  # the next song of the same mood follows without a fade-in
            self._set_current(path, mood)
            if self.on_song is not None:
                self._call(self.on_song, mood, path)
            return
        self._given_up = mood
        self._once(f"nothing:{mood}", "no playable songs for mood %r: staying quiet until the mood changes",
                   mood)

    def _pick(self, mood: str) -> Path | None:
        assert self.picker is not None
        if self._point is not None and self._picker_takes_point:
            return self.picker.next(mood, point=self._point)
        return self.picker.next(mood)

    def _unplayable(self, path: Path, why: str) -> None:
        self._once(f"bad:{path}", "skipping %s, it can't be played (%s): replace or delete it", path, why)
        assert self.picker is not None
        self.picker.discard(path)

    def _set_current(self, path: Path | None, mood: str | None) -> None:
        self._song_mood = mood
        with self._lock:
            self._current = path

    def _open_mixer(self, now: float) -> None:
        device = self.config.audio_device or None
        try:
            pygame.mixer.init(frequency=44100, size=-16, channels=2, buffer=2048, devicename=device)
        except pygame.error as e:
            self._next_open = now + self._retry_wait
            self._once("no-audio", "no audio output (%s): running silent and retrying (after %.1f s, then less "
                       "often); check the speaker/HDMI connection or set music.audio_device", e, self._retry_wait)
            self._retry_wait = min(self.MAX_RETRY_S, self._retry_wait * 2)
            return
        self._mixer_ok = True
        self._retry_wait = self.retry_s
        with self._lock:
            self._silent = False
        freq, size, channels = pygame.mixer.get_init()
        log.info("audio output open: %d Hz, %d-bit, %d channel(s)%s", freq, abs(size), channels,
                 f" on {device}" if device else "")

    def _close_mixer(self) -> None:
        if self._mixer_ok:
            try:
                if pygame.mixer.music.get_busy():
                    pygame.mixer.music.fadeout(self.STOP_FADE_MS)
                    end = time.monotonic() + self.STOP_FADE_MS / 1000 + 0.1
                    while pygame.mixer.music.get_busy() and time.monotonic() < end:
                        time.sleep(0.02)
                pygame.mixer.music.stop()
                pygame.mixer.quit()
            except pygame.error as e:
                log.warning("closing the audio output failed: %s", e)
        self._mixer_ok = False
        self._set_current(None, None)
        with self._lock:
            self._silent = True

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            self._once(f"callback:{callback!r}", "music callback %r failed (logged once)", callback,
                       exc_info=True)

    def _once(self, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args, exc_info=exc_info)


def _takes_point(picker: object) -> bool:
    """True if ``picker.next`` accepts ``point=`` (pickers written for ``next(mood)`` still work)."""
    next_ = getattr(picker, "next", None)
    if next_ is None:
        return False
    try:
        params = inspect.signature(next_).parameters
    except (TypeError, ValueError):
        return False
    return "point" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
