"""Peak memory of the whole device process (``python -m benchmarks --only memory``): the Pi Zero 2 W's bar.

What is measured is what a Pi's 512 MB feel: the peak resident set (``ru_maxrss`` from ``wait4``, through
``common.run_process``'s fork shim) of one ``python -m edge`` process, headless, paced (``--realtime``),
music on (SDL's dummy audio driver: the mixer, its decoder and its thread run; nothing is heard):

- ``camera``: the camera path. A camera's frames are not decoded from a file, so a 640x480 photo of a
  face (the benchmark clip's first frame), looped at the camera rate (30 fps) stands for it;
- songs analysed from scratch (a fresh copy of the folder: a first start, or new songs) against
  features cached (every later start): the song analysis is the largest transient;
- the shipped songs (short: 20-30 s) and full-length ones (the shipped ones looped to 3.5 minutes,
  44.1 kHz stereo, so that the analysis reads its whole 45 s excerpt, as with real music);
- music off; and a video file (mp4v, 640x480, 10 fps) as the source, where OpenCV's FFmpeg decodes.

While each run goes, ``/proc/<pid>/smaps`` is read every 50 ms; at the highest sample the resident
memory is split by mapping into ``SHARES`` (the libraries' code and data, the heap and anonymous
memory: Python objects, NumPy arrays, LiteRT's arena, thread stacks). ``Rss`` there counts a shared
library's pages once per process, as ``ru_maxrss`` does.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks import common

log = logging.getLogger("benchmarks")

BAR_MB = 120.0  # the camera path with music on, peak (docs/raspberry-pi.md: Pi Zero 2 W)
FULL_SONG_S = 210.0
SAMPLE_S = 0.05
PROCESSED = re.compile(r"processed (\d+) frames in ([\d.]+) s \(([\d.]+) FPS\)")  # the loop's last line

#: Mapping names (substrings of the path, first match wins) -> share.
SHARES = (
    ("litert", "LiteRT (ai-edge-litert)"), ("cv2", "OpenCV (+ FFmpeg, OpenBLAS)"),
    ("opencv_python", "OpenCV (+ FFmpeg, OpenBLAS)"), ("numpy", "NumPy (+ OpenBLAS)"),
    ("pygame", "pygame + SDL"), ("SDL", "pygame + SDL"), ("libpython", "Python"),
    ("lib-dynload", "Python"), ("python3", "Python"), ("soundfile", "soundfile + libsndfile"),
    ("sndfile", "soundfile + libsndfile"), ("cffi", "soundfile + libsndfile"), (".tflite", "the model file"),
    ("[heap]", "heap + anonymous (Python objects, arrays, LiteRT arena, stacks)"),
    ("[anon]", "heap + anonymous (Python objects, arrays, LiteRT arena, stacks)"),
    ("[stack", "heap + anonymous (Python objects, arrays, LiteRT arena, stacks)"),
)
OTHER = "other libraries (libc, libstdc++, libcrypto, glib ...)"


def smaps_by_mapping(pid: int) -> dict[str, int]:
    """Resident KB of each mapping name of ``pid`` (``[anon]`` for unnamed ones)."""
    out: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split(maxsplit=5)
                name = parts[5].strip() if len(parts) > 5 else "[anon]"
            elif line.startswith("Rss:"):
                out[name] += int(line.split()[1])
    return dict(out)


def shares(mappings: dict[str, int]) -> dict[str, float]:
    """``mappings`` (KB) summed into ``SHARES`` (MB), largest first."""
    total: collections.Counter[str] = collections.Counter()
    for name, kb in mappings.items():
        share = next((s for key, s in SHARES if key in name), OTHER)
        total[share] += kb
    return {s: round(kb / 1024, 1) for s, kb in total.most_common()}


class _Sampler(threading.Thread):
    """Reads the smaps of the shim's child (the ``python -m edge`` process) every ``SAMPLE_S``; keeps the
    highest total."""

    def __init__(self, shim_pid: int) -> None:
        super().__init__(daemon=True)
        self.shim_pid = shim_pid
        self.peak_kb = 0
        self.at_peak: dict[str, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            try:
                children = Path(f"/proc/{self.shim_pid}/task/{self.shim_pid}/children").read_text().split()
                if not children:
                    continue
                maps = smaps_by_mapping(int(children[0]))
            except (OSError, ValueError):
                continue
            total = sum(maps.values())
            if total > self.peak_kb:
                self.peak_kb, self.at_peak = total, maps


def run_measured(cmd: list[str], timeout: float = 600.0) -> dict[str, Any]:
    """``cmd`` through the ``ru_maxrss`` shim, its smaps sampled; peak RSS, the split at the sampled
    peak, and the loop's own frame figures."""
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        rss_file = Path(tmp) / "rss"
        proc = subprocess.Popen([sys.executable, "-S", "-c", common._SHIM, str(rss_file), *cmd], cwd=common.ROOT,
                                env=common.child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        sampler = _Sampler(proc.pid)
        sampler.start()
        try:
            _, err = proc.communicate(timeout=timeout)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            sampler.done.set()
            sampler.join(5)
        peak_kb = int(rss_file.read_text() or 0) if rss_file.is_file() else 0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    m = PROCESSED.search(err)
    analysed = re.search(r"song features: (\d+) analysed", err)
    return {"peak_rss_mb": round(peak_kb / 1024, 1), "sampled_peak_mb": round(sampler.peak_kb / 1024, 1),
            "shares_mb": shares(sampler.at_peak), "fps": float(m.group(3)) if m else None,
            "frames": int(m.group(1)) if m else None, "songs_analysed": int(analysed.group(1)) if analysed else 0}


def full_length_songs(folder: Path) -> Path:
    """The shipped songs looped to ``FULL_SONG_S`` seconds at 44.1 kHz stereo (OGG Vorbis), made once."""
    import soundfile as sf

    done = folder / ".complete"
    if done.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for song in sorted(common.SONGS.glob("*/*.ogg")):
        y, rate = sf.read(song, dtype="float32", always_2d=True)
        y = np.repeat(np.repeat(y[:, :1], 2, axis=1), max(1, 44_100 // rate), axis=0)  # stereo, 44.1 kHz
        n = int(FULL_SONG_S * 44_100)
        target = folder / song.parent.name / song.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with sf.SoundFile(target, "w", 44_100, 2, format="OGG", subtype="VORBIS") as f:
            for start in range(0, n, 44_100):  # a second at a time (libsndfile's Vorbis encoder and big writes)
                idx = np.arange(start, min(n, start + 44_100)) % len(y)
                f.write(y[idx])
    done.write_text("")
    return folder


def measure(opts: common.Options, video: str) -> dict[str, Any]:
    """The rows of the memory table (see the module docstring)."""
    frames = 150 if opts.quick else 450
    folder = opts.cache / "memory"
    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / "room.jpg"
    cap = cv2.VideoCapture(video)
    ok, first = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"cannot read a frame of {video}")
    cv2.imwrite(str(photo), first)
    full = full_length_songs(folder / "full-length-songs")

    def edge(source: str, songs: Path | None, n: int = frames) -> list[str]:
        cmd = [sys.executable, "-m", "edge", "--source", source, "--loop", "--realtime", "--headless",
               "--max-frames", str(n)]
        return cmd + (["--songs", str(songs)] if songs else ["--music-enabled", "false"])

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-mem-songs-") as tmp:
        shipped, longer = Path(tmp) / "shipped", Path(tmp) / "full"
        shutil.copytree(common.SONGS, shipped, ignore=shutil.ignore_patterns(".moodplayer-features.json"))
        shutil.copytree(full, longer, ignore=shutil.ignore_patterns(".moodplayer-features.json", ".complete"))
        plan = [
            ("camera", "camera path, music on, shipped songs analysed from scratch", edge(str(photo), shipped)),
            ("camera_full", "camera path, music on, full-length songs analysed from scratch", edge(str(photo), longer)),
            ("camera_cached", "camera path, music on, song features cached", edge(str(photo), longer)),
            ("camera_silent", "camera path, music off", edge(str(photo), None)),
            ("video", "a video file (mp4v 640x480), music on, features cached", edge(video, longer, frames // 3)),  # 10 fps
        ]
        for key, label, cmd in plan:
            if key == "camera_cached":  # finish the analysis of the full-length songs first, if the run did not
                subprocess.run([sys.executable, "-m", "edge", "songs", "scan", str(longer)], cwd=common.ROOT,
                               env=common.child_env(), capture_output=True, timeout=600, check=False)
            t = time.perf_counter()
            row = {"key": key, "run": label, **run_measured(cmd), "wall_s": round(time.perf_counter() - t, 1)}
            rows.append(row)
            log.info("memory: %s: peak %.1f MB", label, row["peak_rss_mb"])
    bar = max(r["peak_rss_mb"] for r in rows if r["key"].startswith("camera"))
    return {"frames": frames, "photo": str(photo), "video": video, "bar_mb": BAR_MB, "camera_peak_mb": bar,
            "within_bar": bar <= BAR_MB, "rows": rows}


def table(m: dict[str, Any], markdown: bool = False) -> str:
    head = ["python -m edge (headless, paced)", "peak RSS MB", "FPS", "songs analysed"]
    body = [[r["run"], f"{r['peak_rss_mb']:.1f}", f"{r['fps']:.1f}" if r["fps"] else "-", str(r["songs_analysed"])]
            for r in m["rows"]]
    return common.render(head, body, markdown)


def shares_table(m: dict[str, Any], markdown: bool = False) -> str:
    row = max((r for r in m["rows"] if r["key"].startswith("camera")), key=lambda r: r["peak_rss_mb"])
    body = [[name, f"{mb:.1f}"] for name, mb in row["shares_mb"].items()]
    body.append(["total at the sampled peak", f"{row['sampled_peak_mb']:.1f}"])
    return common.render([f"where it goes: {row['run']} (MB)", "RSS MB"], body, markdown)


def report(m: dict[str, Any], markdown: bool = False) -> str:
    verdict = "within" if m["within_bar"] else "OVER"
    return "\n".join([
        f"\n5. Memory: peak RSS of the whole process, {m['frames']} frames (ru_maxrss); the camera path's highest "
        f"{m['camera_peak_mb']:.1f} MB is {verdict} the {m['bar_mb']:.0f} MB bar (Pi Zero 2 W, docs/raspberry-pi.md)",
        table(m, markdown), shares_table(m, markdown)])
