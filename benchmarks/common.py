"""What the benchmark modules share (``suite``, ``cpu``, ``stability`` and the rest import it; it imports
none of them): where things are, the options, the table renderer, cache keys, and running a process
for its time to a marker line and its peak RSS."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SONGS = ROOT / "songs"


@dataclass(frozen=True)
class Options:
    quick: bool = False
    fer: Path | None = None  # FER2013 folder (with val/), or None when absent
    cache: Path = Path(os.environ.get("MOODPLAYER_CACHE", Path.home() / ".cache" / "moodplayer")) / "benchmarks"
    threads_all: int = os.cpu_count() or 1

    @property
    def rounds(self) -> int:
        return 3 if self.quick else 5

    @property
    def round_frames(self) -> int:  # a multiple of detect.every (3): each round has as many detections
        return 12 if self.quick else 30

    @property
    def warmup(self) -> int:
        return 3 if self.quick else 9

    @property
    def edge_frames(self) -> int:
        return 150 if self.quick else 600

    @property
    def seed_frames(self) -> int:
        return 40 if self.quick else 200

    @property
    def repeats(self) -> int:
        return 1 if self.quick else 2

    @property
    def eval_images(self) -> int | None:
        return 700 if self.quick else None  # None: the whole val split

    @property
    def latency_runs(self) -> int:
        return 40 if self.quick else 200


def digest(*parts: Any, files: Sequence[Path] = ()) -> str:
    h = hashlib.sha256(repr(parts).encode())
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def render(head: Sequence[str], rows: Sequence[Sequence[Any]], markdown: bool = False) -> str:
    """A table: aligned text, or markdown (``markdown``)."""
    cells = [[str(c) for c in row] for row in rows]
    if markdown:
        rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"
        return "\n".join(["| " + " | ".join(head) + " |", rule, *("| " + " | ".join(row) + " |" for row in cells)])
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(head)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, cells)])


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("JOURNAL_STREAM", None)
    env.update(extra)
    return env


@dataclass
class ProcessRun:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    first_frame_s: float | None  # from the start of the process to the marker line on stderr
    peak_rss_mb: float


#: Runs argv[2:] in a child and writes its peak RSS (KB, from wait4) to the file argv[1]. A small process
#: forks it: ``ru_maxrss`` counts what the child had before ``exec``, i.e. a copy of whoever forked it, so
#: forking from the benchmark process itself would report the benchmark's size.
_SHIM = """import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_process(cmd: Sequence[str], marker: Callable[[str], bool], timeout: float = 600.0) -> ProcessRun:
    """Run ``cmd``; time from start to the first stderr line ``marker`` accepts; its peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        rss_file = Path(tmp) / "rss"
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-S", "-c", _SHIM, str(rss_file), *cmd], cwd=ROOT, env=child_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        first: list[float] = []
        err: list[str] = []

        def read_err() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                if not first and marker(line):
                    first.append(time.perf_counter() - started)
                err.append(line)

        def read_out() -> None:
            assert proc.stdout is not None
            out.append(proc.stdout.read())

        out: list[str] = []
        readers = [threading.Thread(target=read_err, daemon=True), threading.Thread(target=read_out, daemon=True)]
        for r in readers:
            r.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the shim and what it runs (its own session)
            proc.wait()
        except BaseException:  # Ctrl-C: the child's session does not get it, so end it here
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - started
        for r in readers:
            r.join(timeout=10)
        rss_kb = int(rss_file.read_text()) if rss_file.is_file() and rss_file.read_text().strip() else 0
    return ProcessRun(proc.returncode, "".join(out), "".join(err), wall, first[0] if first else None, rss_kb / 1024.0)


def run_seed(video: str, vgg: dict[str, Any], frames: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.seed", video, "--model", vgg["model"], "--weights", vgg["weights"],
           "--frames", str(frames), "--loop"]
    r = run_process(cmd, lambda line: line.startswith("FIRST FRAME"))
    if r.returncode != 0:
        raise RuntimeError(f"the seed-style baseline failed ({r.returncode}):\n{r.stderr[-3000:]}")
    data = json.loads(r.stdout.strip().splitlines()[-1])
    return {**data, "first_frame_s": round(r.first_frame_s or 0.0, 3), "peak_rss_mb": round(r.peak_rss_mb, 1),
            "wall_s": round(r.wall_s, 2)}
