"""The player thread's state machine: what the output is doing, on an injected clock.

``Deck`` owns one ``Output`` and is driven by ``tick(now)`` and a few commands (``play``, ``quiet``,
``skip`` ...). It never picks a song itself: it asks ``choose(cause)``, which picks for the mood the
player wants (or returns None). Every time is ``now`` in seconds of the player's clock; fades are
milliseconds. Not thread-safe: only the player thread calls it.

States of the output: closed (``open`` False; reopened at ``next_open``, backing off from
``retry_s`` doubling to ``MAX_RETRY_S``), fading (``fade_until`` set: the next song starts when
the old one is quiet), playing (``current``), quiet. A device that goes away (``alive()`` False,
or ``OutputError``) is closed and reopened with the same backoff, and the song it played resumes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from edge.logonce import once
from edge.music.outputs import Output, OutputError, OutputFactory, SongError

log = logging.getLogger(__name__)

#: cause ("next", "skip", "replace") -> (mood, song) for the mood the player wants now, or None.
Choose = Callable[[str], "tuple[str, Path] | None"]


class Deck:
    MAX_RETRY_S = 60.0  # longest wait between tries to open a missing audio device
    FADE_MARGIN_S = 0.2  # a fade-out is over this long after its nominal end, busy or not
    MIN_PLAY_S = 0.2  # a song that "ends" sooner than this is treated as unplayable
    SKIP_FADE_MS = 300
    STALL_S = 5.0  # a playing song whose position does not move for this long: the device hangs
    NOTHING_RETRY_S = 30.0  # a mood with nothing playable (songs gone, a stick remounting): ask again this often

    def __init__(self, make_output: OutputFactory, choose: Choose, discard: Callable[[Path], None], *,
                 volume: float, transition_ms: int, retry_s: float,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.make_output = make_output
        self.choose = choose
        self.discard = discard
        self.on_change = on_change  # current / silent changed (the player mirrors them for other threads)
        self.volume = volume
        self.transition_ms = transition_ms
        self.retry_s = retry_s
        self.output: Output | None = None
        self.open = False
        self.next_open = 0.0
        self.retry_wait = retry_s
        self.current: Path | None = None
        self.song_mood: str | None = None
        self.started = 0.0
        self.pending: tuple[str, Path, int] | None = None  # (mood, song, fade-in ms) to start when quiet
        self.fade_until: float | None = None
        self.paused = False
        self.stay_quiet = False  # idle, or nothing playable for the mood: no next song until a new command
        self.retry_at: float | None = None  # nothing was playable: ask again then (idle never asks)
        self.losses = 0
        self.want_next = False  # after a restart: pick the next song though none ended
        self.stall = StallWatch(self.STALL_S)
        self._warned: set[str] = set()

    # -- commands ----------------------------------------------------------------------------------

    def play(self, mood: str, path: Path, fade_in_ms: int, fade_out_ms: int, now: float) -> None:
        """Fade the current song out (``fade_out_ms``), then play ``path`` fading in."""
        self.pending = (mood, path, fade_in_ms)
        self.stay_quiet, self.retry_at = False, None
        self._fade_out(fade_out_ms, now)

    def quiet(self, fade_ms: int, now: float, retry: bool = False) -> None:
        """Fade to silence and stay there: idle, or (``retry``) a mood without songs, asked again after
        ``NOTHING_RETRY_S``."""
        self.pending = None
        self.stay_quiet, self.retry_at = True, now + self.NOTHING_RETRY_S if retry else None
        self._fade_out(fade_ms, now)

    def skip(self, now: float) -> None:
        if self.current is None or self.pending is not None:
            return
        choice = self.choose("skip")
        if choice is not None:
            self.pending = (*choice, self.transition_ms)
        self._fade_out(self.SKIP_FADE_MS if self.transition_ms else 0, now)

    def set_volume(self, volume: float) -> None:
        self.volume = volume
        if self.open:
            self.output.set_volume(volume)

    def pause(self, paused: bool) -> None:
        self.paused = paused
        if self.open and self.current is not None:
            self.output.pause() if paused else self.output.resume()

    # -- time passing ------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        if not self.open and (now < self.next_open or not self._open(now)):
            return
        try:
            self._tick(now)
        except OutputError as e:  # any call to a device or server that went away
            self._lost(now, str(e))

    def _tick(self, now: float) -> None:
        if not self.output.alive():
            self._lost(now, "the device went away")
            return
        if self.fade_until is not None:
            if self.output.busy() and now < self.fade_until:
                return
            self.output.stop()
            self.fade_until = None
            self._set_current(None, None)
        if self.paused or self.output.busy():
            if self.stall.update(now, None if self.paused else self.output.position()):
                self._lost(now, f"the playback position stopped moving for {self.stall.after:.0f} s")
            return
        ended, self.want_next = self.current is not None or self.want_next, False
        if self.current is not None:  # it ended by itself
            if now - self.started < self.MIN_PLAY_S:
                self._unplayable(self.current, "it stopped as soon as it started")
            self._set_current(None, None)
        if self.retry_at is not None and now >= self.retry_at:  # songs may be back (a remounted stick)
            ended, self.stay_quiet = True, False
        if ended and self.pending is None and not self.stay_quiet:  # the mood goes on
            self._choose("next", 0, now)
        if self.pending is not None:
            self._start(now)

    def _start(self, now: float) -> None:
        while self.pending is not None:
            mood, path, fade_in = self.pending
            try:
                self.output.play(path, fade_in)
            except SongError as e:
                self._unplayable(path, str(e))
                self._choose("replace", fade_in, now)
                continue
            except OutputError as e:
                self._lost(now, str(e))
                return
            self.pending = None
            self.started = now
            self._set_current(path, mood)

    def _choose(self, cause: str, fade_in: int, now: float) -> None:
        """The next song for the mood; with none, stay quiet and ask again after ``NOTHING_RETRY_S``."""
        choice = self.choose(cause)
        self.pending = (*choice, fade_in) if choice else None
        self.stay_quiet = choice is None
        self.retry_at = now + self.NOTHING_RETRY_S if choice is None else None

    def _fade_out(self, ms: int, now: float) -> None:
        if self.fade_until is not None:
            return  # already fading; the new pending song starts when it ends
        if self.open and self.current is not None and ms > 0 and self.output.busy():
            self.output.fade_out(ms)
            self.fade_until = now + ms / 1000 + self.FADE_MARGIN_S
        else:
            self.fade_until = now

    # -- the device ----------------------------------------------------------------------------------

    def _open(self, now: float) -> bool:
        self.output = self.make_output()
        try:
            self.output.open()
            self.output.set_volume(self.volume)
        except OutputError as e:
            self.next_open = now + self.retry_wait
            once(log, self._warned, "no-audio", "no audio output (%s): running silent and retrying (after %.1f s, then "
                       "less often); check the speaker/HDMI connection or set music.audio_device",
                       e, self.retry_wait)
            self.retry_wait = min(self.MAX_RETRY_S, self.retry_wait * 2)
            return False
        if self.losses:
            log.warning("audio output back (after %d loss%s): resuming the music", self.losses,
                        "" if self.losses == 1 else "es")
        self.open = True
        self.retry_wait = self.retry_s
        self.on_change()
        return True

    def _lost(self, now: float, why: str) -> None:
        self.losses += 1
        log.warning("audio output lost (%s): closing it and retrying in %.1f s", why, self.retry_wait)
        self._resume_later()
        self.close()
        self.next_open = now + self.retry_wait
        self.retry_wait = min(self.MAX_RETRY_S, self.retry_wait * 2)

    def restart(self) -> None:
        """After an unexpected error: close the output; the next ``tick`` reopens it and resumes the song."""
        self._resume_later()
        self.want_next = self.pending is None  # nothing to resume: the next song of the mood
        self.close()
        self.next_open = 0.0

    def fade_and_close(self, ms: int) -> None:
        """On stop: fade out for ``ms`` (real time: the clock does not matter any more), then close."""
        try:
            if self.open and self.output.busy():
                self.output.fade_out(ms)
                end = time.monotonic() + ms / 1000 + 0.1
                while self.output.busy() and time.monotonic() < end:
                    time.sleep(0.02)
        except Exception as e:
            log.warning("fading out on stop failed: %s", e)
        self.close()

    def close(self) -> None:
        """Close the output now (no fade); a later ``tick`` reopens it."""
        output, self.output, self.open = self.output, None, False
        self.fade_until = None
        if output is not None:
            try:
                output.close()
            except Exception as e:  # a dead device may fail to close; it is dropped either way
                log.warning("closing the audio output failed: %s", e)
        self._set_current(None, None)  # and silent: once the device is really closed

    # -- helpers -----------------------------------------------------------------------------------

    def _resume_later(self) -> None:
        """The song playing now starts again (from its beginning) once the output is back."""
        if self.current is not None and self.pending is None:
            self.pending = (self.song_mood or "", self.current, 0)

    def _unplayable(self, path: Path, why: str) -> None:
        once(log, self._warned, f"bad:{path}", "can't play %s (%s): leaving it out", path, why)
        self.discard(path)

    def _set_current(self, path: Path | None, mood: str | None) -> None:
        self.current, self.song_mood = path, mood
        self.on_change()


class StallWatch:
    """True once a playing song's position (seconds) has not moved for ``after`` seconds of ``now``."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._last: tuple[float, float] | None = None  # (position, since)

    def update(self, now: float, position: float | None) -> bool:
        """Feed every tick while playing; ``position`` None (paused, unknown) starts afresh."""
        if position is None or self._last is None or position != self._last[0]:
            self._last = None if position is None else (position, now)
            return False
        return now - self._last[1] > self.after


