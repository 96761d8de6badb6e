"""Wire the stages together and run them: source -> detect -> classify -> mood -> music / overlay / events.

This module owns nothing but the wiring: every decision lives in a stage. ``Pipeline`` takes its
stages as arguments (each defaults to the one the config describes), so tests and benchmarks pass
their own. The camera loop never waits on audio: the player decides a song at the frame that asks for
it (the song event is written then, at that frame's time) and plays it on its own thread.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge import bundle as bundles
from edge import display
from edge.classify import Classifier
from edge.config import Config
from edge.control.glue import PlayerControls
from edge.control.server import ControlServer
from edge.control.steer import Steering
from edge.detect import FaceFinder
from edge.events import EventLog
from edge.mood import MoodFilter
from edge.music import outputs
from edge.music.feedback import state_dir
from edge.music.idle import IdleWatch
from edge.music.player import OnFeedback, Player, Recommending
from edge.music.playlists import describe
from edge.nowplaying import title_from_name
from edge.overlay import NoDisplayError, Recorder, Window, draw
from edge.privacy import OFF_BY_LISTENER, Privacy
from edge.sources import Source, as_bgr8, open_source
from edge.sources.shutter import Shutter
from edge.types import UNCERTAIN, Frame, Mood

log = logging.getLogger(__name__)

SETTLE_MAX_S = 5.0  # at the end of a file, wait at most this long for the last song to start


@dataclass
class RunStats:
    """Figures of one run; only ``Pipeline`` writes them."""

    frames: int = 0
    seconds: float = 0.0  # wall time from the first processed frame to the last
    first_frame_s: float = 0.0  # wall time from start to the first processed frame
    moods: int = 0
    songs: int = 0
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean wall time per frame and stage

    @property
    def fps(self) -> float:
        return (self.frames - 1) / self.seconds if self.seconds > 0 else 0.0


class _Timer:
    """Per-stage wall time: ``lap(stage)`` charges the time since the previous lap to ``stage``."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.last[stage] = now - self._t
        self.total[stage] = self.total.get(stage, 0.0) + now - self._t
        self._t = now


class PlayerReports:
    """What the player decided (a mood's first song on the loop's thread; a song that ended, a skip or a
    like on its own), queued for the loop, which writes them at its own frame time: the player never
    writes the event log and never reads the loop's clock. ``keep`` (the recommender's ``feedback``)
    hears a like or skip at once, on the player's thread, so none is lost while no frames come.
    Bounded: a camera away for hours keeps the newest ``size``."""

    def __init__(self, keep: OnFeedback | None = None, size: int = 256) -> None:
        self._keep = keep
        self._queue: collections.deque[tuple[str, str, Path]] = collections.deque(maxlen=size)  # thread-safe ends

    def song(self, mood: str, path: Path) -> None:
        self._queue.append(("song", mood, path))

    def feedback(self, kind: str, mood: str, path: Path) -> None:
        if self._keep is not None:
            self._keep(kind, mood, path)
        self._queue.append((kind, mood, path))

    def drain(self) -> list[tuple[str, str, Path]]:
        """Everything reported since the last call, oldest first: (type, mood, path)."""
        out = []
        while self._queue:
            out.append(self._queue.popleft())
        return out


