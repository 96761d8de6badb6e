"""One measured process: ``python -m edge``'s loop (or only its frame reads) over a video, paced or not,
with the whole process's CPU time read after every frame.

    python -m benchmarks.cpu_probe VIDEO [--decode-only] [--unpaced] [--frames N] [--music] [--profile FILE]
                                         [--set section.key=value ...]

Runs ``edge.loop.run`` itself (the same stages, music thread and all, as ``python -m edge --realtime``)
with an ``on_frame`` hook that reads ``resource.getrusage(RUSAGE_SELF)`` (user + system, every thread of
the process) and the face finder's gate state after each frame. ``--decode-only`` iterates the same
``VideoSource`` and does nothing else: the decode floor. Prints one JSON object on stdout: per frame
``[index, media t, cpu s, wall s, gate state, cascade ran, share searched, face boxes]``.

The finder's answers are noted through ``run``'s ``pipeline`` argument (the loop's own ``Pipeline``, its
finder wrapped so that each frame's ``Found`` is kept).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import pstats
import resource
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def decode_only(video: str, frames: int, paced: bool) -> list[list[Any]]:
    """Read ``frames`` frames through the loop's own video source, paced like ``--realtime``."""
    from edge.sources import SourceConfig, open_source

    rows: list[list[Any]] = []
    with open_source(SourceConfig(spec=video, realtime=paced, loop=True), stop=threading.Event()) as source:
        for frame in source:
            rows.append([frame.index, round(frame.t, 4), _cpu(), time.perf_counter(), "-", False, 0.0, []])
            if len(rows) >= frames:
                break
    return rows


def loop_run(video: str, frames: int, paced: bool, music: bool, overrides: dict[str, str]) -> list[list[Any]]:
    """``edge.loop.run`` over ``video``, one row per frame (see the module doc)."""
    from edge import config as configs
    from edge import loop

    noted: list[Any] = []  # the finder's answer (edge.detect.Found) for the frame being processed

    class Noting:
        """The loop's own finder, keeping each frame's answer for on_frame."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def find(self, frame: Any) -> Any:
            noted[:] = [self.inner.find(frame)]
            return noted[0]

    def pipeline(cfg: Any) -> Any:  # the loop's own stages, its finder wrapped
        from edge.detect import FaceFinder

        return loop.Pipeline(cfg, finder=Noting(FaceFinder(cfg.detect)))

    cfg = configs.load(None, {"source.spec": video, "source.realtime": paced, "source.loop": True,
                              "music.enabled": music, "output.log_every": 0, "output.max_frames": frames,
                              "music.songs": str(Path(__file__).resolve().parent.parent / "songs"), **overrides})
    rows: list[list[Any]] = []

    def on_frame(frame: Any) -> None:
        found = noted[0]
        rows.append([frame.index, round(frame.t, 4), _cpu(), time.perf_counter(), found.state, found.detected,
                     round(found.searched, 3), [list(f.box) for f in found.faces]])

    loop.run(cfg, on_frame=on_frame, pipeline=pipeline)
    return rows


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{item!r} is not KEY=VALUE, e.g. detect.gate=false")
    return key, value


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("video")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--decode-only", action="store_true", help="only read the frames: the decode floor")
    p.add_argument("--unpaced", action="store_true", help="as fast as it goes (default: paced at the video's fps)")
    p.add_argument("--music", action="store_true", help="music on (SDL_AUDIODRIVER decides where it goes)")
    p.add_argument("--profile", type=Path, help="cProfile the run; the top functions by own time go here")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", type=_key_value,
                   help="config overrides, e.g. detect.gate=false")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    overrides = dict(args.set)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    if args.decode_only:
        rows = decode_only(args.video, args.frames, not args.unpaced)
    else:
        rows = loop_run(args.video, args.frames, not args.unpaced, args.music, overrides)
    if profiler:
        profiler.disable()
        with open(args.profile, "w") as f:
            pstats.Stats(profiler, stream=f).sort_stats("tottime").print_stats(25)
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
