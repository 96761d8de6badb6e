"""The player: decides songs at frame time, plays them in real time on its own thread.

``request(mood, point, t)`` runs on the caller's (the camera loop's) thread: it asks the picker at
once, reports the decision through ``on_song`` and returns the song, so a song event is written at the
frame that caused it, whatever the speed of the run. The playing itself (fades, the device, songs
that end) happens on the player thread, which owns a ``Deck`` and its ``Output``; other threads only
put commands on a queue or read the state under a lock. Nothing here blocks the caller on audio.

Failures: an unexpected error on the player thread closes the output and restarts the deck after
``restart_s`` (logged, counted in ``restarts``); ``MAX_DEATHS`` within ``DEATH_WINDOW_S`` gives up.
``alive(now)`` is False once it gave up or while its heartbeat is older than ``HANG_S`` (a call
that hangs): the service then stops feeding systemd's watchdog, which restarts it. Times are seconds
of the injected ``clock``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edge.logonce import once
from edge.music.config import MusicConfig
from edge.music.deck import Deck
from edge.music.outputs import OutputFactory, factory
from edge.types import UNCERTAIN

log = logging.getLogger(__name__)

#: (mood, path) of a song just decided on; called on the deciding thread, so keep it cheap.
OnSong = Callable[[str, Path], None]
#: ("like" | "skip", mood, path) when the user likes or skips the current song.
OnFeedback = Callable[[str, str, Path], None]


class SongPicker(Protocol):
    """What the player asks for songs (``edge.music.recommend.Recommender``)."""

    def next(self, mood: str, point: tuple[float, float] | None = None) -> Path | None: ...

    def discard(self, path: Path) -> None: ...


class Recommending(SongPicker, Protocol):
    """A picker that the loop also runs and steers: its analysis thread, likes and skips, strategy."""

    strategy: str

    def feedback(self, kind: str, mood: str, path: Path) -> None: ...

    def describe(self, song: Path) -> tuple[str | None, str | None]: ...

    def set_strategy(self, name: str) -> None: ...

    def start(self, shutdown: threading.Event | None = None) -> None: ...

    def stop(self, timeout: float = 2.0) -> None: ...


@dataclass(frozen=True)
class PlayerStatus:
    song: Path | None  # playing now
    mood: str | None  # the mood the player follows (None: none yet, or idle)
    volume: float  # 0..1
    paused: bool
    silent: bool  # no audio output open
    title: str | None = None  # what the music server says is playing (MPD's currentsong), if it says
    artist: str | None = None


class Supervisor:
    """Counts the player thread's failures and its heartbeat; times are seconds of the player's clock."""

    MAX_DEATHS, DEATH_WINDOW_S = 5, 600.0  # that many errors within that many seconds: give up
    HANG_S = 20.0  # a heartbeat older than this: hung (systemd's WatchdogSec is 30 s)

    def __init__(self, restart_s: float) -> None:
        self.restart_s = restart_s
        self.restarts = 0
        self.failed = False
        self.beat: float | None = None
        self._deaths: list[float] = []
        self._restart_at = 0.0

    def ready(self, now: float) -> bool:
        """Beat, and say whether the player may work now (not given up, not pausing before a restart)."""
        self.beat = now
        return not self.failed and now >= self._restart_at

    def died(self, now: float) -> None:
        """Log the current exception and schedule the restart, or give up."""
        self.restarts += 1
        self._deaths = [d for d in self._deaths if now - d < self.DEATH_WINDOW_S] + [now]
        n = len(self._deaths)
        if n >= self.MAX_DEATHS:
            self.failed = True
            log.error("music player failed %d times in %.0f s: giving up, so the service's watchdog stops and "
                      "systemd restarts it", n, self.DEATH_WINDOW_S, exc_info=True)
        else:
            log.error("music player failed (%d time%s in %.0f s): restarting it in %.1f s", n, "" if n == 1 else "s",
                      self.DEATH_WINDOW_S, self.restart_s, exc_info=True)
        self._restart_at = now + self.restart_s

    def alive(self, now: float) -> bool:
        return not self.failed and (self.beat is None or now - self.beat <= self.HANG_S)


class Chooser:
    """The mood the player follows, the room's point, and the picks for them; any thread, one lock."""

    def __init__(self, picker: SongPicker | None, on_song: OnSong | None) -> None:
        self.picker, self.on_song = picker, on_song
        self.lock = threading.RLock()
        self.mood: str | None = None
        self.point: tuple[float, float] | None = None
        self.warned: set[str] = set()

    def request(self, mood: str, point: tuple[float, float] | None) -> tuple[bool, Path | None]:
        """(the mood changed, the song decided for it); the picker's errors are logged, never raised."""
        with self.lock:
            if point is not None:
                self.point = (float(point[0]), float(point[1]))
            if mood == self.mood:
                return False, None
            self.mood = mood
            try:
                path = self._pick(mood)
            except Exception:  # the camera loop must carry on: the mood just stays quiet
                log.exception("picking a song for %s failed", mood)
                return True, None
        if path is not None:
            _call(self.warned, self.on_song, mood, path)
        return True, path

    def choose(self, cause: str) -> tuple[str, Path] | None:
        """Another song ("next", "skip", "replace") for the mood followed now; the picker's errors raise."""
        with self.lock:
            mood = self.mood
            path = self._pick(mood) if mood is not None else None
        if path is None:
            return None
        log.debug("chose %s for %s (%s)", path, mood, cause)
        _call(self.warned, self.on_song, mood, path)
        return mood, path

    def forget(self) -> bool:
        """Follow no mood (idle); True if one was followed."""
        with self.lock:
            followed, self.mood = self.mood is not None, None
        return followed

    def discard(self, path: Path) -> None:
        """On the player thread. Not under ``lock``: the picker checks the file (a stick that hangs can
        take seconds), and the camera loop's ``request`` must never wait for that."""
        self.picker.discard(path)

    def _pick(self, mood: str) -> Path | None:
        path = self.picker.next(mood, point=self.point)
        if path is None:
            once(log, self.warned, f"nothing:{mood}", "no playable songs for mood %r: staying quiet, asking again "
                  "every %.0f s", mood, Deck.NOTHING_RETRY_S)
        return path