class Pipeline:
    """The stages of one run, built once, and ``step(frame)``: everything that happens to one frame.

    Every stage may be passed in; a stage not given is built from ``cfg``. ``music_output`` makes the
    player's output (default: the one ``cfg.music.output`` names). With ``cfg.control.socket`` set, a
    ``Steering`` applies the socket's commands between frames and listens to the event log. Every event
    is written on the loop's thread at a frame's time: the player's decisions come back through
    ``PlayerReports`` (a ``player`` passed in reports to whatever callbacks it was given).
    """

    def __init__(self, cfg: Config, *, bundle: bundles.Bundle | None = None, classifier: Classifier | None = None,
                 finder: FaceFinder | None = None, moods: MoodFilter | None = None,
                 recommender: Recommending | None = None, player: Player | None = None,
                 music_output: outputs.OutputFactory | None = None) -> None:
        self._started = time.perf_counter()
        self.cfg = cfg
        self.bundle = bundle or bundles.load(cfg.classify.model_path)
        self.classifier = classifier or Classifier(self.bundle, threads=cfg.classify.threads,
                                                   tta_flip=cfg.classify.tta_flip)
        self.finder = finder or FaceFinder(cfg.detect)
        self.moods = moods or MoodFilter(cfg.mood, self.bundle.labels)
        self.idle = IdleWatch(cfg.music.idle_after)
        # The recommender picks songs (labels, features, feedback); it analyses songs on its own thread.
        if recommender is None and player is None and cfg.music.enabled:
            from edge.music.recommend import Recommender

            recommender = Recommender.from_config(cfg.music)
        self.recommender = recommender
        self.reports = PlayerReports(keep=recommender.feedback if recommender is not None else None)
        self.player = player or Player(cfg.music, recommender, on_song=self.reports.song,
                                       on_feedback=self.reports.feedback, output=music_output)
        # The listener's privacy switch (edge.privacy): only with a socket to turn it with.
        self.privacy = Privacy.load(state_dir(cfg.music.state_dir)) if cfg.control.socket else None
        self.steering = (Steering(PlayerControls(self.player, recommender), self.bundle.labels,
                                  privacy=self.privacy, model=self.bundle.name)
                         if cfg.control.socket else None)
        self.events = EventLog(cfg.output.events or None, max_bytes=int(cfg.output.events_max_mb * 1024 * 1024),
                               keep=cfg.output.events_keep,
                               listeners=(self.steering.on_event,) if self.steering is not None else ())
        self.window: Window | None = None
        self.recorder: Recorder | None = None
        self.stats = RunStats()
        self.timer = _Timer()
        self.last_t = 0.0  # the latest frame time (the loop's thread only): stamps reports between frames
        self._odd_frames = False  # warned about frames that are not HxWx3 uint8
        self._first: float | None = None
        self._unhealthy = False
        self._tags: tuple[object, str | None, str | None] = (None, None, None)  # the last song event's
        self._emotions: list = []  # the faces' latest reading (Found.reread says when to read again)

    def write_reports(self, t: float) -> None:
        """Write what the player reported since the last frame, at frame time ``t`` (the loop's thread)."""
        for kind, mood, path in self.reports.drain():
            tags = {}
            if kind == "song":
                self.stats.songs += 1
                log.info("t=%.1fs song %s for %s", t, path, mood)
                title, artist = self._describe(path)
                tags = {"title": title, "artist": artist}
                self._tags = (path, title, artist)  # the now-playing view's, without a disk read
            self.events.write(kind, t, mood=mood, path=str(path), **tags)

    def _describe(self, song: Path) -> tuple[str | None, str | None]:
        """(title, artist) a song event carries: what the recommender knows in memory (a server's tags,
        a file's tags the analysis thread read), else none. No disk on the camera thread."""
        return self.recommender.describe(song) if self.recommender is not None else describe(song)

    def _shown_tags(self, song: Path | None) -> tuple[str, str]:
        """The now-playing view's title and artist: the song event's, else the file's name."""
        if song is None:
            return "", ""
        if self._tags[0] == song and self._tags[1]:
            return self._tags[1], self._tags[2] or ""
        return title_from_name(song), ""

    def healthy(self) -> bool:
        """False once the music player gave up or hangs: the service stops feeding the watchdog."""
        alive = self.player.alive()
        if not alive and not self._unhealthy:
            log.error("the music player is dead or hung: withholding the watchdog so the service restarts")
        self._unhealthy = not alive
        return alive

    def open_outputs(self, fps: float | None, unattended: bool = False) -> None:
        """The overlay window and the recording. No screen for the window: ``NoDisplayError`` by hand;
        ``unattended`` (a service, where a screen may be off or absent at boot): one warning, run headless."""
        if not self.cfg.output.headless:
            try:
                self.window = Window(self.cfg.overlay)
            except NoDisplayError as e:
                if not unattended:
                    raise
                log.warning("no screen for the overlay (tried %s): running headless; turn the screen on, then "
                            "sudo systemctl restart moodplayer (docs/raspberry-pi.md §6)", display.summary(e.tried))
        if self.cfg.output.record:
            self.recorder = Recorder(self.cfg.output.record, fps=fps or 15.0)

    def start(self, stop: threading.Event) -> None:
        self.player.start()
        if self.recommender is not None:
            self.recommender.start(stop)

    def close(self, settle: bool = False) -> None:
        """Stop every stage; ``settle``: first let the last decided song start (a file that ended)."""
        if settle:
            self.player.settle(min(SETTLE_MAX_S, 2 * self.cfg.music.fade_ms / 1000 + 1.0))
        self.player.stop()
        if self.recommender is not None:
            self.recommender.stop()
        self.write_reports(self.last_t)
        for output in (self.window, self.recorder):
            if output is not None:
                output.close()
        self.events.close()
        if self.stats.frames:
            self.stats.stage_ms = {k: round(1000 * v / self.stats.frames, 3) for k, v in self.timer.total.items()}

    def step(self, frame: Frame, stop: threading.Event) -> None:
        timer = self.timer
        image = frame.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
            # A source that breaks the Frame contract (gray, BGRA, 16-bit, empty): convert it, or SourceError.
            if not self._odd_frames:
                log.warning("frames are %s %s, not HxWx3 uint8 BGR: converting each one", image.shape, image.dtype)
                self._odd_frames = True
            frame = dataclasses.replace(frame, image=as_bgr8(image))
        timer.lap("read")
        found = self.finder.find(frame)
        faces = list(found.faces)
        timer.lap("detect")
        if found.reread:  # else the last reading holds
            self._emotions = self.classifier.classify(frame, faces)
        emotions = self._emotions
        timer.lap("classify")
        mood = self._decide(frame.t, *self.moods.update(frame.t, faces, emotions))
        if self.idle.update(frame.t, len(faces)):
            self.player.idle()
        timer.lap("mood")
        if self.window is not None or self.recorder is not None:
            song = self.player.current()
            camera = self.window is not None and self.cfg.overlay.view == "camera"
            image = None
            if camera or self.recorder is not None:
                image = draw(frame.image, faces, emotions, mood, song.name if song else None, self.stats.fps or None)
            if self.window is not None:
                if camera:
                    self.window.show(image)
                else:  # the now-playing view is never given the camera image
                    title, artist = self._shown_tags(song)
                    self.window.show_now_playing(frame.t, mood, title, artist)
                self._keys(stop)
            if self.recorder is not None:
                self.recorder.write(image)
            timer.lap("draw")
        if self.cfg.output.events_frames:
            self.events.write("frame", frame.t, index=frame.index,
                              faces=[{"box": list(f.box), "track": f.track_id, "probs": e.as_dict()}
                                     for f, e in zip(faces, emotions)],
                              mood=mood.label, ms={k: round(1000 * v, 2) for k, v in timer.last.items()})
        self._count_frame()

    def _mood_changed(self, t: float, mood: Mood) -> None:
        self.stats.moods += 1
        source = {"source": self.steering.source} if self.steering is not None else {}
        self.events.write("mood", t, mood=mood.label, confidence=round(mood.confidence, 3), faces=mood.faces,
                          valence=round(mood.valence, 3), arousal=round(mood.arousal, 3), **source)
        log.info("t=%.1fs mood %s (%.2f, %d face%s)", t, mood.label, mood.confidence, mood.faces,
                 "" if mood.faces == 1 else "s")
        if mood.label != UNCERTAIN:  # the song it decides is reported, and written at frame time t
            self.player.request(mood.label, point=(mood.valence, mood.arousal), t=t)

    def tick(self, t: float) -> None:
        """No frame at frame time ``t`` (privacy keeps the camera closed): nobody is watched, so the camera's
        verdict is ``uncertain``; the socket's commands still apply, and an override set meanwhile still
        asks the player for its mood."""
        if self.steering is not None:
            self._decide(t, Mood(UNCERTAIN, 0.0, t, 0, 0.0, 0.0), False)

    def _decide(self, t: float, mood: Mood, changed: bool) -> Mood:
        """The mood in effect at frame time ``t`` (an override holds through what the faces say), its events,
        the player asked on a change, and what the player reported since; returns that mood."""
        if self.steering is not None:
            mood, changed, caused = self.steering.update(t, mood, changed)
            for kind, fields in caused:
                self.events.write(kind, t, **fields)
        self.last_t = t
        if changed:
            self._mood_changed(t, mood)
        self.write_reports(t)
        return mood

    def _count_frame(self) -> None:
        now = time.perf_counter()
        self.stats.frames += 1
        if self._first is None:
            self._first = now
            self.stats.first_frame_s = now - self._started
        self.stats.seconds = now - self._first

    def _keys(self, stop: threading.Event) -> None:
        assert self.window is not None
        for key in self.window.poll_keys():
            if key == "q":
                stop.set()
            elif key == "l":
                self.player.like()
            elif key == "s":
                self.player.skip()


