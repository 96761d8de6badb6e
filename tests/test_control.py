"""The camera process's control socket: a real AF_UNIX server on its own thread, steering a recorded
fake of the player (the real loop is driven end to end in tests/test_web.py)."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.control import protocol
from edge.control.server import ControlError, ControlServer
from edge.control.steer import Steering
from edge.events import EventLog
from edge.types import EMOTIONS, Mood
from tests.rig import Conn


class FakeControls:
    """Records what the socket asked the player to do."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.volume, self.paused = 0.8, False

    def like(self): self.calls.append(("like",))
    def skip(self): self.calls.append(("skip",))
    def pause(self): self.calls.append(("pause",)); self.paused = True
    def resume(self): self.calls.append(("resume",)); self.paused = False
    def set_volume(self, v): self.calls.append(("volume", v)); self.volume = v
    def set_strategy(self, name): self.calls.append(("strategy", name))

    def status(self):
        return {"song": "songs/happy/a.ogg", "volume": self.volume, "paused": self.paused, "strategy": "match"}


def mood(label: str, t: float = 0.0, valence: float = 0.5, arousal: float = 0.2) -> Mood:
    return Mood(label, 0.9, t, 1, valence, arousal)


@pytest.fixture
def rig(tmp_path):
    controls = FakeControls()
    steering = Steering(controls, EMOTIONS, wall=lambda: time.time())
    path = tmp_path / "run" / "control.sock"
    server = ControlServer(path, steering)
    server.start()
    yield controls, steering, server, path
    server.close()