class Player:
    """See the module docstring. Every public method returns at once and is safe from any thread."""

    POLL_S = 0.05  # the player thread's tick when no command wakes it
    STOP_FADE_MS = 250
    RESTART_S = 5.0  # pause before the deck restarts after an unexpected error
    MAX_DEATHS, HANG_S = Supervisor.MAX_DEATHS, Supervisor.HANG_S

    def __init__(self, config: MusicConfig | None = None, picker: SongPicker | None = None,
                 on_song: OnSong | None = None, on_feedback: OnFeedback | None = None, *,
                 output: OutputFactory | None = None, clock: Callable[[], float] = time.monotonic,
                 shutdown: threading.Event | None = None, retry_s: float = 3.0, restart_s: float = RESTART_S):
        config = config if config is not None else MusicConfig()
        if picker is None and config.enabled:
            raise ValueError("Player needs a picker (e.g. edge.music.recommend.Recommender) when music is enabled")
        self.config, self.on_feedback = config, on_feedback
        self.chooser = Chooser(picker, on_song)
        self.supervisor = Supervisor(restart_s)
        self._clock = clock
        self._shutdown = shutdown
        self._commands: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the state other threads read
        self._volume, self._paused = config.volume, False
        self._current: Path | None = None
        self._silent = True
        self._tags: tuple[object, str | None, str | None] = (None, None, None)  # (song, title, artist)
        transition = config.fade_ms if config.transition == "fade" else 0
        self._transition_ms = transition
        self._deck = Deck(output or factory(config, self._heard), self.chooser.choose, self.chooser.discard,
                          volume=config.volume, transition_ms=transition, retry_s=retry_s, on_change=self._mirror)

    # -- the public, non-blocking side -------------------------------------------------------------

    def start(self) -> None:
        """Start the player thread (it opens the output); does nothing when disabled or started."""
        if not self.config.enabled or self._thread is not None:
            return
        self.supervisor.beat = self._clock()
        self._thread = threading.Thread(target=self._run, name="music-player", daemon=True)
        self._thread.start()

    def request(self, mood: str, point: tuple[float, float] | None = None, t: float | None = None) -> Path | None:
        """Decide now what plays for ``mood``: the new song (reported to ``on_song``), or None when
        nothing changes ("uncertain", the mood already playing: ``point`` is only remembered) or the
        mood has no songs. ``point`` is the room's (valence, arousal); ``t`` the frame time, for logs."""
        if not self.config.enabled or mood == UNCERTAIN:
            return None
        changed, path = self.chooser.request(mood, point)
        if changed:
            log.debug("t=%s: chose %s for %s", t, path, mood)
            if path is None:
                self._put("quiet", self._transition_ms, True)  # no songs now: asked again later
            else:
                self._put("play", mood, path)
        return path

    def idle(self) -> None:
        """Nobody is seen: fade to quiet if ``config.idle == "fade"``, else keep playing."""
        if self.config.idle == "fade" and self.chooser.forget():
            log.info("nobody seen: fading the music out")
            self._put("quiet", self.config.fade_ms, False)

    def like(self) -> None:
        """The user likes the current song (passed to ``on_feedback``)."""
        self._put("feedback", "like")

    def skip(self) -> None:
        """Play another song of the same mood now (and tell ``on_feedback``)."""
        self._put("feedback", "skip")

    def set_volume(self, volume: float) -> None:
        """Set the volume, 0..1 (ValueError outside)."""
        if not 0.0 <= volume <= 1.0:
            raise ValueError(f"volume must be between 0 and 1, got {volume!r}")
        with self._lock:
            self._volume = float(volume)
        self._put("volume", float(volume))

    def pause(self) -> None:
        with self._lock:
            self._paused = True
        self._put("pause", True)

    def resume(self) -> None:
        with self._lock:
            self._paused = False
        self._put("pause", False)

    def current(self) -> Path | None:
        """The song playing now, or None."""
        with self._lock:
            return self._current

    @property
    def silent(self) -> bool:
        """True while no output is open (not started, disabled, device missing or lost)."""
        with self._lock:
            return self._silent

    def status(self) -> PlayerStatus:
        with self._lock:
            song, title, artist = self._tags
            if song is None or song != self._current:  # tags of a song no longer playing
                title = artist = None
            return PlayerStatus(self._current, self.chooser.mood, self._volume, self._paused, self._silent,
                                title, artist)

    def alive(self, now: float | None = None) -> bool:
        """False once the player gave up, or while its thread has not ticked for ``HANG_S``."""
        if self._thread is None and not self.supervisor.failed:
            return True
        return self.supervisor.alive(self._clock() if now is None else now)

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts

    def settle(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the last decision is playing; True if it is, or silent."""
        end = time.monotonic() + timeout
        while self._thread is not None and self._thread.is_alive() and time.monotonic() < end:
            if self.silent or (self._commands.empty() and self._deck.pending is None):
                return True
            time.sleep(self.POLL_S)
        return self._deck.pending is None

    def stop(self, timeout: float = 1.0) -> None:
        """Fade out quickly, close the output and join the thread (waits at most ``timeout``)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("music player thread did not stop within %.1f s", timeout)
            self._thread = None

    # -- the player thread -------------------------------------------------------------------------

    def step(self, now: float) -> None:
        """Handle the queued commands, then let time pass to ``now``: one turn of the player thread."""
        if not self.supervisor.ready(now):
            if self.supervisor.failed:  # nobody plays them: don't let them pile up
                while not self._commands.empty():
                    self._commands.get_nowait()
            return
        try:
            while not self._commands.empty():
                command, *args = self._commands.get_nowait()
                self._handle(command, args, now)
            self._deck.tick(now)
        except Exception:
            self.supervisor.died(now)
            self._deck.restart()

    def _run(self) -> None:
        try:
            while not self._stopping():
                self.step(self._clock())
                self._wake.wait(self.POLL_S)
                self._wake.clear()
        finally:
            self._deck.fade_and_close(self.STOP_FADE_MS)

    def _handle(self, command: str, args: list, now: float) -> None:
        deck = self._deck
        if command == "play":
            deck.play(args[0], args[1], self._transition_ms, self._transition_ms, now)
        elif command == "quiet":
            deck.quiet(args[0], now, retry=args[1])
        elif command == "volume":
            deck.set_volume(args[0])
        elif command == "pause":
            deck.pause(args[0])
        elif command == "feedback" and deck.current is not None and deck.song_mood:
            _call(self.chooser.warned, self.on_feedback, args[0], deck.song_mood, deck.current)
            if args[0] == "skip":
                deck.skip(now)

    def _stopping(self) -> bool:
        return self._stop.is_set() or (self._shutdown is not None and self._shutdown.is_set())

    # -- helpers (any thread) ----------------------------------------------------------------------

    def _put(self, *command: object) -> None:
        self._commands.put(command)
        self._wake.set()

    def _heard(self, song: object, title: str | None, artist: str | None) -> None:
        """The output says what plays (on the player thread)."""
        with self._lock:
            self._tags = (song, title, artist)

    def _mirror(self) -> None:
        with self._lock:
            self._current, self._silent = self._deck.current, not self._deck.open


def _call(warned: set[str], callback: Callable[..., None] | None, *args: object) -> None:
    """Call a user's callback; its errors are logged (once each), never raised."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        once(log, warned, f"callback:{callback!r}", "music callback %r failed (logged once)", callback, exc_info=True)
