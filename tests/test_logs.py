"""edge.logs: syslog priorities on each line when stderr is systemd's journal stream, plain lines otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edge.logs import priority
from edge.systemd import journal_stream

ROOT = Path(__file__).resolve().parent.parent

PROBE = ("import logging, sys; from edge.logs import setup_logging; setup_logging(False); "
         "log = logging.getLogger('edge.x'); log.debug('d'); log.info('i'); log.warning('w'); log.error('e\\nsecond')")


def run_probe(tmp_path: Path, journal: str | None) -> str:
    """Run PROBE with stderr on a file; ``journal``: "self" sets JOURNAL_STREAM to that file's dev:inode
    (what systemd does for the stream it hands us), another value is set as is, None unsets it."""
    err = tmp_path / "stderr"
    with open(err, "w") as f:
        st = os.fstat(f.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal is not None:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}" if journal == "self" else journal
        subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, stderr=f, env=env, timeout=60, check=True)
    return err.read_text()


def test_under_journald_each_line_carries_its_priority(tmp_path):
    lines = run_probe(tmp_path, "self").splitlines()
    # journalctl -p warning shows <4> and lower; a traceback's later lines keep the record's priority
    assert lines == ["<6>INFO edge.x: i", "<4>WARNING edge.x: w", "<3>ERROR edge.x: e", "<3>second"]


def test_a_journal_stream_that_is_not_our_stderr_gets_plain_lines(tmp_path):
    """A child started from the service with stderr redirected inherits JOURNAL_STREAM: no prefixes
    (and, as before, no timestamps under systemd); by hand, HH:MM:SS."""
    for value in ("1:2", "garbage"):
        text = run_probe(tmp_path, value)
        assert text.splitlines()[0] == "INFO edge.x: i" and "<" not in text, (value, text)
    text = run_probe(tmp_path, None)
    assert "WARNING edge.x: w" in text and "<" not in text, text
    assert text.split()[0].count(":") == 2, text  # HH:MM:SS


def test_priorities_follow_syslog(tmp_path):
    assert [priority(n) for n in (5, 10, 20, 25, 30, 40, 50, 60)] == [7, 7, 6, 6, 4, 3, 2, 2]
    with open(tmp_path / "f", "w") as f:
        st = os.fstat(f.fileno())
        assert journal_stream({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, f.fileno())
        assert not journal_stream({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, f.fileno())
        assert not journal_stream({}, f.fileno())
