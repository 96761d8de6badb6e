"""CPU seconds per camera frame, the measure that matters on a Pi: heat, power, and headroom for the music
and the page. The ``cpu`` section of ``python -m benchmarks``.

Per scene (``benchmarks.scenes``: an empty room, one face holding still, two faces moving; 640x480 at
15 fps), each in its own process, in turns, ``repeats`` times:

- **decode floor**: the loop's own video source, paced at 15 fps, doing nothing else;
- **edge**: ``edge.loop.run`` paced at 15 fps (``--realtime``), defaults, music off;
- **seed-style**: ``benchmarks.seed`` (Haar on the full frame every frame, Keras VGG19 float) unpaced.

CPU is ``getrusage`` user + system of the whole process (every thread), from ``WARM_S`` seconds of media
time to the end (start-up and one-off work left out). The headline ratio is above the decode floor:
``(seed - floor) / (edge - floor)``. Unpaced frames a second of edge and seed-style on the same videos
go beside it. A clip where people come and go gives the timeline (per-frame CPU, the gate's state,
where the cascade ran) and how soon a face walking into the empty room is found, in media time.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import common, scenes

log = logging.getLogger("benchmarks")

WARM_S = 3.0  # media seconds left out at the start of a paced run
MEASURED = ("empty", "still", "two_moving")
TITLES = {"empty": "empty room", "still": "one face holding still", "two_moving": "two faces moving"}
#: The same loop with one thing changed, on the one-face scene: what each part of the design buys.
VARIANTS = {
    "gate off (Haar every 3rd frame, every face read every frame)": ("detect.gate=false", "detect.reread=0"),
    "threads as before (interpreter 2, OpenCV's default)": ("classify.threads=2", "detect.threads=0"),
}


def scene_videos(opts: common.Options) -> dict[str, scenes.Scene]:
    """Every scene, made once and cached (video + ground truth) under the cache folder."""
    seconds = 12.0 if opts.quick else 24.0
    folder = opts.cache / "scenes"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in scenes.SCENES:
        if name != "empty" and opts.fer is None:
            continue
        length = 24.0 if name == "come_go" else seconds
        key = common.digest(name, str(opts.fer), length, files=[Path(scenes.__file__), Path(scenes.clips.__file__)])
        video, truth = folder / f"{name}-{key}.mp4", folder / f"{name}-{key}.json"
        if video.is_file() and truth.is_file():
            out[name] = scenes.Scene(name, video, scenes.FPS, json.loads(truth.read_text()))
            continue
        tmp = video.with_suffix(".tmp.mp4")
        scene = scenes.make(name, tmp, length, opts.fer)
        tmp.rename(video)
        scene.path = video
        truth.write_text(json.dumps(scene.boxes))
        out[name] = scene
    return out


def probe(video: Path, frames: int, *args: str) -> list[list[Any]]:
    """``benchmarks.cpu_probe`` in a child process: its per-frame rows."""
    cmd = [sys.executable, "-m", "benchmarks.cpu_probe", str(video), "--frames", str(frames), *args]
    r = common.run_process(cmd, lambda line: False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])["rows"]


def cpu_ms(rows: Sequence[Sequence[Any]], warm_s: float = WARM_S) -> float:
    """Whole-process CPU ms per frame from media time ``warm_s`` to the last frame."""
    window = [r for r in rows if r[1] >= warm_s]
    if len(window) < 2:
        raise ValueError(f"fewer than 2 frames after {warm_s} s: make the clip longer")
    return 1000.0 * (window[-1][2] - window[0][2]) / (window[-1][0] - window[0][0])


def fps(rows: Sequence[Sequence[Any]]) -> float:
    return (len(rows) - 1) / (rows[-1][3] - rows[0][3]) if len(rows) > 1 and rows[-1][3] > rows[0][3] else 0.0


def gate_summary(rows: Sequence[Sequence[Any]], warm_s: float = WARM_S) -> dict[str, Any]:
    window = [r for r in rows if r[1] >= warm_s]
    ran = [r for r in window if r[5]]
    return {"states": {s: sum(1 for r in window if r[4] == s) for s in ("idle", "active", "still")},
            "cascade_runs_per_s": round(len(ran) / max(1e-9, window[-1][1] - window[0][1]), 2),
            "searched_mean": round(statistics.fmean(r[6] for r in ran), 3) if ran else 0.0}


def walk_in(scene: scenes.Scene, rows: Sequence[Sequence[Any]]) -> list[dict[str, float]]:
    """For each face that comes wholly into view: the media seconds until the finder reports it."""
    out = []
    for index, box in scenes.entries(scene):
        found = next((r for r in rows[index:] if scenes.clips.hits(r[7], box)), None)
        out.append({"t": round(index / scene.fps, 3),
                    "found_after_s": round(found[1] - index / scene.fps, 3) if found else None})
    return out


def measure(opts: common.Options, vgg: dict[str, Any]) -> dict[str, Any]:
    """The whole section: see the module doc."""
    videos = scene_videos(opts)
    frames = int(round((12.0 if opts.quick else 24.0) * scenes.FPS))
    seed_frames = 60 if opts.quick else 150
    runs: dict[str, dict[str, list[Any]]] = {}
    for _ in range(opts.repeats):
        for name in MEASURED:
            if name not in videos:
                continue
            video = videos[name].path
            r = runs.setdefault(name, {"floor": [], "edge": [], "seed": [], "edge_fps": [], "seed_fps": [], "gate": []})
            r["floor"].append(cpu_ms(probe(video, frames, "--decode-only")))
            rows = probe(video, frames)
            r["edge"].append(cpu_ms(rows))
            r["gate"].append(gate_summary(rows))
            seed = common.run_seed(str(video), vgg, seed_frames)
            r["seed"].append(seed["cpu_ms_per_frame"])
            r["seed_fps"].append(seed["fps"])
            r["edge_fps"].append(fps(probe(video, 3 * frames, "--unpaced")))
            log.info("cpu %s: floor %.2f, edge %.2f, seed-style %.2f ms a frame; unpaced %.0f vs %.1f FPS", name,
                     r["floor"][-1], r["edge"][-1], r["seed"][-1], r["edge_fps"][-1], seed["fps"])
            if name == "still":
                for title, sets in VARIANTS.items():
                    runs.setdefault("variants", {}).setdefault(title, []).append(
                        cpu_ms(probe(video, frames, "--set", *sets)))
    variants = runs.pop("variants", {})
    rows = [_row(name, r) for name, r in runs.items()]
    out: dict[str, Any] = {"fps": scenes.FPS, "frame_size": "640x480", "warm_s": WARM_S, "frames": frames,
                           "seed_frames": seed_frames, "rows": rows, "runs": runs,
                           "variants": {k: [round(v, 3) for v in vals] for k, vals in variants.items()}}
    if "come_go" in videos:
        scene = videos["come_go"]
        timeline = probe(scene.path, scene.frames)
        out["come_go"] = {"walk_in": walk_in(scene, timeline), "cpu_ms": round(cpu_ms(timeline), 3),
                          "gate": gate_summary(timeline), "rows": timeline}
    return out


def _row(name: str, r: dict[str, list[Any]]) -> dict[str, Any]:
    floor, edge, seed = (statistics.median(r[k]) for k in ("floor", "edge", "seed"))
    above_edge, above_seed = max(edge - floor, 1e-3), seed - floor
    return {"scene": name, "title": TITLES[name], "floor_ms": round(floor, 3), "edge_ms": round(edge, 3),
            "seed_ms": round(seed, 3), "edge_above_floor_ms": round(edge - floor, 3),
            "seed_above_floor_ms": round(above_seed, 3), "ratio": round(above_seed / above_edge, 1),
            "edge_fps": round(statistics.median(r["edge_fps"]), 1), "seed_fps": round(statistics.median(r["seed_fps"]), 2),
            "fps_ratio": round(statistics.median(r["edge_fps"]) / statistics.median(r["seed_fps"]), 1),
            "edge_ms_runs": [round(v, 3) for v in r["edge"]], "floor_ms_runs": [round(v, 3) for v in r["floor"]],
            "seed_ms_runs": [round(v, 3) for v in r["seed"]], "gate": r["gate"][-1]}


def table(cpu: dict[str, Any], markdown: bool = False) -> str:

    head = ["scene (640x480, 15 fps)", "decode floor ms", "edge ms (paced)", "seed-style ms", "edge above floor",
            "seed-style above floor", "ratio", "runs (edge ms)", "unpaced FPS edge / seed", "FPS ratio"]
    body = [[r["title"], f"{r['floor_ms']:.2f}", f"{r['edge_ms']:.2f}", f"{r['seed_ms']:.2f}",
             f"{r['edge_above_floor_ms']:.2f}", f"{r['seed_above_floor_ms']:.2f}", f"{r['ratio']:.1f}x",
             " / ".join(f"{v:.2f}" for v in r["edge_ms_runs"]), f"{r['edge_fps']:.0f} / {r['seed_fps']:.1f}",
             f"{r['fps_ratio']:.1f}x"] for r in cpu["rows"]]
    still = next((r for r in cpu["rows"] if r["scene"] == "still"), None)
    if still and cpu.get("variants"):
        body += [[f"  one face, {title}", f"{still['floor_ms']:.2f}", f"{statistics.median(v):.2f}", "",
                  f"{statistics.median(v) - still['floor_ms']:.2f}", "", "", " / ".join(f"{x:.2f}" for x in v), "", ""]
                 for title, v in cpu["variants"].items()]
    return common.render(head, body, markdown)


def plot_timeline(path: Path, come_go: dict[str, Any]) -> None:
    """Per-frame CPU and the detector's activity over the come-and-go clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = come_go["rows"]
    t = [r[1] for r in rows[1:]]
    ms = [1000.0 * (b[2] - a[2]) for a, b in zip(rows, rows[1:])]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax1.plot(t, ms, lw=0.8, color="#444")
    ax1.set_ylabel("CPU ms this frame\n(whole process)")
    ax1.set_title("python -m edge --realtime, 15 fps 640x480: people come and go (x86; shape carries, not ms)")
    colors = {"idle": "#cfe8cf", "active": "#f6c6a0", "still": "#bcd3f2"}
    for r0, r1 in zip(rows, rows[1:]):
        ax2.axvspan(r0[1], r1[1], color=colors.get(r1[4], "white"), lw=0)
    ran = [r for r in rows if r[5]]
    ax2.vlines([r[1] for r in ran], 0, [r[6] for r in ran], color="#a33", lw=1.2, label="cascade ran (height: share searched)")
    ax2.plot([r[1] for r in rows], [len(r[7]) / 2 for r in rows], color="k", lw=1, label="faces tracked / 2")
    ax2.set_ylim(0, 1.45)
    ax2.set_xlabel("media time, s")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    ax2.legend(handles + ax2.get_legend_handles_labels()[0], [*colors, *ax2.get_legend_handles_labels()[1]],
               loc="upper center", fontsize=7, ncol=5, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
