"""EventLog: one valid JSON object a line, flushed as written, safe from several threads."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from edge.events import EventLog, EventLogError


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_the_design_events(tmp_path: Path) -> None:
    path = tmp_path / "run" / "events.jsonl"
    with EventLog(path) as log:
        log.write("mood", 3.20004, mood="happy", confidence=np.float32(0.81), faces=np.int64(1))
        log.write("song", 3.2, mood="happy", path=Path("songs/happy/brisk.ogg"))
        assert lines(path)[0]["t"] == 3.2  # flushed before close
    assert path.read_text().splitlines()[1] == (
        '{"t": 3.2, "type": "song", "mood": "happy", "path": "songs/happy/brisk.ogg"}')
    first = lines(path)[0]
    assert first == {"t": 3.2, "type": "mood", "mood": "happy", "confidence": pytest.approx(0.81), "faces": 1}
    assert list(first) == ["t", "type", "mood", "confidence", "faces"]


def test_streams_are_left_open_and_writes_after_close_are_dropped() -> None:
    stream = io.StringIO()
    log = EventLog(stream)
    log.write("mood", 1.23456, mood="sad", probs=np.array([0.25, 0.75]), nan=float("nan"))
    log.close()
    log.write("mood", 2.0, mood="happy")
    assert json.loads(stream.getvalue()) == {"t": 1.235, "type": "mood", "mood": "sad",
                                             "probs": [0.25, 0.75], "nan": None}
    assert not stream.closed and not log.enabled


def test_no_path_is_a_no_op_sink(tmp_path: Path) -> None:
    for sink in (EventLog(), EventLog(None), EventLog("")):
        sink.write("mood", 1.0, mood="happy")
        sink.close()
        assert not sink.enabled


def test_append_and_truncate(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for append in (False, True):
        with EventLog(path, append=append) as log:
            log.write("start", 0.0)
    assert len(lines(path)) == 2
    with EventLog(path) as log:
        log.write("start", 0.0)
    assert len(lines(path)) == 1


def test_unwritable_path_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(EventLogError, match="can't write events to .*file/events.jsonl.*writable path"):
        EventLog(tmp_path / "file" / "events.jsonl")


def test_two_threads_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    n = 2000

    def writer(name: str) -> None:
        for i in range(n):
            log.write("song" if name == "player" else "mood", i / 7, who=name, i=i, pad="x" * (i % 50))

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("player", "camera")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    events = lines(path)
    assert len(events) == 2 * n
    for name in ("player", "camera"):
        assert [e["i"] for e in events if e["who"] == name] == list(range(n))
    assert all(e["t"] == round(e["i"] / 7, 3) for e in events)
