"""Compare the emulated arm64 runs with the x86 reference; one line on stdout, the differences on stderr.

    python tests/arm64/compare.py --dir WORK/share cortex-a72 cortex-a76

For each CPU name it reads ``probe.<cpu>.json`` and ``events.<cpu>.{mkv,mp4}.jsonl`` next to the x86
ones (``probe.x86.json``, ``events.x86.{mkv,mp4}.jsonl``) and checks:

- probe: it ran on aarch64 from the installed package; same labels and top labels, every class
  probability within ``--tolerance`` of x86; BlazeFace's faces on the probe's frames (``detect.npy``):
  as many, every box and eye within 2 px and every score within 0.01 of x86's;
- mood events: the same sequence (frame time, mood, faces), confidence/valence/arousal within tolerance;
- song events: the same sequence of moods, each song from its mood's folder (which song of the folder
  is the recommender's choice, and the player thread's ``t`` depends on speed: neither is compared);
- frame events, on the lossless clip (mkv) only: the same frames (index, t), faces (boxes, tracks) and
  mood per frame, every class probability within tolerance. On the mp4 the decoded pixels differ by a
  level or two between the platforms' FFmpeg builds, so its box agreement and largest |Δprob| are
  reported, not gated; its mood and song events are.

Exit 0 when every CPU agrees, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KINDS = ("mkv", "mp4")  # the lossless clip (numbers gated) and the mp4v one (events gated)


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Diff:
    def __init__(self, cpu: str) -> None:
        self.cpu = cpu
        self.problems: list[str] = []

    def __call__(self, message: str) -> None:
        self.problems.append(message)
        if len(self.problems) <= 12:
            print(f"{self.cpu}: {message}", file=sys.stderr)


def max_delta(a: dict[str, float], b: dict[str, float]) -> float:
    if set(a) != set(b):
        return float("inf")
    return max((abs(a[k] - b[k]) for k in a), default=0.0)


def compare_probe(ref: dict, arm: dict, tol: float, diff: Diff) -> float:
    if arm.get("machine") != "aarch64":
        diff(f"probe ran on {arm.get('machine')!r}, not aarch64")
    if "site-packages" not in arm.get("edge_from", ""):
        diff(f"the probe ran edge from {arm.get('edge_from')}, not the installed package")
    if arm["labels"] != ref["labels"]:
        diff(f"labels {arm['labels']} != {ref['labels']}")
        return float("inf")
    if len(arm["probs"]) != len(ref["probs"]):
        diff(f"probe: {len(arm['probs'])} faces classified, x86 {len(ref['probs'])}")
        return float("inf")
    worst = 0.0
    for i, (p, q) in enumerate(zip(ref["probs"], arm["probs"])):
        d = max(abs(a - b) for a, b in zip(p, q))
        worst = max(worst, d)
        if d > tol:
            diff(f"probe face {i}: max |Δprob| {d:.4f} > {tol} (x86 {_fmt(p)}, arm64 {_fmt(q)})")
    if arm["top"] != ref["top"]:
        diff(f"probe top labels {arm['top']} != x86 {ref['top']}")
    return worst


def compare_blazeface(ref: dict, arm: dict, px: float, diff: Diff) -> str:
    """BlazeFace's faces on the probe's frames: as many on each frame, every box and eye within ``px``
    pixels of x86's and every score within 0.01. Not gated when the x86 reference has none."""
    if "blazeface" not in ref:
        return "not probed"
    if "blazeface" not in arm:
        diff("probe: no BlazeFace boxes on arm64 (models/blazeface beside the bundle folder?)")
        return "missing"
    same = total = 0
    for i, (rf, af) in enumerate(zip(ref["blazeface"], arm["blazeface"])):
        if len(rf) != len(af):
            diff(f"BlazeFace frame {i}: {len(af)} faces on arm64, {len(rf)} on x86")
            continue
        for a, b in zip(rf, af):
            total += 1
            worst = max([abs(x - y) for x, y in zip(a["box"], b["box"])]
                        + [abs(x - y) for p, q in zip(a["eyes"], b["eyes"]) for x, y in zip(p, q)])
            if worst > px or abs(a["score"] - b["score"]) > 0.01:
                diff(f"BlazeFace frame {i}: {b} on arm64, {a} on x86")
            else:
                same += 1
    if len(ref["blazeface"]) != len(arm["blazeface"]):
        diff(f"BlazeFace: {len(arm['blazeface'])} frames on arm64, {len(ref['blazeface'])} on x86")
    return f"{same}/{total}"


