"""The player's state machine on an injected clock: decisions at request time, fades, song ends,
unplayable songs, idle, skip/like, a device that goes away and comes back, restarts and giving up.

The output here is a model of one on the test's clock (a song plays for its length, a fade ends when
its milliseconds have passed), so minutes pass without sleeping. Real audio through SDL is in
tests/test_music.py; a real MPD in tests/test_mpd.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.music.config import MusicConfig
from edge.music.outputs import OutputError, SongError
from edge.music.player import Player, PlayerStatus

SONGS = {"happy": ["h1.ogg", "h2.ogg"], "sad": ["s1.ogg", "s2.ogg"], "neutral": ["n1.ogg"]}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class RoundRobin:
    """A picker over SONGS: each mood's songs in turn; records every call."""

    def __init__(self, songs: dict[str, list[str]] = SONGS) -> None:
        self.songs = {m: [Path(m) / n for n in names] for m, names in songs.items()}
        self.calls: list[tuple[str, tuple | None]] = []
        self.discarded: list[Path] = []
        self._turn: dict[str, int] = {}

    def next(self, mood: str, point=None) -> Path | None:
        self.calls.append((mood, point))
        songs = [p for p in self.songs.get(mood, []) if p not in self.discarded]
        if not songs:
            return None
        i = self._turn.get(mood, 0)
        self._turn[mood] = i + 1
        return songs[i % len(songs)]

    def discard(self, path: Path) -> None:
        self.discarded.append(path)


class World:
    """What the modelled speaker did, and the faults the test injects."""

    def __init__(self, clock: Clock, length: float = 10.0) -> None:
        self.clock, self.length = clock, length
        self.played: list[tuple[float, str, int]] = []  # (t, song name, fade-in ms)
        self.plugged = True
        self.bad: set[str] = set()
        self.crash: Exception | None = None
        self.hung = False  # the device stopped taking audio: the position freezes, "playing" goes on
        self.opens = 0
        self.volume: float | None = None


class ModelOutput:
    name = "model"

    def __init__(self, world: World) -> None:
        self.w = world
        self.song: Path | None = None
        self.ends = 0.0
        self.paused_at: float | None = None
        self.started = 0.0
        self.frozen: float | None = None

    def open(self) -> None:
        if not self.w.plugged:
            raise OutputError("no such device")
        self.w.opens += 1

    def play(self, path: Path, fade_in_ms: int = 0) -> None:
        if self.w.crash is not None:
            raise self.w.crash
        if path.name in self.w.bad:
            raise SongError("not an audio file")
        self.w.played.append((self.w.clock.t, path.name, fade_in_ms))
        self.song, self.ends, self.started = path, self.w.clock.t + self.w.length, self.w.clock.t

    def fade_out(self, ms: int) -> None:
        self.ends = min(self.ends, self.w.clock.t + ms / 1000)

    def stop(self) -> None:
        self.song = None

    def set_volume(self, volume: float) -> None:
        self.w.volume = volume

    def pause(self) -> None:
        self.paused_at = self.w.clock.t

    def resume(self) -> None:
        self.ends += self.w.clock.t - self.paused_at
        self.paused_at = None

    def busy(self) -> bool:
        return self.song is not None and self.paused_at is None and self.w.clock.t < self.ends

    def position(self) -> float | None:
        if self.song is None:
            return None
        if self.w.hung:
            self.frozen = self.frozen if self.frozen is not None else self.w.clock.t - self.started
            self.ends = self.w.clock.t + 1.0  # it never ends
            return self.frozen
        return self.w.clock.t - self.started

    def alive(self) -> bool:
        return self.w.plugged

    def close(self) -> None:
        self.song = None


def make(clock: Clock, world: World | None = None, picker: RoundRobin | None = None, **config):
    world = world or World(clock)
    picker = picker or RoundRobin()
    songs: list[tuple[float, str, str]] = []
    feedback: list[tuple[str, str, str]] = []
    player = Player(MusicConfig(**{"fade_ms": 1000, **config}), picker,
                    on_song=lambda mood, path: songs.append((clock.t, mood, path.name)),
                    on_feedback=lambda kind, mood, path: feedback.append((kind, mood, path.name)),
                    output=lambda: ModelOutput(world), clock=clock, retry_s=3.0, restart_s=5.0)
    return player, world, picker, songs, feedback


