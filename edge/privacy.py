"""The listener's privacy switch ("stop watching"): set from any thread, kept in a state file.

``Privacy.set(True)`` (the control socket's thread) writes ``<state dir>/privacy.json`` atomically
(``edge.statefile``) and wakes whoever waits in ``wait``; the camera loop's ``Shutter``
(``edge.sources.shutter``) then closes the camera device and reads no frame until ``set(False)``.
The file makes the choice outlive a restart of the camera process; only the listener's command
writes it (a camera that fails is an outage, not privacy).

File format: ``{"version": 1, "camera_off": true, "by": "listener", "time": <unix s>}``. A file that
can't be read is set aside (``statefile.set_aside``) and privacy starts off: a broken file never
keeps the camera closed without the listener knowing, and the listener sees the warning.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge import statefile

log = logging.getLogger(__name__)

FILE_NAME = "privacy.json"
VERSION = 1
WHAT = "the privacy switch's file"
#: What ``/api/status``'s ``camera`` shows, and the events log's ``camera`` event says, while it is on.
OFF_BY_LISTENER = "off (by the listener)"


class Privacy:
    """The switch. ``on`` (any thread): the camera is to stay closed. ``set`` changes it and persists it;
    ``wait(timeout)`` returns True when it changed since the last ``wait`` (the loop thread)."""

    def __init__(self, path: Path | None, on: bool = False, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall
        self._on = threading.Event()
        self._changed = threading.Event()
        self._lock = threading.Lock()  # one writer at a time: the file always holds the latest choice
        if on:
            self._on.set()

    @classmethod
    def load(cls, folder: Path | None, wall: Callable[[], float] = time.time) -> Privacy:
        """The switch as the listener left it in ``folder`` (off when there is no file or no folder)."""
        if folder is None:
            return cls(None, wall=wall)
        path = Path(folder) / FILE_NAME
        try:
            text = statefile.read_text(path)
        except (OSError, UnicodeDecodeError) as e:
            log.warning("%s %s can't be read (%s): privacy starts off", WHAT, path, e)
            return cls(path, wall=wall)
        if text is None:
            return cls(path, wall=wall)
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != VERSION or \
                    not isinstance(data.get("camera_off"), bool):
                raise ValueError(f'expected {{"version": {VERSION}, "camera_off": true|false}}')
        except ValueError as e:
            statefile.set_aside(path, str(e), WHAT, wall)
            return cls(path, wall=wall)
        on = data["camera_off"]
        if on:
            log.info("privacy: the camera stays off, as the listener left it (%s)", path)
        return cls(path, on=on, wall=wall)

    @property
    def on(self) -> bool:
        return self._on.is_set()

    def set(self, on: bool) -> None:
        """Turn privacy on (close the camera) or off; persisted before it takes effect. A file that can't
        be written is logged: the switch still works until the process restarts."""
        with self._lock:
            if self.path is not None:
                try:
                    statefile.write_json_atomic(self.path, {"version": VERSION, "camera_off": bool(on),
                                                            "by": "listener", "time": round(self._wall(), 3)})
                except OSError as e:
                    log.warning("%s %s can't be written (%s): privacy is %s until a restart; fix the state "
                                "folder's permissions", WHAT, self.path, e, "on" if on else "off")
            (self._on.set if on else self._on.clear)()
            self._changed.set()
        log.info("privacy %s: the camera %s", "on" if on else "off", "closes" if on else "opens again")

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a change; True if there was one (then cleared)."""
        if self._changed.wait(timeout):
            self._changed.clear()
            return True
        return False