def compare_events(ref: list[dict], arm: list[dict], tol: float, diff: Diff, strict: bool = True) -> dict:
    out: dict = {}
    events_diff = diff
    if not strict:
        diff = lambda message: None  # noqa: E731  (frames: counted, not gated)
    # moods
    rm = [e for e in ref if e["type"] == "mood"]
    am = [e for e in arm if e["type"] == "mood"]
    out["moods"] = f"{sum(1 for a, b in zip(rm, am) if _same_mood(a, b, tol))}/{len(rm)}"
    if [(e["t"], e["mood"], e["faces"]) for e in rm] != [(e["t"], e["mood"], e["faces"]) for e in am]:
        events_diff(f"mood events differ: x86 {[(e['t'], e['mood']) for e in rm]}, arm64 {[(e['t'], e['mood']) for e in am]}")
    else:
        for a, b in zip(rm, am):
            if not _same_mood(a, b, tol):
                events_diff(f"mood event at t={a['t']}: x86 {a}, arm64 {b}")
    # songs
    rs = [e["mood"] for e in ref if e["type"] == "song"]
    as_ = [e["mood"] for e in arm if e["type"] == "song"]
    out["songs"] = f"{sum(1 for a, b in zip(rs, as_) if a == b)}/{len(rs)}"
    if rs != as_:
        events_diff(f"song events differ: x86 {rs}, arm64 {as_}")
    for e in arm:
        if e["type"] == "song" and Path(e["path"]).parent.name != e["mood"]:
            events_diff(f"song {e['path']} is not from the {e['mood']} folder")
    # frames
    rf = [e for e in ref if e["type"] == "frame"]
    af = [e for e in arm if e["type"] == "frame"]
    if len(rf) != len(af):
        events_diff(f"{len(af)} frames on arm64, {len(rf)} on x86")
    same = boxes = faces = 0
    worst = 0.0
    for a, b in zip(rf, af):
        ok = True
        if (a["index"], a["t"]) != (b["index"], b["t"]):
            diff(f"frame {a['index']} t={a['t']} vs frame {b['index']} t={b['t']}")
            ok = False
        if a["mood"] != b["mood"]:
            diff(f"frame {a['index']}: mood {a['mood']} on x86, {b['mood']} on arm64")
            ok = False
        if len(a["faces"]) != len(b["faces"]):
            diff(f"frame {a['index']}: {len(a['faces'])} faces on x86, {len(b['faces'])} on arm64")
            ok = False
        for fa, fb in zip(a["faces"], b["faces"]):
            faces += 1
            if fa["box"] == fb["box"] and fa["track"] == fb["track"]:
                boxes += 1
            else:
                diff(f"frame {a['index']}: face {fa['box']} (track {fa['track']}) on x86, "
                     f"{fb['box']} (track {fb['track']}) on arm64")
                ok = False
            d = max_delta(fa["probs"], fb["probs"])
            worst = max(worst, d)
            if d > tol:
                diff(f"frame {a['index']}: max |Δprob| {d:.4f} > {tol} "
                     f"(x86 {_fmt(fa['probs'].values())}, arm64 {_fmt(fb['probs'].values())})")
                ok = False
        same += ok
    out["frames"] = f"{same}/{len(rf)}"
    out["boxes"] = f"{boxes}/{faces}"
    out["loop_dp"] = worst
    return out


def _fmt(values) -> str:
    return "[" + " ".join(f"{v:.3f}" for v in values) + "]"


def _same_mood(a: dict, b: dict, tol: float) -> bool:
    return (a["t"], a["mood"], a["faces"]) == (b["t"], b["mood"], b["faces"]) and all(
        abs(a[k] - b[k]) <= tol for k in ("confidence", "valence", "arousal") if k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, type=Path, help="the folder with the x86 and arm64 results")
    parser.add_argument("--tolerance", type=float, default=0.01, help="max |Δprob| per class")
    parser.add_argument("cpus", nargs="+")
    args = parser.parse_args(argv)
    ref_probe = json.loads((args.dir / "probe.x86.json").read_text())
    ref_events = {kind: read_events(args.dir / f"events.x86.{kind}.jsonl") for kind in KINDS}
    parts, failed = [], False
    for cpu in args.cpus:
        diff = Diff(cpu)
        try:
            arm_probe = json.loads((args.dir / f"probe.{cpu}.json").read_text())
            arm_events = {kind: read_events(args.dir / f"events.{cpu}.{kind}.jsonl") for kind in KINDS}
        except (OSError, ValueError) as e:
            diff(f"no results: {e}")
            parts.append(f"{cpu} FAIL (no results)")
            failed = True
            continue
        probe_dp = compare_probe(ref_probe, arm_probe, args.tolerance, diff)
        faces = compare_blazeface(ref_probe, arm_probe, 2.0, diff)
        mkv = compare_events(ref_events["mkv"], arm_events["mkv"], args.tolerance, diff)
        mp4 = compare_events(ref_events["mp4"], arm_events["mp4"], args.tolerance, diff, strict=False)
        verdict = "ok" if not diff.problems else f"FAIL ({len(diff.problems)} differences)"
        failed |= bool(diff.problems)
        parts.append(f"{cpu} {verdict}: probe max|Δp| {probe_dp:.4f}, BlazeFace faces {faces}; mkv moods {mkv['moods']} songs {mkv['songs']} "
                     f"frames {mkv['frames']} boxes {mkv['boxes']} max|Δp| {mkv['loop_dp']:.4f}; "
                     f"mp4 moods {mp4['moods']} songs {mp4['songs']} (boxes {mp4['boxes']}, "
                     f"max|Δp| {mp4['loop_dp']:.4f}: not gated)")
    v = ref_probe["versions"]
    ref = ref_events["mkv"]
    print("; ".join(parts) + f" [tolerance {args.tolerance}; x86: {len(ref_probe['probs'])} probe faces, "
          f"{sum(e['type'] == 'frame' for e in ref)} frames, moods {[e['mood'] for e in ref if e['type'] == 'mood']}, "
          f"songs {[e['mood'] for e in ref if e['type'] == 'song']}; litert {v.get('ai-edge-litert', '?')} "
          f"numpy {v.get('numpy', '?')} opencv {v.get('opencv-python-headless', '?')}]")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
