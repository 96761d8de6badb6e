"""The privacy switch: its state file, the shutter over a source, and a real camera loop that closes its
source when the listener asks, reads no frame while it is closed, opens it again, and keeps the choice
across a restart."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import config as configs
from edge import loop as loops
from edge.privacy import FILE_NAME, OFF_BY_LISTENER, Privacy
from edge.sources import SourceConfig, open_source
from edge.sources.base import Source
from edge.sources.images import ImageSource
from edge.sources.shutter import Shutter
from edge.types import Frame
from tests.rig import Conn

SONGS = Path(__file__).resolve().parent.parent / "songs"


class Counting(Source):
    """A real source (here an image looped at its fps) that counts its reads and its closes."""

    def __init__(self, inner: Source, log: dict) -> None:
        super().__init__(realtime=False)
        self.inner, self.log = inner, log
        self.name, self.fps, self.live = inner.name, inner.fps, inner.live
        log["opens"] = log.get("opens", 0) + 1
        log.setdefault("reads", 0)
        log.setdefault("closes", 0)
        log["open"] = True

    def read(self) -> Frame | None:
        assert self.log["open"], "read after close"
        self.log["reads"] += 1
        return self.inner.read()

    def close(self) -> None:
        super().close()
        self.inner.close()
        self.log["closes"] += 1
        self.log["open"] = False


# -- the state file --------------------------------------------------------------------------------


def test_the_switch_is_written_atomically_and_read_back(tmp_path):
    privacy = Privacy.load(tmp_path)
    assert not privacy.on and not (tmp_path / FILE_NAME).exists()  # nothing written until the listener acts
    privacy.set(True)
    data = json.loads((tmp_path / FILE_NAME).read_text())
    assert data["camera_off"] is True and data["by"] == "listener" and data["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # no temporary file left behind
    assert Privacy.load(tmp_path).on
    privacy.set(False)
    assert not Privacy.load(tmp_path).on


def test_a_broken_file_is_set_aside_and_privacy_starts_off(tmp_path, caplog):
    (tmp_path / FILE_NAME).write_text('{"camera_off": "maybe"')
    assert not Privacy.load(tmp_path).on
    assert next(p.name for p in tmp_path.iterdir()).startswith(FILE_NAME + ".bad-")
    assert "moved it to" in caplog.text


def test_wait_wakes_on_a_change_from_another_thread(tmp_path):
    privacy = Privacy.load(tmp_path)
    assert not privacy.wait(0.01)
    threading.Thread(target=privacy.set, args=(True,)).start()
    assert privacy.wait(5) and privacy.on


# -- the shutter -----------------------------------------------------------------------------------


def image_source(tmp_path: Path, log: dict) -> Source:
    image = tmp_path / "still.png"
    if not image.exists():
        cv2.imwrite(str(image), np.full((48, 64, 3), 128, np.uint8))
    return Counting(ImageSource(image, SourceConfig(spec=str(image), fps=10.0, loop=True)), log)


def test_the_shutter_closes_its_source_reads_nothing_while_off_and_reopens(tmp_path):
    log: dict = {}
    privacy = Privacy.load(tmp_path)
    clock = [100.0]
    changes, ticks = [], []

    def tick(t: float) -> None:
        ticks.append(t)
        clock[0] += 2.0  # the wall time that passes while the camera is closed
        if len(ticks) == 3:
            privacy.set(False)

    shutter = Shutter(lambda: image_source(tmp_path, log), privacy, clock=lambda: clock[0],
                      on_change=lambda off, t: changes.append((off, round(t, 3))), on_tick=tick)
    shutter.TICK_S = 0.01
    frames = []
    for frame in shutter:
        frames.append(frame)
        if len(frames) == 5:
            privacy.set(True)
            reads_when_closed = log["reads"]
        if len(frames) == 8:
            break
    shutter.close()
    assert log["opens"] == 2 and log["closes"] == 2 and not log["open"]
    assert log["reads"] == reads_when_closed + 3  # not one read while off
    assert [off for off, _ in changes] == [True, False]
    assert len(ticks) == 3
    times = [f.t for f in frames]
    assert times[:5] == [0.0, 0.1, 0.2, 0.3, 0.4] and times == sorted(times)  # the run's clock, then onwards
    assert times[5] >= 0.4 + 6.0  # the reopened source's t continues after the 6 s closed
    assert [f.index for f in frames] == list(range(8))


def test_a_shutter_started_with_privacy_on_never_opens_its_source(tmp_path):
    (privacy := Privacy.load(tmp_path)).set(True)
    log: dict = {}
    changes = []
    shutter = Shutter(lambda: image_source(tmp_path, log), Privacy.load(tmp_path),
                      on_change=lambda off, t: changes.append(off), on_tick=lambda t: shutter.close())
    shutter.TICK_S = 0.01
    assert list(shutter) == [] and "opens" not in log and changes == [True]
    assert privacy.on


# -- a real loop --------------------------------------------------------------------------------


class Ctl(Conn):
    """A blocking client of the control socket that can wait for a status."""

    def status(self) -> dict:
        return self.ask({"op": "status"})["status"]

    def until(self, check, what: str, tries: int = 1500) -> dict:
        """Poll the status until ``check(status)`` holds (at most 60 s)."""
        for _ in range(tries):
            st = self.status()
            if check(st):
                return st
            threading.Event().wait(0.04)  # under the socket's 50 requests a second
        raise AssertionError(f"never: {what}; last status {st}")


_RUNS: list[LoopRun] = []  # every loop a test started: stopped at its teardown, whatever the test did


@pytest.fixture(autouse=True)
def _no_loop_outlives_its_test():
    yield
    while _RUNS:
        run = _RUNS.pop()
        run.stop.set()
        run.thread.join(20)


class LoopRun:
    """``edge.loop.run`` on its own thread with a control socket, its camera a counted looped image."""

    def __init__(self, tmp_path: Path, monkeypatch, log: dict, music: bool = False) -> None:
        image = tmp_path / "still.png"
        cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
        self.sock, self.events = tmp_path / "control.sock", tmp_path / "events.jsonl"
        monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
        cfg = configs.load(None, {"source.spec": str(image), "source.loop": True, "source.realtime": True,
                                  "source.fps": 30.0, "control.socket": str(self.sock),
                                  "output.events": str(self.events), "music.enabled": music,
                                  "music.songs": str(SONGS), "music.features": False, "music.idle": "fade",
                                  "music.fade_ms": 100, "music.state_dir": str(tmp_path / "state")})
        monkeypatch.setattr(loops, "open_source", lambda *a, **k: Counting(open_source(*a, **k), log))
        self.stop = threading.Event()
        self.error: list[Exception] = []
        self.thread = threading.Thread(target=self._run, args=(cfg,), daemon=True)
        _RUNS.append(self)
        self.thread.start()
        for _ in range(2000):
            if self.sock.exists():
                break
            threading.Event().wait(0.005)
        self.ctl = Ctl(self.sock)

    def _run(self, cfg) -> None:
        try:
            loops.run(cfg, self.stop)
        except Exception as e:  # reported by finish()
            self.error.append(e)

    def finish(self) -> list[dict]:
        self.ctl.close()
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive() and not self.error, self.error
        return [json.loads(line) for line in self.events.read_text().splitlines()]


def test_a_real_loop_closes_its_camera_for_privacy_reads_nothing_and_reopens(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="edge.music.player")
    log: dict = {}
    run = LoopRun(tmp_path, monkeypatch, log, music=True)
    ctl = run.ctl
    first = ctl.until(lambda st: st.get("t", 0) > 0.2, "frames flow")
    assert first["privacy"] is False and first["camera_device"] == "on" and log["opens"] == 1
    assert ctl.ask({"op": "mood", "mood": "happy", "minutes": 0.05})["ok"]  # a song plays, then the override ends
    ctl.until(lambda st: st["song"] and st["source"] != "override", "a song, and the override over")

    assert ctl.ask({"op": "privacy", "on": True}) == {"ok": True, "op": "privacy"}
    off = ctl.until(lambda st: st["privacy"] and st["camera_device"] == OFF_BY_LISTENER, "privacy shows")
    assert not log["open"] and log["closes"] == 1
    assert "nobody seen: fading the music out" in caplog.text  # music.idle = "fade": the idle policy
    reads = log["reads"]
    assert off["mood"] == "uncertain" and off["faces"] == 0  # nobody is watched
    assert ctl.ask({"op": "volume", "volume": 0.3})["ok"]  # the controls still reach the loop while it is off
    assert ctl.ask({"op": "mood", "mood": "sad", "minutes": 5})["ok"]
    ctl.until(lambda st: st["mood"] == "sad" and st["source"] == "override", "an override while closed")
    later = ctl.until(lambda st: st["t"] >= off["t"] + 1.5, "frame time runs on while closed")
    assert log["reads"] == reads, "a frame was read while privacy was on"
    assert json.loads((tmp_path / "state" / FILE_NAME).read_text())["camera_off"] is True
    assert later["volume"] == pytest.approx(0.3)

    assert ctl.ask({"op": "privacy", "on": False})["ok"]
    back = ctl.until(lambda st: not st["privacy"] and st["camera_device"] == "on" and st["t"] > later["t"] + 0.2,
                     "frames flow again")
    assert log["opens"] == 2 and log["open"] and log["reads"] > reads
    assert back["t"] > later["t"]  # frame time runs on across the gap
    events = run.finish()
    cams = [(e["type"], e["state"]) for e in events if e["type"] == "camera"]
    assert cams == [("camera", OFF_BY_LISTENER), ("camera", "on")]
    assert [e["volume"] for e in events if e["type"] == "volume"] == [0.3]


def test_privacy_survives_a_restart_of_the_camera_process(tmp_path, monkeypatch):
    log: dict = {}
    run = LoopRun(tmp_path, monkeypatch, log)
    run.ctl.until(lambda st: st.get("t", 0) > 0, "frames flow")
    assert run.ctl.ask({"op": "privacy", "on": True})["ok"]
    run.ctl.until(lambda st: st.get("camera_device") == OFF_BY_LISTENER, "privacy shows")
    run.finish()

    log.clear()
    again = LoopRun(tmp_path, monkeypatch, log)  # the camera process restarted: the camera stays closed
    st = again.ctl.until(lambda st: st.get("camera_device") == OFF_BY_LISTENER, "privacy holds after the restart")
    assert st["privacy"] is True and "opens" not in log  # never opened, not even for a moment
    assert again.ctl.ask({"op": "privacy", "on": False})["ok"]
    again.ctl.until(lambda st: st["camera_device"] == "on" and log.get("reads", 0) > 3, "frames after privacy off")
    assert log["opens"] == 1
    events = again.finish()
    assert [e["state"] for e in events if e["type"] == "camera"][-2:] == [OFF_BY_LISTENER, "on"]


def test_the_camera_state_shows_at_once_without_a_frame(tmp_path):
    from edge.control.steer import Steering

    class Controls:  # the player side is not used here
        def status(self):
            return {}

    privacy = Privacy.load(tmp_path)
    steering = Steering(Controls(), ("happy", "sad"), privacy=privacy)
    pushed: list[dict] = []
    steering.listeners.append(pushed.append)
    steering.set_camera("lost")  # a camera that went away: no frame comes to refresh the status
    assert steering.status()["camera_device"] == "lost" and pushed[-1]["camera_device"] == "lost"
    privacy.set(True)
    steering.set_camera(OFF_BY_LISTENER)
    assert steering.status()["privacy"] is True and pushed[-1]["camera_device"] == OFF_BY_LISTENER
    steering.submit({"op": "privacy", "on": False})  # applied at once, on the caller's thread
    assert not privacy.on and not Privacy.load(tmp_path).on