def run_until(player: Player, clock: Clock, until: float, dt: float = 0.05) -> None:
    while clock.t < until - 1e-9:
        clock.t = round(clock.t + dt, 6)
        player.step(clock.t)


def test_a_request_decides_at_once_and_the_thread_plays_it() -> None:
    clock = Clock()
    player, world, picker, songs, _ = make(clock)
    clock.t = 9.9
    assert player.request("happy", point=(0.5, 0.2), t=9.9) == Path("happy/h1.ogg")
    assert songs == [(9.9, "happy", "h1.ogg")] and world.played == []  # decided, not yet played
    assert picker.calls == [("happy", (0.5, 0.2))]
    player.step(9.9)
    assert world.played == [(9.9, "h1.ogg", 1000)] and player.current() == Path("happy/h1.ogg")
    assert player.request("happy", point=(0.6, 0.1)) is None  # same mood: only the point changes
    assert player.request("uncertain", point=(0.0, 0.0)) is None
    assert len(picker.calls) == 1 and player.status().mood == "happy"
    clock.t = 12.0
    assert player.request("sad", point=(-0.5, -0.2)) == Path("sad/s1.ogg")
    assert picker.calls[-1] == ("sad", (-0.5, -0.2))
    run_until(player, clock, 12.9)
    assert player.current() == Path("happy/h1.ogg")  # fading out
    run_until(player, clock, 13.3)  # 1 s fade + the margin
    assert world.played[-1][1:] == ("s1.ogg", 1000) and 13.0 <= world.played[-1][0] <= 13.25
    assert [s[1] for s in songs] == ["happy", "sad"]


def test_a_song_that_ends_is_followed_by_the_next_of_its_mood() -> None:
    clock = Clock()
    player, world, _, songs, _ = make(clock)
    player.request("happy")
    run_until(player, clock, 25.0)
    assert [(round(t), n, f) for t, n, f in world.played] == [(0, "h1.ogg", 1000), (10, "h2.ogg", 0),
                                                              (20, "h1.ogg", 0)]
    assert [s[2] for s in songs] == ["h1.ogg", "h2.ogg", "h1.ogg"]


def test_cut_switches_at_once() -> None:
    clock = Clock()
    player, world, _, _, _ = make(clock, transition="cut")
    player.request("happy")
    run_until(player, clock, 2.0)
    player.request("sad")
    player.step(clock.t)
    assert world.played[-1] == (2.0, "s1.ogg", 0)