def test_status_commands_and_history_round_trip(rig):
    controls, steering, server, path = rig
    events = EventLog(listeners=[steering.on_event])
    c = Conn(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    assert c.ask({"op": "status"})["status"]["mood"] is None  # before the first frame
    steering.update(1.0, mood("happy", 1.0), True)
    events.write("mood", 1.0, mood="happy", confidence=0.9, faces=1)
    events.write("frame", 1.0, index=10)  # per-frame events are not tapped
    st = c.ask({"op": "status", "id": 7})
    assert st["id"] == 7 and st["status"]["mood"] == "happy" and st["status"]["source"] == "camera"
    assert st["status"]["song_name"] == "a" and st["status"]["valence"] == 0.5 and "sad" in st["status"]["labels"]
    for op in ({"op": "like"}, {"op": "skip"}, {"op": "pause"}, {"op": "volume", "volume": 0.25},
               {"op": "strategy", "strategy": "uplift"}, {"op": "resume"}):
        assert c.ask(op) == {"ok": True, "op": op["op"]}
    assert controls.calls == []  # applied by the loop, between frames
    steering.update(1.1, mood("happy", 1.0), False)
    assert controls.calls == [("like",), ("skip",), ("pause",), ("volume", 0.25), ("strategy", "uplift"),
                              ("resume",)]
    history = c.ask({"op": "history"})["history"]
    assert [e["type"] for e in history] == ["mood"] and history[0]["time"] > 0
    c.close()


@pytest.mark.parametrize("bad, needle", [
    (b"not json\n", "not JSON"), (b"[1, 2]\n", "JSON object"), ({"op": "dance"}, "unknown op"),
    (b"[" * 60_000 + b"\n", "not JSON"),  # nested too deep for the parser: one client's error, not the server's
    ({"op": "mood", "mood": "elated"}, "mood must be one of"), ({"op": "mood"}, "null to clear"),
    ({"op": "mood", "mood": "sad", "minutes": 0}, "minutes"), ({"op": "mood", "mood": "sad", "minutes": "5"}, "minutes"),
    ({"op": "mood", "mood": "sad", "minutes": 1e9}, "minutes"), ({"op": "volume", "volume": 1.5}, "volume"),
    ({"op": "volume", "volume": True}, "volume"), ({"op": "strategy", "strategy": "chaos"}, "strategy"),
])
def test_bad_requests_get_an_error_and_change_nothing(rig, bad, needle):
    controls, steering, server, path = rig
    c = Conn(path)
    reply = c.ask(bad)
    assert set(reply) == {"error"} and needle in reply["error"], reply
    steering.update(1.0, mood("happy"), True)
    assert controls.calls == [] and steering.status()["override"] is None
    assert c.ask({"op": "status"})["ok"]  # the connection is still served
    c.close()


def test_override_holds_through_the_camera_and_ends_on_frame_time(rig):
    controls, steering, server, path = rig
    emitted = []

    def update(t, camera, changed):
        steered = steering.update(t, camera, changed)
        emitted.extend((kind, t, fields) for kind, fields in steered.events)
        return steered.mood, steered.changed

    c = Conn(path)
    assert update(0.0, mood("happy"), True)[1]
    assert c.ask({"op": "mood", "mood": "sad", "minutes": 0.5})["ok"]
    m, changed = update(10.0, mood("happy"), False)
    assert (m.label, changed, steering.source) == ("sad", True, "override") and m.valence < 0
    m, changed = update(20.0, mood("angry"), True)  # the camera changes its mind: the override holds
    assert (m.label, changed) == ("sad", False)
    st = c.ask({"op": "status"})["status"]
    assert st["source"] == "override" and st["override"]["mood"] == "sad" and st["override"]["until"] == 40.0
    assert st["camera"] == "angry"
    assert update(39.9, mood("angry"), False) == (m, False)
    m, changed = update(40.0, mood("angry"), False)  # 30 s of frame time after it was set
    assert (m.label, changed, steering.source) == ("angry", True, "camera")
    assert [(e[0], e[2].get("mood"), e[2].get("reason")) for e in emitted] == [
        ("override", "sad", None), ("override", None, "ended")]
    # Cleared by hand: back to the camera at the next frame.
    c.ask({"op": "mood", "mood": "neutral", "minutes": 5})
    assert update(41.0, mood("angry"), False)[0].label == "neutral"
    c.ask({"op": "mood", "mood": None})
    assert update(42.0, mood("angry"), False) == (mood("angry"), True)
    assert emitted[-1][2] == {"mood": None, "reason": "cleared"}
    c.close()


def test_subscribers_get_events_and_status_pushes(rig):
    controls, steering, server, path = rig
    c = Conn(path)
    assert c.ask({"op": "subscribe"}) == {"ok": True, "op": "subscribe"}
    steering.update(0.0, mood("happy"), True)
    assert c.line()["type"] == "status"  # the first frame pushes one
    steering.on_event("song", 0.5, {"mood": "happy", "path": Path("songs/happy/a.ogg")})
    got = c.line()
    assert got["type"] == "song" and got["path"] == "songs/happy/a.ogg"
    steering.update(0.6, mood("happy"), False)  # under status_every (1 s of frame time): no push
    steering.update(1.0, mood("happy"), False)
    assert c.line()["type"] == "status"
    c.close()


def test_a_stalled_client_is_dropped_a_flooding_one_slowed_and_the_loop_never_waits(tmp_path):
    controls = FakeControls()
    steering = Steering(controls, EMOTIONS)
    path = tmp_path / "c.sock"
    with ControlServer(path, steering, max_out=64 * 1024, rate=50) as server:
        stalled = Conn(path)
        assert stalled.ask({"op": "subscribe"})["ok"]  # then never reads again
        good = Conn(path)
        started = time.perf_counter()
        for i in range(20000):  # ~1.5 MB of events, far more than the socket and max_out hold
            steering.on_event("song", i, {"mood": "happy", "path": "x" * 60})
        assert time.perf_counter() - started < 5  # publish never blocked on the stalled reader
        assert _until(lambda: server.clients == 1)
        assert good.ask({"op": "status"})["ok"]
        flood = Conn(path)
        flood.send(b"".join(b'{"op": "status", "id": %d}\n' % i for i in range(150)))  # 50 over the burst of 100
        assert good.ask({"op": "status"})["ok"]  # the flood has its own budget
        assert [flood.line()["id"] for _ in range(150)] == list(range(150))  # slowed, answered, in order
        assert server.clients == 2 and flood.ask({"op": "status"})["ok"]  # never dropped for being fast
        flood.send(b'{"op": "volume", "volume": ' + b"9" * 400 + b"}\n")  # a huge number: an error, no crash
        assert "volume must be" in flood.line()["error"] and good.ask({"op": "status"})["ok"]
        long_line = Conn(path)
        long_line.send(b"x" * (protocol.MAX_LINE + 10))
        assert "longer than" in long_line.line()["error"]
        assert _until(lambda: server.clients == 2)
        for c in (stalled, good, flood, long_line):
            c.close()


def test_socket_file_is_replaced_when_stale_and_refused_when_in_use(tmp_path):
    path = tmp_path / "c.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    steering = Steering(FakeControls(), EMOTIONS)
    with ControlServer(path, steering):
        with pytest.raises(ControlError, match="in use"):
            ControlServer(path, steering)
        assert Conn(path).ask({"op": "status"})["ok"]
    assert not path.exists()  # removed on close
    path.write_text("not a socket")
    with pytest.raises(ControlError, match="not a socket"):
        ControlServer(path, steering)


def _until(check, tries: int = 500) -> bool:
    """Poll ``check`` (bounded: ``tries`` x 10 ms); the server thread acts on its own time."""
    for _ in range(tries):
        if check():
            return True
        time.sleep(0.01)
    return False


def test_history_is_todays_moods_and_songs_only(rig):
    controls, steering, server, path = rig
    now = [1_800_000_000.0]  # a wall clock the test moves
    steering.wall = lambda: now[0]
    steering.on_event("mood", 1.0, {"mood": "happy"})
    steering.on_event("volume", 1.5, {"volume": 0.3})  # settings are not history
    now[0] += 86400  # the next day
    steering.on_event("song", 2.0, {"mood": "happy", "path": "a.ogg"})
    c = Conn(path)
    history = c.ask({"op": "history"})["history"]
    assert [(e["type"], e["time"]) for e in history] == [("song", now[0])]
    c.close()


# -- fuzz: no line, however odd, breaks the server, its thread or the connection -------------------------

class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    steering = Steering(FakeControls(), EMOTIONS)
    errors = _Errors()
    logging.getLogger("edge.control").addHandler(errors)
    server = ControlServer(tmp_path_factory.mktemp("fuzz") / "c.sock", steering, rate=1000)
    server.start()
    conn = Conn(server.path)
    yield server, conn, errors
    conn.close()
    server.close()
    logging.getLogger("edge.control").removeHandler(errors)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_requests = st.fixed_dictionaries({"op": st.sampled_from(protocol.OPS + ("", "nope"))},
                                  optional={k: _json | st.sampled_from(("sad", "uplift", None, 0.5, 10**400, "\ud800"))
                                            for k in ("mood", "minutes", "volume", "strategy", "id")})


def _encoded(value) -> bytes:
    text = json.dumps(value) if not isinstance(value, bytes) else None
    return value if text is None else text.encode()


@given(st.one_of(_requests.map(_encoded), _json.map(_encoded), st.binary(max_size=200),
                 st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.integers(1, 3000).map(lambda n: b"[" * n), st.integers(16, 5000).map(lambda n: b"1" * n)))
@settings(max_examples=300)
def test_fuzz_any_line_gets_one_answer_and_the_socket_lives(fuzzed, line):
    server, conn, errors = fuzzed
    line = line.replace(b"\n", b" ")
    if not line.strip():
        line = b"{}"
    conn.send(line + b"\n")
    reply = conn.line()
    assert set(reply) & {"ok", "error"}, reply
    assert conn.ask({"op": "status"})["ok"] and server.clients == 1
    assert not errors.records, [r.getMessage() for r in errors.records]
