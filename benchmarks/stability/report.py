"""What the command prints and writes: tables through ``benchmarks.common.render``, JSON through the
events encoder (``edge.events.dumps``: numpy values as numbers, an infinite switch time as null)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import render
from benchmarks.stability.figures import FPS, TARGETS, Recorded, meets, slack
from edge.events import dumps


def fmt(x: float, digits: int = 2) -> str:
    return "inf" if isinstance(x, float) and math.isinf(x) else f"{x:.{digits}f}"


def clip_table(scored: Sequence[Recorded], figs: Sequence[dict[str, Any]], dropped: Sequence[dict[str, Any]]) -> str:
    """One row a clip: the probe, the share found, raw and mood changes a minute, songs, shares, switch."""
    head = ("clip", "probe", "found", "raw/min", "mood/min", "songs", "uncert", "right", "switch s", "events")
    rows = []
    for rec, f in zip(scored, figs):
        probe = "/".join(f"{p['top'][:3]} {p['confidence']:.2f}" for p in rec.spec["probe"])
        events = " ".join(f"{t:g}:{label[:4]}" for t, label in f["events"])
        rows.append((rec.spec["name"], probe[:11], f"{f['found']:.0%}", f"{f['raw_changes_per_min']:.1f}",
                     f"{f['mood_changes_per_min']:.1f}", f["song_switches"], f"{f['uncertain']:.0%}",
                     f"{f['correct']:.0%}", fmt(f["switch_s"], 1) if "switch_s" in f else "", events[:60]))
    rows += [(d["name"], "dropped", "", "", "", "", "", "", "", f"raw majority {d['majority']} misses the change")
             for d in dropped]
    return render(head, rows)


def summary_table(shipped: dict[str, Any], change_clips: int) -> str:
    """The shipped defaults' figures beside the targets."""
    rows = [
        ("mood changes / min, constant clips", fmt(shipped["flips_per_min"]), f"<= {TARGETS['flips_per_min']}"),
        ("  hard faces only", fmt(shipped["flips_per_min_hard"]), ""),
        ("  worst constant clip", fmt(shipped["worst_clip_flips_per_min"]), ""),
        ("  song switches / min (named -> named)", fmt(shipped["song_switches_per_min"]), ""),
        ("raw per-frame top-1 changes / min", fmt(shipped["raw_changes_per_min"], 1), ""),
        ("switch time, median (s)", fmt(shipped["switch_median_s"]), f"<= {TARGETS['switch_median_s']}"),
        ("switch time, 90th percentile (s)", fmt(shipped["switch_p90_s"]), f"<= {TARGETS['switch_p90_s']}"),
        ("change clips missed (never switched)", f"{shipped['missed']} of {change_clips}", ""),
        ("time uncertain, constant clips", f"{shipped['uncertain_constant']:.1%}", ""),
        ("time uncertain, change clips", f"{shipped['uncertain_change']:.1%}", ""),
        ("time the mood is right, constant clips", f"{shipped['correct_constant']:.1%}",
         f"(raw per frame {shipped['raw_correct_constant']:.1%})"),
    ]
    return render(("figure", "measured", "target"), rows)


def verdict(shipped: dict[str, Any], sweep: Sequence[dict[str, Any]], mismatched: Sequence[str], clips: int,
            va_in_events: bool) -> str:
    """The closing lines: targets met, the best grid setting, and the two self-checks."""
    feasible = sum(meets(s) for s in sweep)
    lines = [f"targets met with the shipped defaults: {'yes' if meets(shipped) else 'NO'}; "
             f"{feasible} of {len(sweep)} grid settings meet them"]
    if sweep:
        best = max(sweep, key=slack)
        keys = [k for k in best if k in ("half_life", "hold", "margin", "min_confidence", "tie_margin")]
        lines.append(f"best grid setting (largest worst-case slack to the targets, {slack(best):.2f}): "
                     + ", ".join(f"{k} {best[k]:g}" for k in keys)
                     + f" -> {best['flips_per_min']:.2f} changes/min, switch median {fmt(best['switch_median_s'])} s, "
                     f"p90 {fmt(best['switch_p90_s'])} s")
    lines.append(f"replay reproduces the loop's mood events: {clips - len(mismatched)} of {clips} clips"
                 + (f" (differs: {', '.join(mismatched)})" if mismatched else ""))
    lines.append(f"valence/arousal in every mood event: {'yes' if va_in_events else 'NO'}")
    return "\n".join(lines)


def header(model: str, sha: str, cfg: Any) -> str:
    return (f"Mood stability: model {model} ({sha[:12]}), {FPS:g} fps, shipped MoodConfig: half_life "
            f"{cfg.half_life:g} s, hold {cfg.hold:g} s, margin {cfg.margin:g}, min_confidence "
            f"{cfg.min_confidence:g}, tie_margin {cfg.tie_margin:g}")


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(report, indent=1))


def assemble(*, model_dir: Path, sha: str, shipped_cfg: Any, shipped: dict[str, Any], scored: Sequence[Recorded],
             figs: Sequence[dict[str, Any]], dropped: list, notes: list, mismatched: list, clips: int,
             va_in_events: bool, grid: dict, sweep: list, pick: Recorded | None, results: list, timing: dict,
             version: int) -> dict[str, Any]:
    """The JSON report (what ``--json`` writes)."""
    import dataclasses
    import os
    import platform

    return {
        "benchmark": "stability", "version": version,
        "model": {"name": model_dir.name, "path": str(model_dir), "sha256": sha},
        "fps": FPS, "targets": TARGETS, "shipped_config": dataclasses.asdict(shipped_cfg),
        "shipped": shipped, "targets_met": meets(shipped),
        "clips": [{**rec.spec, **f} for rec, f in zip(scored, figs)],
        "dropped": dropped, "notes": notes,
        "replay_matches_loop": {"clips": clips, "mismatched": mismatched},
        "valence_arousal_in_mood_events": va_in_events,
        "grid": {" + ".join(k) if isinstance(k, tuple) else k: v for k, v in grid.items()},
        "sweep": sweep, "feasible": sum(meets(s) for s in sweep), "best": max(sweep, key=slack) if sweep else None,
        "timeline_clip": pick.spec["name"] if pick is not None else None,
        "loop": {r["name"]: {"render_s": r["render_s"], "loop_s": r["loop_s"]} for r in results},
        "timing": timing, "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                      "platform": platform.platform()},
    }