def open_shutter(pipe: Pipeline, privacy: Privacy, factory: Callable[[], Source], name: str,
                 stop: threading.Event, on_source: Callable[[str, str], None]) -> Shutter:
    """``factory()``'s source behind the listener's privacy switch: closing it is logged as a ``camera``
    event, sends the music to its idle policy and tells the service (READY, watchdog) it is alive."""

    def switched(off: bool, t: float) -> None:
        state = OFF_BY_LISTENER if off else "on"
        pipe.events.write("camera", t, state=state)
        if pipe.steering is not None:
            pipe.steering.set_camera(state)
        if off:
            pipe.player.idle()
        on_source("lost" if off else "back", f"camera {state}")

    def tick(t: float) -> None:
        pipe.tick(t)
        on_source("waiting", f"camera {OFF_BY_LISTENER}")

    return Shutter(factory, privacy, name=name, stop=stop, on_change=switched, on_tick=tick)


def run(cfg: Config, stop: threading.Event | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        on_source: Callable[[str, str], None] | None = None,
        pipeline: Callable[[Config], Pipeline] = Pipeline, *, wait_for_camera: bool = False) -> RunStats:
    """Run until the source ends, ``stop`` is set, or ``output.max_frames`` frames were processed.

    Start-up errors (a bad model, songs folder or source) raise before any frame is read.
    ``on_frame`` is called after each processed frame (the service's watchdog hangs off it);
    ``on_source(event, message)`` hears a live camera's "lost" / "waiting" / "back" (edge.sources.resilient).
    ``wait_for_camera`` (a service): a camera absent at start or lost is waited for, never an error;
    meanwhile the music follows ``music.idle`` as for an empty room; and an overlay with no screen to
    open runs headless with one warning (by hand that is ``NoDisplayError``, exit 2).
    Both are withheld while the music player is dead or hung (``Pipeline.healthy``), so the watchdog
    starves. ``pipeline`` builds the stages (tests pass their own).
    """
    stop = stop or threading.Event()
    pipe = pipeline(cfg)
    stats = pipe.stats
    ended = False
    control = None

    def service(event: str, message: str) -> None:
        if on_source is not None and (event != "waiting" or pipe.healthy()):
            on_source(event, message)

    def source_state(event: str, message: str) -> None:
        if event == "lost":
            pipe.player.idle()  # no camera, nobody seen: the idle policy holds until frames come back
        pipe.write_reports(pipe.last_t)  # songs that ended, likes: written while no frames come
        if pipe.steering is not None and event in ("lost", "back"):
            pipe.steering.set_camera("lost" if event == "lost" else "on")
        service(event, message)

    try:
        if pipe.steering is not None:  # the socket's commands and mood override (docs/web.md)
            control = ControlServer(cfg.control.socket, pipe.steering)
            control.start()

        def opener() -> Source:
            return open_source(cfg.source, stop=stop, on_state=source_state, wait_for_camera=wait_for_camera,
                               lores_width=cfg.detect.detect_width)  # picamera2's lores: Frame.lores

        source = opener() if pipe.privacy is None else \
            open_shutter(pipe, pipe.privacy, opener, cfg.source.spec, stop, service)
        log.info("source: %s; model: %s (%s); songs: %s", source.name, pipe.bundle.name,
                 pipe.bundle.quantization.mode, cfg.music.songs)
        pipe.open_outputs(source.fps, unattended=wait_for_camera)
        pipe.start(stop)
        with source:
            ended = _frames(pipe, source, stop, on_frame)
    finally:
        if control is not None:
            control.close()
        pipe.close(settle=ended)
    log.info("processed %d frames in %.1f s (%.1f FPS); %d mood changes, %d songs; first frame after %.2f s",
             stats.frames, stats.seconds, stats.fps, stats.moods, stats.songs, stats.first_frame_s)
    return stats


def _frames(pipe: Pipeline, source: Source, stop: threading.Event,
            on_frame: Callable[[Frame], None] | None) -> bool:
    """Step every frame of ``source`` through ``pipe`` until it ends (True), ``stop`` is set or
    ``output.max_frames`` were processed; a progress line every ``output.log_every`` s of frame time."""
    cfg, stats, last_log = pipe.cfg, pipe.stats, None
    pipe.timer.start()
    for frame in source:
        pipe.step(frame, stop)
        if on_frame is not None and pipe.healthy():
            on_frame(frame)
        if cfg.output.log_every and (last_log is None or frame.t - last_log >= cfg.output.log_every):
            last_log = frame.t
            log.info("t=%.1fs frame %d: mood %s, %.1f FPS", frame.t, frame.index, pipe.moods.mood.label, stats.fps)
        if stop.is_set() or (cfg.output.max_frames and stats.frames >= cfg.output.max_frames):
            break
        pipe.timer.start()
    return not stop.is_set()
