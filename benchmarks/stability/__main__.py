"""``python -m benchmarks.stability``: the clips, the loop, the replay, the sweep, the tables and files
(the package docstring says what each figure means)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import clips, stability
from benchmarks.stability import figures, plots, record, report
from benchmarks.stability.footage import PAIRS

log = logging.getLogger("benchmarks.stability")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stability",
                                     description=(stability.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--fer", default=str(clips.FER2013_DIR), help="FER2013 folder (with val/); default %(default)s")
    parser.add_argument("--model", default="", help="bundle folder (default: models/default)")
    parser.add_argument("--out", default=str(clips.ROOT / "runs" / "stability"), help="folder for the PNGs")
    parser.add_argument("--json", default="", help="JSON file (default OUT/stability.json)")
    parser.add_argument("--quick", action="store_true",
                        help="4 constant + 4 change clips and an 8-point grid (a smoke test)")
    parser.add_argument("--constant", type=int, default=8, help="constant clips, 60 s each (half of them hard)")
    parser.add_argument("--change", type=int, default=16, help=f"change clips, 40 s each (at most {len(PAIRS)})")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes for the loop runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="", help="keep the recorded frames here and reuse them when they match")
    parser.add_argument("--timeline", default="", help="the clip to draw (default: the change clip with the most "
                                                       "raw flicker)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from edge.mood import MoodConfig
    from edge.settings import DEFAULT_MODEL

    started, model_dir, out = time.perf_counter(), Path(args.model) if args.model else DEFAULT_MODEL, Path(args.out)
    if not (Path(args.fer) / "val").is_dir():
        log.error("%s (or pass --fer DIR)", clips.no_fer2013(Path(args.fer) / "val"))
        return 2
    out.mkdir(parents=True, exist_ok=True)
    specs, results, labels, notes, timing = record.collect(args, model_dir)
    recs = [record.to_recorded(spec, res, labels) for spec, res in zip(specs, results)]
    scored, dropped = figures.split_scored(recs)
    shipped_cfg = MoodConfig()
    shipped, figs = figures.evaluate(scored, shipped_cfg, labels)
    mismatched = figures.replay_mismatches(recs, results, labels)
    va_in_events = all({"valence", "arousal"} <= set(e) for res in results for e in res["moods"])
    grid, t_sweep = figures.QUICK_GRID if args.quick else figures.GRID, time.perf_counter()
    sweep = figures.sweep(scored, grid, labels, max(1, args.jobs))
    timing["sweep_s"] = round(time.perf_counter() - t_sweep, 1)
    sha = record.sha256(model_dir / "model.tflite")
    print(f"\n{report.header(model_dir.name, sha, shipped_cfg)}\n\n{report.clip_table(scored, figs, dropped)}")
    print("".join(f"note: {note}\n" for note in notes))
    changes = sum(r.spec["kind"] == "change" for r in scored)
    print(f"{report.summary_table(shipped, changes)}\n\n{report.verdict(shipped, sweep, mismatched, len(recs), va_in_events)}")
    pick = plots.timeline_clip(recs, scored, args.timeline)
    plots.draw(out, pick, sweep, shipped_cfg, shipped, labels)
    timing["total_s"] = round(time.perf_counter() - started, 1)
    json_path = Path(args.json) if args.json else out / "stability.json"
    report.write_json(json_path, report.assemble(
        model_dir=model_dir, sha=sha, shipped_cfg=shipped_cfg, shipped=shipped, scored=scored, figs=figs,
        dropped=dropped, notes=notes, mismatched=mismatched, clips=len(recs), va_in_events=va_in_events, grid=grid,
        sweep=sweep, pick=pick, results=results, timing=timing, version=record.VERSION))
    print(f"\nwrote {json_path}, {out / 'stability_timeline.png'}, {out / 'stability_tradeoff.png'} "
          f"in {timing['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
