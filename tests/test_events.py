"""EventLog: one valid JSON object a line, flushed as written, safe from several threads."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edge.events import EventLog, EventLogError

ROOT = Path(__file__).resolve().parent.parent


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


NOON = datetime(2026, 12, 3, 10, 15, 2, 123456, tzinfo=UTC)


def test_writes_the_design_events_with_wall_time(tmp_path: Path) -> None:
    path = tmp_path / "run" / "events.jsonl"
    with EventLog(path, now=lambda: NOON) as log:
        log.write("mood", 3.20004, mood="happy", confidence=np.float32(0.81), faces=np.int64(1))
        log.write("song", 3.2, mood="happy", path=Path("songs/happy/brisk.ogg"))
        assert lines(path)[0]["t"] == 3.2  # written before close
    assert path.read_text().splitlines()[1] == (
        '{"t": 3.2, "time": "2026-12-03T10:15:02.123+00:00", "type": "song", "mood": "happy", '
        '"path": "songs/happy/brisk.ogg"}')
    first = lines(path)[0]
    assert first == {"t": 3.2, "time": "2026-12-03T10:15:02.123+00:00", "type": "mood", "mood": "happy",
                     "confidence": pytest.approx(0.81), "faces": 1}
    assert list(first) == ["t", "time", "type", "mood", "confidence", "faces"]


def test_the_default_wall_time_carries_its_zone(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.jsonl") as log:
        log.write("start", 0.0)
    stamp = datetime.fromisoformat(lines(tmp_path / "e.jsonl")[0]["time"])
    assert stamp.tzinfo is not None and abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_streams_are_left_open_and_writes_after_close_are_dropped() -> None:
    stream = io.StringIO()
    log = EventLog(stream, now=lambda: NOON)
    log.write("mood", 1.23456, mood="sad", probs=np.array([0.25, 0.75]), nan=float("nan"))
    log.close()
    log.write("mood", 2.0, mood="happy")
    assert json.loads(stream.getvalue()) == {"t": 1.235, "time": "2026-12-03T10:15:02.123+00:00", "type": "mood", "mood": "sad",
                                             "probs": [0.25, 0.75], "nan": None}
    assert not stream.closed and not log.enabled


def test_no_path_is_a_no_op_sink(tmp_path: Path) -> None:
    for sink in (EventLog(), EventLog(None), EventLog("")):
        sink.write("mood", 1.0, mood="happy")
        sink.close()
        assert not sink.enabled


def test_a_restart_appends(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for run in range(3):
        with EventLog(path) as log:
            log.write("start", 0.0, run=run)
    assert [e["run"] for e in lines(path)] == [0, 1, 2]


def test_rotates_at_the_size_cap_keeping_two_old_files(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_bytes=1000, keep=2, now=lambda: NOON) as log:
        for i in range(100):
            log.write("frame", i, i=i, pad="x" * 20)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    assert all(f.stat().st_size <= 1000 for f in files)
    newest = [e["i"] for f in (path.with_name("events.jsonl.2"), path.with_name("events.jsonl.1"), path)
              for e in lines(f)]
    assert newest == list(range(100 - len(newest), 100))  # the latest events, in order, none missing


DISK_FULL = r"""
import json, logging, resource, signal, sys
from pathlib import Path
from edge.events import EventLog
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as ENOSPC would
path = Path(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
log = EventLog(path)
for i in range(5):
    log.write("mood", i, i=i)
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 150, hard))  # the disk fills up
for i in range(5, 40):
    log.write("mood", i, i=i, pad="y" * 30)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
for i in range(40, 45):
    log.write("mood", i, i=i)
log.close()
print("alive", log.dropped, flush=True)
"""


def test_a_full_disk_drops_events_logs_once_and_writing_resumes(tmp_path: Path) -> None:
    """A real file on a real file system whose size limit (RLIMIT_FSIZE) stands in for a full disk."""
    path = tmp_path / "events.jsonl"
    out = subprocess.run([sys.executable, "-c", DISK_FULL, str(path)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 0 and "alive 0" in out.stdout, out.stderr
    events = lines(path)  # every line whole: the line cut by the limit was taken back
    got = [e["i"] for e in events]
    assert got[:5] == [0, 1, 2, 3, 4] and got[-5:] == [40, 41, 42, 43, 44] and len(got) < 45
    assert out.stderr.count("WARNING can't write events") == 1, out.stderr
    assert re.search(r"INFO events are written to .* again \(\d+ dropped meanwhile\)", out.stderr), out.stderr


def test_the_full_device_never_raises(tmp_path: Path) -> None:
    with EventLog("/dev/full") as log:  # ENOSPC on every write
        for i in range(3):
            log.write("mood", i)
        assert log.dropped == 3


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


def test_a_failed_reopen_after_rotating_drops_one_event_and_never_writes_elsewhere(tmp_path: Path, monkeypatch) -> None:
    """Rotating closes the file, renames, opens a new one: if that open fails (no inode left), the event is
    dropped, no closed descriptor is kept (its number may belong to another file by then), and the next
    write opens the file again."""
    from edge import events as events_module

    path = tmp_path / "events.jsonl"
    log = EventLog(path, max_bytes=200, keep=1, now=lambda: NOON)
    log.write("mood", 0, i=0, pad="x" * 100)
    real = events_module._AppendFile
    fail = {"left": 1}

    def flaky(p):
        if fail["left"]:
            fail["left"] -= 1
            raise OSError(28, "No space left on device")
        return real(p)

    monkeypatch.setattr(events_module, "_AppendFile", flaky)
    log.write("mood", 1, i=1, pad="x" * 100)  # rotates; the new file can't be made
    assert log.dropped == 1
    other = tmp_path / "other.txt"
    with open(other, "w") as f:  # likely takes the freed descriptor number
        f.write("mine\n")
        f.flush()
        log.write("mood", 2, i=2)
        log.close()
    assert other.read_text() == "mine\n"
    assert [e["i"] for e in lines(path)] == [2] and [e["i"] for e in lines(tmp_path / "events.jsonl.1")] == [0]
