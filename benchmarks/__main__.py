"""``python -m benchmarks``: how fast the device loop is, against the original design, in one run.

    python -m benchmarks [--quick] [--json FILE] [--markdown FILE] [--fer DIR] [--only SECTION ...]

Six sections (``benchmarks/suite.py`` has the details):

0. CPU per frame of the whole process, paced at camera rate (15 fps, 640x480), per scene (an empty room,
   one face holding still, two faces moving), beside the decode floor and the seed-style baseline, with
   unpaced frames a second, a timeline plot of a clip where people come and go (``--timeline``) and how
   soon a face walking in is found (``benchmarks/cpu.py``);
1. per-stage latency per frame (read, downscale + detect, crop + preprocess, invoke, smooth, draw) through
   the loop's own ``Pipeline.step``, for the default bundle and a VGG19 int8 bundle, with 1 thread and all
   threads, on 640x480 and 1280x720 videos of a FER2013 val face;
2. end-to-end frames per second of ``python -m edge`` over the 640x480 video, against a seed-style
   baseline (``benchmarks/seed.py``: Keras VGG19 float32, Haar on the full frame every frame) measured in
   the same run; their ratio is the headline;
3. ``python -m edge`` as shipped (music on): time to the first processed frame, peak RSS, and a check
   that it never imports TensorFlow;
4. the bundles in ``models/``: size, their metadata's verification figures, a fresh FER2013 val accuracy,
   and per-face latency;
5. ``memory``: peak RSS of the whole ``python -m edge`` process on the camera path with music on, and
   where it goes (``benchmarks/memory.py``; the Pi Zero 2 W's 120 MB bar);
6. ``detectors``: Haar against BlazeFace: faces found and false faces on a built test set, ms a frame,
   CPU a frame at 15 fps and peak RSS per method (``benchmarks/detectors.py``).

The VGG19 bundle is made by the project's converter from the original recipe with random weights (size
and speed are VGG19's, its answers mean nothing; see ``benchmarks/vgg19_int8.py``) and cached with the
videos under ``$MOODPLAYER_CACHE/benchmarks`` (default ``~/.cache/moodplayer/benchmarks``), so only the
first run pays for the conversion (about a minute). Without
FER2013 (``../shared/datasets/fer2013``, or ``--fer``/``FER2013_DIR``) the videos show no face and no
accuracy is measured; the output says so.

x86 figures are not Pi figures: compare ratios within one run, and run it on the Pi for the Pi's own.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import suite

DEFAULT_JSON = suite.ROOT / "runs" / "benchmarks" / "benchmarks.json"


# -- tables --------------------------------------------------------------------------------------------

def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def stage_table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    head = ["bundle", "threads", "frame", *[suite.STAGE_TITLES[s] for s in suite.STAGES], "total ms", "p90 ms",
            "faces/frame"]
    body = [[r["bundle"], r["threads"], r["resolution"], *[_fmt(r[s]["ms"], 2) for s in suite.STAGES],
             _fmt(r["total"]["ms"], 2), _fmt(r["total"]["p90_ms"], 2), _fmt(r["faces_per_frame"], 2)]
            for r in rows]
    return suite.render(head, body, markdown)


def e2e_table(e2e: dict[str, Any], markdown: bool = False) -> str:
    head = [f"pipeline (640x480 video, {e2e['threads']} threads)", "FPS", "vs seed", "first frame s", "peak RSS MB"]
    body = [[r["pipeline"], _fmt(r["fps"], 1), f"{r['vs_seed']:.2f}x" if r["vs_seed"] else "-",
             _fmt(r["first_frame_s"], 2), _fmt(r["peak_rss_mb"], 0)] for r in e2e["rows"]]
    return suite.render(head, body, markdown)


def startup_table(s: dict[str, Any], markdown: bool = False) -> str:
    head = ["python -m edge (defaults, music on)", "first frame s", "peak RSS MB", "imports TensorFlow"]
    body = [["default bundle, songs/, 640x480 video", _fmt(s["first_frame_s"], 2), _fmt(s["peak_rss_mb"], 0),
             ("YES: " + ", ".join(s["forbidden_imported"])) if s["forbidden_imported"] else "no"]]
    return suite.render(head, body, markdown)


def bundle_table(rows: list[dict[str, Any]], threads_all: int, markdown: bool = False) -> str:
    head = ["bundle", "quant", "size MB", "verified acc (n)", "fresh FER2013 val acc (n)",
            "1-thread ms/face (median / best)", f"{threads_all}-thread ms/face (median / best)"]
    body = []
    for r in rows:
        v = r["verification"]
        if r["random_weights"]:
            verified = "n/a (random weights)"
        else:
            verified = (f"{v['tflite_accuracy']:.3f} ({v.get('n')})" if v.get("tflite_accuracy") is not None
                        else "-")
        fresh = r["fresh"]
        fresh_text = f"{fresh['accuracy']:.3f} ({fresh['n']} of {fresh['of']})" if "accuracy" in fresh else \
            "n/a: " + fresh["skipped"].split(":")[0]
        lat = [r["latency_1t"], r.get(f"latency_{threads_all}t", r["latency_1t"])]
        body.append([r["bundle"], r["quantization"], _fmt(r["tflite_mb"], 2), verified, fresh_text,
                     *[f"{x['median_ms']:.2f} / {x['min_ms']:.2f}" for x in lat]])
    return suite.render(head, body, markdown)


def report(result: dict[str, Any], markdown: bool = False) -> str:
    m = result["machine"]
    threads_all = max(r["threads"] for r in result.get("stages", [{"threads": m["cpus"]}]))
    out = [f"{result['command']}  ({result['started']}, {result['seconds']} s)",
           f"machine: {m.get('cpu_model') or m['machine']}, {m['cpus']} CPUs ({m.get('threads_per_core')} thread(s) "
           f"per core); load average {m['load_average']} at start, {result.get('load_average_end')} at end",
           f"NOTE: {result['note']}."]
    if isinstance(result.get("fer2013"), str) and result["fer2013"].startswith("FER2013 not found"):
        out.append(f"NOTE: {result['fer2013']}.")
    out.append("VGG19: the original recipe with random initial weights (float in the seed-style baseline, int8 by "
               "the project's converter in the new loop): its size and speed are VGG19's, its answers mean nothing.")
    if "end_to_end" in result:
        e = result["end_to_end"]
        rows = {r["key"]: r for r in e["rows"]}
        out.append(f"\nHEADLINE: python -m edge runs {rows['default']['fps']:.1f} FPS against the seed-style "
                   f"baseline's {rows['seed']['fps']:.1f} FPS on the same video in the same run: "
                   f"{e['headline_ratio']:.1f}x (with VGG19 int8 in the new loop: {rows['vgg19']['vs_seed']:.1f}x).")
    if "cpu" in result:
        from benchmarks import cpu

        c = result["cpu"]
        out += [f"\n0. CPU per frame, whole process (getrusage user + system, from {c['warm_s']:.0f} s of media time to "
                f"the end; edge paced at {c['fps']:.0f} fps, music off; seed-style unpaced; ratio = seed-style above "
                f"the decode floor / edge above it; median of {len(c['rows'][0]['edge_ms_runs']) if c['rows'] else 0} "
                "interleaved runs)", cpu.table(c, markdown)]
        if "come_go" in c:
            walk = ", ".join(f"{w['found_after_s']:.2f} s" if w["found_after_s"] is not None else "missed"
                             for w in c["come_go"]["walk_in"])
            out.append(f"people come and go (24 s): {c['come_go']['cpu_ms']:.2f} ms a frame; faces walking in found "
                       f"after (media time, from wholly in view): {walk}")
    if "stages" in result:
        st = result["stages"][0]
        out += [f"\n1. Per-stage latency per frame, ms: the median over {st['rounds']} interleaved rounds of each "
                f"round's mean ({st['frames']} frames per row); Haar runs once every {st['detect_every']} frames on a "
                f"~{st['detect_width']} px wide copy, so detect is an average; p90 is over single frames",
                stage_table(result["stages"], markdown)]
    if "end_to_end" in result:
        out += [f"\n2. End to end (best of {len(result['end_to_end']['all_runs']['seed'])} interleaved runs each)",
                e2e_table(result["end_to_end"], markdown)]
    if "startup" in result:
        out += ["\n3. Start-up and footprint", startup_table(result["startup"], markdown)]
    if "bundles" in result:
        out += ["\n4. Bundles", bundle_table(result["bundles"], threads_all, markdown)]
    if "memory" in result:
        from benchmarks import memory

        out.append(memory.report(result["memory"], markdown))
    if "detectors" in result:
        from benchmarks import detectors

        out += ["\n6. Face detectors (benchmarks/detectors.py)", detectors.table(result["detectors"], markdown)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                epilog="x86 figures are not Pi figures: compare ratios within one run.")
    p.add_argument("--quick", action="store_true",
                   help="fewer frames and runs, a sample of FER2013 val (about a minute)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="FILE",
                   help=f"write every figure here (default {DEFAULT_JSON.relative_to(suite.ROOT)})")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables as Markdown")
    p.add_argument("--fer", type=Path, default=None, help="FER2013 folder with val/ (default: $FER2013_DIR or "
                                                          "../shared/datasets/fer2013)")
    p.add_argument("--only", nargs="+", choices=suite.SECTIONS, default=list(suite.SECTIONS), metavar="SECTION",
                   help=f"run only these sections ({', '.join(suite.SECTIONS)})")
    p.add_argument("--timeline", type=Path, default=DEFAULT_JSON.parent / "cpu_timeline.png", metavar="PNG",
                   help="the cpu section's timeline plot (people come and go)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("benchmarks").setLevel(logging.INFO)

    from benchmarks.clips import FER2013_DIR

    fer = args.fer or FER2013_DIR
    if not (Path(fer) / "val").is_dir():
        fer = None
    opts = suite.Options(quick=args.quick, fer=Path(fer) if fer else None)
    result = suite.run_all(opts, args.only)
    print(report(result))
    if "come_go" in result.get("cpu", {}):
        from benchmarks import cpu

        args.timeline.parent.mkdir(parents=True, exist_ok=True)
        cpu.plot_timeline(args.timeline, result["cpu"]["come_go"])
        print(f"timeline -> {args.timeline}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfigures -> {args.json}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report(result, markdown=True) + "\n")
        print(f"markdown -> {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
