"""The loop's side of the control socket: commands applied between frames, the mood override, today's
history, and a status snapshot other threads can read without waiting for the loop.

Everything time-related uses frame time: an override set at frame time ``t`` for ``m`` minutes ends at
the first frame at or after ``t + 60 m``, so a video at any speed gives the same events.
"""

from __future__ import annotations

import collections
import datetime
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from edge.circumplex import CIRCUMPLEX
from edge.control.protocol import HISTORY_TYPES
from edge.privacy import Privacy
from edge.types import UNCERTAIN, Mood

log = logging.getLogger(__name__)


Listener = Callable[[dict[str, Any]], None]
#: An event a command caused, for the loop to write at its frame time: (type, fields).
Event = tuple[str, dict[str, Any]]


class Steered(NamedTuple):
    """What ``Steering.update`` decided on one frame: the mood in effect, whether it changed, and the
    events the applied commands caused (override, volume, strategy, pause, resume), in order."""

    mood: Mood
    changed: bool
    events: tuple[Event, ...] = ()


class Controllable(Protocol):
    """What the camera loop lets the socket steer. Every method returns at once (the player's own
    thread does the work); ``status`` returns ``song`` (path or None), ``volume``, ``paused`` and
    ``strategy``."""

    def like(self) -> None: ...
    def skip(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def set_volume(self, volume: float) -> None: ...
    def set_strategy(self, name: str) -> None: ...
    def status(self) -> Mapping[str, Any]: ...


class Steering:
    """Applies socket commands on the loop's thread and keeps what the socket reports.

    ``submit`` (any thread) queues a checked command, raising ``queue.Full`` when ``queue_max`` are
    waiting. ``update`` (loop thread, once a frame) applies them and returns what it decided
    (``Steered``): the mood in effect and the events to write. ``on_event`` is the event log's listener
    (any thread): history and the subscribers. ``status`` and ``history`` are safe from any thread and
    never wait for the loop.
    """

    def __init__(self, controls: Controllable, labels: Iterable[str], *,
                 wall: Callable[[], float] = time.time, history_max: int = 5000, queue_max: int = 64,
                 status_every: float = 1.0, privacy: Privacy | None = None, model: str = "") -> None:
        self.controls = controls
        self.privacy = privacy  # the listener's "stop watching" switch (None: not offered)
        self.model = model
        self.labels = tuple(labels)
        self.wall = wall
        self.status_every = status_every  # frame seconds between status pushes to subscribers
        self.listeners: list[Listener] = []
        self._commands: queue.Queue[dict[str, Any]] = queue.Queue(queue_max)
        self._lock = threading.Lock()
        self._history: collections.deque[dict[str, Any]] = collections.deque(maxlen=history_max)
        self._status: dict[str, Any] = {"mood": None, "source": UNCERTAIN, "labels": list(self.labels)}
        self._override: tuple[str, float] | None = None  # (label, frame time it ends)
        self._mood: Mood | None = None  # in effect
        self._camera: Mood | None = None
        self._last_push: float | None = None
        self._device = "on"  # the camera device: on | lost | off (by the listener)

    # -- any thread --------------------------------------------------------------------------------

    def submit(self, command: Mapping[str, Any]) -> None:
        if command["op"] == "privacy":  # at once, not between frames: no frame comes while it is on
            if self.privacy is None:
                log.warning("privacy switch ignored: this camera loop has no privacy switch")
                return
            self.privacy.set(bool(command["on"]))
            return
        self._commands.put_nowait(dict(command))

    def status(self) -> dict[str, Any]:
        return self._status  # replaced whole on the loop thread, never mutated

    def history(self) -> list[dict[str, Any]]:
        """Today's (local wall-clock date) mood, song, override, like and skip events, oldest first."""
        midnight = datetime.datetime.combine(datetime.date.fromtimestamp(self.wall()), datetime.time()).timestamp()
        with self._lock:
            return [e for e in self._history if e["time"] >= midnight]

    def on_event(self, type: str, t: float, fields: Mapping[str, Any]) -> None:
        event = {"t": round(float(t), 3), "type": type, **fields}
        event.setdefault("time", round(self.wall(), 3))
        if type in HISTORY_TYPES:
            with self._lock:
                self._history.append(event)
        self._publish(event)

    def _publish(self, event: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a listener's bug never reaches the loop
                log.exception("control listener %r failed", listener)

    # -- the loop thread ---------------------------------------------------------------------------

    def set_camera(self, state: str) -> None:
        """What the camera device is doing now (on, lost, or ``privacy.OFF_BY_LISTENER``): in the status at
        once (no frame may come for a while), and pushed to subscribers."""
        self._device = state
        self._status = {**self._status, "camera_device": state,
                        "privacy": self.privacy is not None and self.privacy.on}
        if self.listeners:
            self._publish({"type": "status", **self._status})

    @property
    def source(self) -> str:
        if self._override is not None:
            return "override"
        return "camera" if self._mood is not None and self._mood.label != UNCERTAIN else "uncertain"

    def update(self, t: float, camera: Mood, changed: bool) -> Steered:
        """Apply queued commands at frame time ``t``; ``camera`` is the mood filter's verdict and
        ``changed`` whether it just changed. Returns the mood in effect (an override's, at its circumplex
        point, while one holds), whether that changed (the loop logs it and asks the player for it), and
        the events the commands caused."""
        self._camera = camera
        before = self._mood
        events: list[Event] = []
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            events += self._apply(t, command)
        if self._override is not None and t >= self._override[1]:
            events.append(("override", {"mood": None, "reason": "ended"}))
            self._override = None
        if self._override is not None:
            label = self._override[0]
            if before is None or before.label != label or self._mood is None:
                valence, arousal = CIRCUMPLEX.get(label, (0.0, 0.0))
                self._mood = Mood(label, 1.0, t, camera.faces, valence, arousal)
        else:
            self._mood = camera
        now_changed = (changed and self._override is None) or \
            (before is not None and self._mood.label != before.label) or (before is None and changed)
        self._snapshot(t)
        return Steered(self._mood, now_changed, tuple(events))

    def _apply(self, t: float, command: dict[str, Any]) -> list[Event]:
        """Carry out one command at frame time ``t``; the events it caused."""
        op = command["op"]
        if op == "mood":
            if command["mood"] is None:
                if self._override is None:
                    return []
                self._override = None
                return [("override", {"mood": None, "reason": "cleared"})]
            self._override = (command["mood"], t + 60.0 * command["minutes"])
            self._mood = None  # re-made from the override in update
            return [("override", {"mood": command["mood"], "minutes": command["minutes"],
                                  "until": round(self._override[1], 3)})]
        if op == "like":
            self.controls.like()
        elif op == "skip":
            self.controls.skip()
        elif op == "pause":
            self.controls.pause()
            return [("pause", {})]
        elif op == "resume":
            self.controls.resume()
            return [("resume", {})]
        elif op == "volume":
            self.controls.set_volume(command["volume"])
            return [("volume", {"volume": command["volume"]})]
        elif op == "strategy":
            self.controls.set_strategy(command["strategy"])
            return [("strategy", {"strategy": command["strategy"]})]
        return []

    def _snapshot(self, t: float) -> None:
        mood, camera = self._mood, self._camera
        assert mood is not None and camera is not None
        player = dict(self.controls.status())
        song = player.get("song")
        override = None
        if self._override is not None:
            override = {"mood": self._override[0], "until": round(self._override[1], 3),
                        "remaining_s": round(self._override[1] - t, 1)}
        self._status = {
            "t": round(t, 3), "mood": mood.label, "source": self.source, "confidence": round(mood.confidence, 3),
            "valence": round(camera.valence, 3), "arousal": round(camera.arousal, 3), "faces": camera.faces,
            "camera": camera.label, "song": str(song) if song else None,
            "song_name": player.get("title") or _song_name(song), "title": player.get("title"),
            "artist": player.get("artist"), "volume": player.get("volume"), "paused": player.get("paused"),
            "silent": player.get("silent"),  # no audio output open (a speaker unplugged, HDMI off)
            "strategy": player.get("strategy"), "override": override, "labels": list(self.labels),
            "camera_device": self._device, "privacy": self.privacy is not None and self.privacy.on,
            "model": self.model,
        }
        if self.listeners and (self._last_push is None or t - self._last_push >= self.status_every
                               or t < self._last_push):
            self._last_push = t
            self._publish({"type": "status", **self._status})


def _song_name(song: object) -> str | None:
    if not song:
        return None
    name = str(song).replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name