def test_unplayable_songs_are_discarded_and_replaced(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    world = World(clock)
    world.bad = {"h1.ogg"}
    player, _, picker, songs, _ = make(clock, world)
    with caplog.at_level(logging.WARNING):
        player.request("happy")
        run_until(player, clock, 25.0)
    assert picker.discarded == [Path("happy/h1.ogg")]
    assert {n for _, n, _ in world.played} == {"h2.ogg"} and len(world.played) == 3
    assert [s[2] for s in songs][:2] == ["h1.ogg", "h2.ogg"]  # the decision, then its replacement
    assert len([r for r in caplog.records if "h1.ogg" in r.getMessage()]) == 1
    world.bad = {"s1.ogg", "s2.ogg"}
    with caplog.at_level(logging.WARNING):
        player.request("sad")
        run_until(player, clock, 40.0)
    assert player.current() is None and not player.silent  # quiet until the mood changes
    assert sum("no playable songs for mood 'sad'" in r.getMessage() for r in caplog.records) == 1


def test_idle_fades_to_quiet_and_the_same_mood_plays_again() -> None:
    clock = Clock()
    player, world, _, _, _ = make(clock, idle="fade")
    player.request("sad")
    run_until(player, clock, 2.0)
    player.idle()
    run_until(player, clock, 3.5)
    assert player.current() is None and player.status().mood is None
    run_until(player, clock, 30.0)
    assert len(world.played) == 1  # stays quiet
    assert player.request("sad") == Path("sad/s2.ogg")
    player.step(clock.t)
    assert world.played[-1][1] == "s2.ogg"
    keep, w2, _, _, _ = make(clock, idle="keep")
    keep.request("sad")
    keep.step(clock.t)
    keep.idle()
    run_until(keep, clock, clock.t + 3.0)
    assert keep.current() == Path("sad/s1.ogg")


def test_skip_and_like_reach_the_feedback_callback() -> None:
    clock = Clock()
    player, world, _, songs, feedback = make(clock)
    player.like()  # nothing playing: nothing to like
    player.request("sad")
    run_until(player, clock, 1.0)
    player.like()
    player.skip()
    run_until(player, clock, 2.0)
    assert feedback == [("like", "sad", "s1.ogg"), ("skip", "sad", "s1.ogg")]
    assert [n for _, n, _ in world.played] == ["s1.ogg", "s2.ogg"] and player.current() == Path("sad/s2.ogg")
    assert [s[2] for s in songs] == ["s1.ogg", "s2.ogg"]


def test_volume_pause_resume_and_status() -> None:
    clock = Clock()
    player, world, _, _, _ = make(clock)
    assert player.status() == PlayerStatus(None, None, 0.8, False, True)
    player.request("happy")
    player.step(0.0)
    player.set_volume(0.3)
    player.pause()
    run_until(player, clock, 30.0)  # paused: the song does not end, nothing new starts
    assert player.status() == PlayerStatus(Path("happy/h1.ogg"), "happy", 0.3, True, False)
    assert world.volume == 0.3 and len(world.played) == 1
    player.resume()
    run_until(player, clock, 41.0)
    assert [n for _, n, _ in world.played] == ["h1.ogg", "h2.ogg"]
    with pytest.raises(ValueError, match="between 0 and 1"):
        player.set_volume(1.5)


def test_a_missing_device_is_retried_with_backoff_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    world = World(clock)
    world.plugged = False
    player, _, _, songs, _ = make(clock, world)
    with caplog.at_level(logging.WARNING):
        assert player.request("happy") is not None  # decided (and logged) though nothing can play it
        run_until(player, clock, 20.0)
    assert player.silent and world.played == [] and songs == [(0.0, "happy", "h1.ogg")]
    assert sum("no audio output" in r.getMessage() for r in caplog.records) == 1
    world.plugged = True  # tries at 0, 3, 9, 21 s (3 s doubling)
    run_until(player, clock, 20.95)
    assert player.silent
    run_until(player, clock, 21.1)
    assert not player.silent and world.played == [(21.05, "h1.ogg", 1000)]


def test_a_device_that_goes_away_is_reopened_and_the_song_resumes(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    player, world, _, songs, _ = make(clock)
    player.request("happy")
    run_until(player, clock, 4.0)
    with caplog.at_level(logging.WARNING):
        world.plugged = False  # unplugged at 4 s
        run_until(player, clock, 4.05)
        assert player.silent and player.current() is None
        run_until(player, clock, 6.0)
        world.plugged = True  # back at 6 s; the retry 3 s after the loss opens it
        run_until(player, clock, 7.0)
        assert player.silent
        run_until(player, clock, 7.1)
    assert not player.silent and world.played[-1] == (7.05, "h1.ogg", 0)  # the same song, again
    assert len(songs) == 1  # no new decision
    messages = [r.getMessage() for r in caplog.records]
    assert any("audio output lost" in m for m in messages) and any("audio output back" in m for m in messages)


def test_a_device_that_hangs_is_noticed_by_its_position(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    player, world, _, _, _ = make(clock)
    player.request("happy")
    run_until(player, clock, 2.0)
    world.hung = True  # e.g. an ALSA write that never returns: still "playing", the position stuck
    with caplog.at_level(logging.WARNING):
        run_until(player, clock, 7.0)
        assert not player.silent  # 5 s of a frozen position is allowed
        run_until(player, clock, 7.2)
        assert player.silent
    assert any("position stopped moving" in r.getMessage() for r in caplog.records)
    world.hung = False
    run_until(player, clock, 10.3)  # reopened 3 s later, the song starts again
    assert not player.silent and world.played[-1][1] == "h1.ogg" and len(world.played) == 2


def test_an_unexpected_error_restarts_the_player_then_it_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    player, world, _, _, _ = make(clock)
    player.request("happy")
    world.crash = RuntimeError("boom")
    with caplog.at_level(logging.ERROR):
        player.step(0.0)
        assert player.restarts == 1 and player.alive(0.0) and player.silent
        world.crash = None
        run_until(player, clock, 4.9)
        assert world.played == []  # pausing before the restart
        run_until(player, clock, 5.1)
        assert world.played == [(5.0, "h1.ogg", 1000)] and player.current() == Path("happy/h1.ogg")
        world.crash = RuntimeError("boom again")
        player.request("sad")
        run_until(player, clock, 60.0)  # dies at each restart: 5 deaths within 10 minutes
    assert player.restarts == Player.MAX_DEATHS and not player.alive(clock.t)
    assert any("giving up" in r.getMessage() for r in caplog.records)
    assert any("restarting it in 5.0 s" in r.getMessage() for r in caplog.records)


def test_deaths_spread_over_time_never_give_up() -> None:
    clock = Clock()
    player, world, _, _, _ = make(clock)
    player.request("happy")
    for minute in range(30):  # one death every 3 minutes: never 5 within 10 minutes
        world.crash = RuntimeError("rare")
        clock.t = minute * 180.0
        player.step(clock.t)
        world.crash = None
        run_until(player, clock, clock.t + 6.0)
        assert player.alive(clock.t) and player.current() is not None
    assert player.restarts == 30


def test_a_picker_that_fails_restarts_the_player_thread_but_never_the_loop() -> None:
    class Failing(RoundRobin):
        def next(self, mood, point=None):
            if mood == "sad" or any(m == "happy" for m, _ in self.calls):
                self.calls.append((mood, point))
                raise RuntimeError("ranking bug")
            return super().next(mood, point)

    clock = Clock()
    player, world, picker, _, _ = make(clock, picker=Failing())
    assert player.request("sad") is None  # on the camera loop's thread: logged, never raised
    assert player.request("happy") == Path("happy/h1.ogg")  # the first pick works ...
    run_until(player, clock, 11.0)
    assert player.restarts == 1 and player.current() is None  # ... the next, when h1 ended at 10 s, fails
    run_until(player, clock, 60.0)  # each restart asks again: it keeps failing, so the player gives up
    assert player.restarts == Player.MAX_DEATHS and not player.alive(clock.t)
    assert [n for _, n, _ in world.played] == ["h1.ogg"]


def test_a_hung_player_is_not_alive() -> None:
    """The player thread stuck in its output (a read on a dead USB stick): its heartbeat stops."""
    import threading

    entered, release = threading.Event(), threading.Event()

    class Hanging(ModelOutput):
        def open(self) -> None:
            entered.set()
            release.wait(30)

    clock = Clock()
    clock.t = 100.0
    world = World(clock)
    player = Player(MusicConfig(), RoundRobin(), output=lambda: Hanging(world), clock=clock)
    player.start()
    try:
        assert entered.wait(10)
        assert player.alive(100.0 + Player.HANG_S)
        assert not player.alive(100.0 + Player.HANG_S + 0.1)
    finally:
        release.set()
        player.stop()


def test_disabled_music_needs_no_picker_and_plays_nothing() -> None:
    off = Player(MusicConfig(enabled=False))
    off.start()
    assert off.request("happy") is None and off.silent and off.current() is None and off.alive()
    off.stop()
    with pytest.raises(ValueError, match="needs a picker"):
        Player(MusicConfig())
