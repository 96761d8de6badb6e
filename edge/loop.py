"""Wire the stages together and run them: source -> detect -> classify -> mood -> music / overlay / events.

This module owns nothing but the wiring: every decision lives in a stage. The camera loop never waits
on audio: the player runs on its own thread and ``request`` never blocks.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edge import bundle as bundles
from edge.classify import Classifier
from edge.config import Config
from edge.detect import FaceFinder
from edge.events import EventLog
from edge.mood import MoodFilter
from edge.music.idle import IdleWatch
from edge.music.player import Player
from edge.music.recommend import Recommender
from edge.overlay import Recorder, Window, draw
from edge.sources import as_bgr8, open_source
from edge.types import UNCERTAIN, Frame

log = logging.getLogger(__name__)


@dataclass
class RunStats:
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


class Pipeline:
    """The stages of one run, and ``step(frame)``: everything that happens to one frame."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.bundle = bundles.load(cfg.classify.model_path)
        self.classifier = Classifier(self.bundle, threads=cfg.classify.threads, tta_flip=cfg.classify.tta_flip)
        self.finder = FaceFinder(cfg.detect)
        self.moods = MoodFilter(cfg.mood, self.bundle.labels)
        self.idle = IdleWatch(cfg.music.idle_after)
        self.events = EventLog(cfg.output.events or None)
        # The recommender picks songs (labels, features, feedback); it analyses songs on its own thread.
        self.recommender = Recommender.from_config(cfg.music) if cfg.music.enabled else None
        self.player = Player(cfg.music, picker=self.recommender, on_song=self._on_song,
                             on_feedback=self._on_feedback)
        self.window: Window | None = None
        self.recorder: Recorder | None = None
        self.stats = RunStats()
        self.timer = _Timer()
        self.t = 0.0  # the latest frame time, for events the player thread writes
        self._odd_frames = False  # warned about frames that are not HxWx3 uint8
        self._emotions: list = []  # the faces' latest reading (FaceFinder.reread says when to read again)

    def _on_song(self, mood: str, path: Path) -> None:  # on the player's thread
        self.stats.songs += 1
        self.events.write("song", self.t, mood=mood, path=str(path))
        log.info("playing %s for %s", path, mood)

    def _on_feedback(self, kind: str, mood: str, path: Path) -> None:  # on the player's thread
        self.events.write(kind, self.t, mood=mood, path=str(path))
        if self.recommender is not None:
            self.recommender.feedback(kind, mood, path)

    def open_outputs(self, fps: float | None) -> None:
        if not self.cfg.output.headless:
            self.window = Window(self.cfg.overlay)
        if self.cfg.output.record:
            self.recorder = Recorder(self.cfg.output.record, fps=fps or 15.0)

    def close(self) -> None:
        self.player.stop()
        if self.recommender is not None:
            self.recommender.stop()
        for output in (self.window, self.recorder):
            if output is not None:
                output.close()
        self.events.close()

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
        faces = self.finder.find(frame)
        timer.lap("detect")
        if self.finder.reread or len(faces) != len(self._emotions):  # between re-reads the last reading holds
            self._emotions = self.classifier.classify(frame, faces)
        emotions = self._emotions
        timer.lap("classify")
        mood = self.moods.update(frame.t, faces, emotions)
        self.t = frame.t
        if self.moods.last_change:
            self.stats.moods += 1
            self.events.write("mood", frame.t, mood=mood.label, confidence=round(mood.confidence, 3),
                              faces=mood.faces, valence=round(mood.valence, 3), arousal=round(mood.arousal, 3))
            log.info("t=%.1fs mood %s (%.2f, %d face%s)", frame.t, mood.label, mood.confidence, mood.faces,
                     "" if mood.faces == 1 else "s")
            if mood.label != UNCERTAIN:
                self.player.request(mood.label, point=(mood.valence, mood.arousal))
        if self.idle.update(frame.t, len(faces)):
            self.player.idle()
        timer.lap("mood")
        if self.window is not None or self.recorder is not None:
            song = self.player.current()
            image = draw(frame.image, faces, emotions, mood, song.name if song else None, self.stats.fps or None)
            if self.window is not None:
                self.window.show(image)
                self._keys(stop)
            if self.recorder is not None:
                self.recorder.write(image)
            timer.lap("draw")
        if self.cfg.output.events_frames:
            self.events.write("frame", frame.t, index=frame.index,
                              faces=[{"box": list(f.box), "track": f.track_id, "probs": e.as_dict()}
                                     for f, e in zip(faces, emotions)],
                              mood=mood.label, ms={k: round(1000 * v, 2) for k, v in timer.last.items()})

    def _keys(self, stop: threading.Event) -> None:
        assert self.window is not None
        for key in self.window.poll_keys():
            if key == "q":
                stop.set()
            elif key == "l":
                self.player.like()
            elif key == "s":
                self.player.skip()


def run(cfg: Config, stop: threading.Event | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        on_source: Callable[[str, str], None] | None = None) -> RunStats:
    """Run until the source ends, ``stop`` is set, or ``output.max_frames`` frames were processed.

    Start-up errors (a bad model, songs folder or source) raise before any frame is read.
    ``on_frame`` is called after each processed frame (the service's watchdog hangs off it);
    ``on_source(event, message)`` hears a live camera's "lost" / "waiting" / "back" (edge.sources.resilient).
    """
    stop = stop or threading.Event()
    started = time.perf_counter()
    pipe = Pipeline(cfg)
    stats, every = pipe.stats, cfg.output.log_every
    first = last_log = None
    try:
        source = open_source(cfg.source, stop=stop, on_state=on_source)
        log.info("source: %s; model: %s (%s); songs: %s", source.name, pipe.bundle.name,
                 pipe.bundle.quantization.mode, cfg.music.songs)
        pipe.open_outputs(source.fps)
        pipe.player.start()
        if pipe.recommender is not None:
            pipe.recommender.start(stop)
        with source:
            pipe.timer.start()
            for frame in source:
                pipe.step(frame, stop)
                stats.frames += 1
                now = time.perf_counter()
                if first is None:
                    first, stats.first_frame_s = now, now - started
                stats.seconds = now - first
                if on_frame is not None:
                    on_frame(frame)
                if every and (last_log is None or frame.t - last_log >= every):
                    last_log = frame.t
                    log.info("t=%.1fs frame %d: mood %s, %.1f FPS", frame.t, frame.index, pipe.moods.mood.label,
                             stats.fps)
                if stop.is_set() or (cfg.output.max_frames and stats.frames >= cfg.output.max_frames):
                    break
                pipe.timer.start()
    finally:
        pipe.close()
    if stats.frames:
        stats.stage_ms = {k: round(1000 * v / stats.frames, 3) for k, v in pipe.timer.total.items()}
    log.info("processed %d frames in %.1f s (%.1f FPS); %d mood changes, %d songs; first frame after %.2f s",
             stats.frames, stats.seconds, stats.fps, stats.moods, stats.songs, stats.first_frame_s)
    return stats
