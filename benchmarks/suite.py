"""The measurements behind ``python -m benchmarks``: each section returns plain dicts (what ``--json`` writes).

- ``stages``: per-stage latency per frame through the device loop's own ``Pipeline.step`` (read,
  downscale + detect, crop + preprocess, invoke, smooth, draw), per bundle, thread count and frame size;
- ``end_to_end``: frames per second over a video for ``python -m edge`` and the seed-style baseline
  (``benchmarks.seed``), each in its own process, with time to first frame and peak RSS;
- ``startup``: ``python -m edge`` on its defaults (music on): time to first processed frame, peak RSS,
  and whether it imported TensorFlow;
- ``cpu``: CPU seconds per frame of the whole process, paced at camera rate, per scene, beside the
  decode floor and the seed-style baseline (``benchmarks.cpu``);
- ``bundles``: size, metadata figures, a fresh FER2013 val accuracy and per-face latency of ``models/*``.

This module never imports TensorFlow: the VGG19 bundle is built (``benchmarks.vgg19_int8``) and the
baseline runs (``benchmarks.seed``) in child processes.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.common import MODELS, ROOT, SONGS, Options, ProcessRun, child_env, digest, render, run_process, run_seed  # noqa: F401 (re-exported)

log = logging.getLogger("benchmarks")

RESOLUTIONS = ((640, 480), (1280, 720))
FACE_SIZES = {(640, 480): 200, (1280, 720): 300}  # face side in the clip, px
CLIP_FPS = 10.0
X86_NOTE = ("x86 figures are not Pi figures: a Raspberry Pi's Cortex-A cores are several times slower and the "
            "ratios between stages differ there; compare the ratios within one run, and time the Pi itself")
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "converter", "jax", "torch")


# -- the machine ---------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    """What the figures came from: CPU model and cores (``lscpu``), load, versions."""
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "python": platform.python_version(), "cpus": os.cpu_count(),
                            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info.update({"cpu_model": fields.get("Model name", ""), "lscpu_cpus": fields.get("CPU(s)"),
                     "threads_per_core": fields.get("Thread(s) per core"),
                     "cores_per_socket": fields.get("Core(s) per socket")})
    except (OSError, subprocess.SubprocessError, ValueError):
        info["cpu_model"] = platform.processor() or platform.machine()
    info["load_average"] = _loadavg()
    versions = {}
    for package in ("numpy", "opencv-python-headless", "ai-edge-litert", "tflite-runtime", "tensorflow-cpu",
                    "tensorflow", "tf-keras", "pygame"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    info["versions"] = versions
    return info


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# -- inputs: the VGG19 bundle and the clips --------------------------------------------------------------

def vgg19_bundle(opts: Options) -> dict[str, Any]:
    """The VGG19 int8 bundle (``benchmarks.vgg19_int8``: random weights), built once in a child process
    and kept under the cache folder, keyed by the converter's code and TensorFlow's version."""
    tf_version = next((_version(p) for p in ("tensorflow-cpu", "tensorflow") if _version(p)), "none")
    code = [ROOT / "converter" / f for f in ("archs.py", "synthetic.py", "quantize.py", "convert.py", "verify.py")]
    key = digest("vgg19-int8", tf_version, files=[*code, ROOT / "benchmarks" / "vgg19_int8.py"])
    folder = opts.cache / f"vgg19-int8-{key}"
    if (folder / "info.json").is_file() and (folder / "bundle" / "model.tflite").is_file():
        return {**json.loads((folder / "info.json").read_text()), "cached": True}
    log.info("building the VGG19 int8 bundle with the converter (random weights; once, then cached in %s)",
             folder)
    opts.cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".vgg19-", dir=opts.cache))
    try:
        out = subprocess.run([sys.executable, "-m", "benchmarks.vgg19_int8", "--out", str(tmp)], cwd=ROOT,
                             env=child_env(), capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(f"building the VGG19 bundle failed:\n{out.stderr[-3000:]}")
        info = json.loads(out.stdout.strip().splitlines()[-1])
        # Paths inside info point into tmp: rewrite them for the final folder, then move it into place.
        info = {k: (str(v).replace(str(tmp), str(folder)) if isinstance(v, str) else v) for k, v in info.items()}
        (tmp / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**info, "cached": False}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def make_clips(opts: Options) -> dict[str, Any]:
    """One video per frame size: a FER2013 val face (happy, then sad) drifting near the centre, or, without
    FER2013, a textured background with no face (then crop, preprocess and invoke never run)."""
    seconds = 8.0 if opts.quick else 16.0
    out: dict[str, Any] = {"faces": opts.fer is not None, "fps": CLIP_FPS, "files": {}}
    from benchmarks import clips

    folder = opts.cache / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    for w, h in RESOLUTIONS:
        name = f"{w}x{h}"
        if opts.fer is not None:
            key = digest("fer", str(opts.fer), w, h, seconds, FACE_SIZES[(w, h)],
                          files=[ROOT / "benchmarks" / "clips.py"])
            path = folder / f"faces-{name}-{key}.mp4"
            if not path.is_file():
                tmp = path.with_suffix(".tmp.mp4")
                clips.make_clip(tmp, [("happy", seconds / 2), ("sad", seconds / 2)], fps=CLIP_FPS, fer_dir=opts.fer,
                                size=FACE_SIZES[(w, h)], frame_size=(w, h))
                tmp.rename(path)
        else:
            path = folder / f"noface-{name}-{int(seconds)}s.mp4"
            if not path.is_file():
                tmp = path.with_suffix(".tmp.mp4")
                clips.empty_video(tmp, int(seconds * CLIP_FPS), CLIP_FPS, frame_size=(w, h)).rename(path)
        out["files"][name] = str(path)
    return out


# -- 1. per-stage latency --------------------------------------------------------------------------------

STAGES = ("read", "detect", "crop_prep", "invoke", "smooth", "draw")
STAGE_TITLES = {"read": "read", "detect": "downscale+detect", "crop_prep": "crop+preprocess", "invoke": "invoke",
                "smooth": "smooth", "draw": "draw"}


class _TimedInterpreter:
    """Wraps a TFLite interpreter and adds up the wall time of ``invoke()``; everything else passes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0

    def invoke(self) -> None:
        t = time.perf_counter()
        self._inner.invoke()
        self.seconds += time.perf_counter() - t

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _CountingClassifier(bundle: Any, faces: list[int], **kwargs: Any) -> Any:  # noqa: N802 (a class, made lazily)
    """The loop's classifier, counting the faces of each call into ``faces``."""
    from edge.classify import Classifier

    class Counting(Classifier):
        def classify(self, frame, found):
            faces.append(len(found))
            return super().classify(frame, found)

    return Counting(bundle, **kwargs)


class _NullRecorder:
    """Stands in for ``--record`` so that ``Pipeline.step`` draws the overlay (and times it) but writes nothing."""

    def write(self, image: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


class StageRunner:
    """One configuration (bundle, threads, video) of the device loop's ``Pipeline``, kept open so that
    configurations can take turns: ``run(n)`` steps ``n`` more frames and returns each one's stage times.

    ``read``, ``detect`` (downscale, gray, Haar every ``detect.every`` frames, tracker), ``smooth`` (the mood
    filter) and ``draw`` (the overlay, drawn as for ``--record`` but written nowhere) are the loop's own
    per-stage timer; its ``classify`` is split into ``invoke`` (the interpreter's ``invoke()``) and
    ``crop_prep`` (the rest: crop, color, resize, scale, quantize, and reading and dequantizing the
    output). ``threads`` is both the TFLite interpreter's threads and OpenCV's (``cv2.setNumThreads``,
    process-wide: set at every turn).
    """

    def __init__(self, bundle: Path, threads: int, video: Path) -> None:
        from edge import bundle as bundles
        from edge import config as configs
        from edge.interpreter import load_interpreter
        from edge.loop import Pipeline
        from edge.sources import open_source

        self.threads = threads
        self.cfg = configs.load(None, {"source.spec": str(video), "source.loop": True, "classify.model": str(bundle),
                                       "classify.threads": threads, "music.enabled": False, "output.log_every": 0})
        cv2.setNumThreads(threads)
        loaded = bundles.load(bundle)
        self._timed = _TimedInterpreter(load_interpreter(loaded.model_path, threads))
        self.faces: list[int] = []
        classifier = _CountingClassifier(loaded, self.faces, interpreter=self._timed)
        self.pipe = Pipeline(self.cfg, bundle=loaded, classifier=classifier)
        self.pipe.recorder = _NullRecorder()  # type: ignore[assignment]
        self._stop = threading.Event()
        self.source = open_source(self.cfg.source, stop=self._stop)
        self.shape: tuple[int, ...] | None = None

    def run(self, frames: int) -> list[dict[str, float]]:
        cv2.setNumThreads(self.threads)
        pipe, rows = self.pipe, []
        for _ in range(frames):
            pipe.timer.start()
            frame = self.source.read()
            if frame is None:
                raise RuntimeError(f"{self.source.name} gave no frame")
            before = self._timed.seconds
            pipe.step(frame, self._stop)
            last = pipe.timer.last
            invoke = self._timed.seconds - before
            rows.append({"read": last["read"], "detect": last["detect"],
                         "crop_prep": max(0.0, last["classify"] - invoke), "invoke": invoke,
                         "smooth": last["mood"], "draw": last.get("draw", 0.0)})
            self.shape = frame.image.shape
        return rows

    def close(self) -> None:
        self.source.close()
        self.pipe.close()


def _summary(rounds: list[list[dict[str, float]]]) -> dict[str, Any]:
    """Per stage: ``ms`` = the median over rounds of each round's mean (a burst of background load spoils a
    round, not the figure), and the mean, median, 90th percentile and maximum over all frames."""
    out: dict[str, Any] = {}
    frames = [r for rnd in rounds for r in rnd]
    for stage in (*STAGES, "total"):
        pick = (lambda r: sum(r.values())) if stage == "total" else (lambda r, s=stage: r[s])
        values = np.array([pick(r) for r in frames]) * 1000.0
        per_round = [1000.0 * float(np.mean([pick(r) for r in rnd])) for rnd in rounds]
        out[stage] = {"ms": round(float(np.median(per_round)), 3), "mean_ms": round(float(values.mean()), 3),
                      "p50_ms": round(float(np.median(values)), 3),
                      "p90_ms": round(float(np.percentile(values, 90)), 3), "max_ms": round(float(values.max()), 3),
                      "round_means_ms": [round(v, 3) for v in per_round]}
    return out


def stages(opts: Options, bundles: dict[str, Path], videos: dict[str, str]) -> list[dict[str, Any]]:
    """Every (bundle, threads, frame size) configuration, ``opts.rounds`` rounds of ``opts.round_frames``
    frames each, the configurations taking turns round by round (after ``opts.warmup`` frames each), so
    that background load falls on all of them alike."""
    cv_threads = cv2.getNumThreads()
    runners: dict[tuple[str, int, str], StageRunner] = {}
    rounds: dict[tuple[str, int, str], list[list[dict[str, float]]]] = {}
    try:
        for name, path in bundles.items():
            for threads in sorted({1, opts.threads_all}):
                for res, video in videos.items():
                    runner = StageRunner(path, threads, Path(video))
                    runners[(name, threads, res)] = runner
                    runner.run(opts.warmup)
                    runner.faces.clear()
                    rounds[(name, threads, res)] = []
        for _ in range(opts.rounds):
            for key, runner in runners.items():
                rounds[key].append(runner.run(opts.round_frames))
    finally:
        for runner in runners.values():
            runner.close()
        cv2.setNumThreads(cv_threads)
    rows = []
    for (name, threads, res), runner in runners.items():
        shape = runner.shape
        r: dict[str, Any] = {"bundle": name, "resolution": res, "threads": threads,
                             "frame_size": f"{shape[1]}x{shape[0]}" if shape else None,
                             "frames": sum(len(x) for x in rounds[(name, threads, res)]), "rounds": opts.rounds,
                             "faces_per_frame": round(float(np.mean(runner.faces)) if runner.faces else 0.0, 2),
                             "detect_every": runner.cfg.detect.every, "detect_width": runner.cfg.detect.detect_width,
                             **_summary(rounds[(name, threads, res)])}
        log.info("stages %s, %d thread(s), %s: %.1f ms/frame (invoke %.1f)", name, threads, res, r["total"]["ms"],
                 r["invoke"]["ms"])
        rows.append(r)
    return rows


# -- 2. and 3. processes: end to end, start-up, footprint ---------------------------------------------------

_PROCESSED = re.compile(r"processed (\d+) frames in ([\d.]+) s \(([\d.]+) FPS\).*first frame after ([\d.]+) s")


def edge_command(video: str, bundle: Path | None, frames: int, threads: int, music: bool = False,
                 extra: Sequence[str] = ()) -> list[str]:
    cmd = [sys.executable, *extra, "-m", "edge", "--source", video, "--loop", "--max-frames", str(frames),
           "--threads", str(threads), "--songs", str(SONGS)]
    if bundle is not None:
        cmd += ["--model", str(bundle)]
    if not music:
        cmd += ["--music-enabled", "false"]
    return cmd


def run_edge(video: str, bundle: Path | None, frames: int, threads: int, music: bool = False) -> dict[str, Any]:
    r = run_process(edge_command(video, bundle, frames, threads, music), lambda line: "frame 0:" in line)
    if r.returncode != 0:
        raise RuntimeError(f"python -m edge failed ({r.returncode}):\n{r.stderr[-3000:]}")
    m = _PROCESSED.search(r.stderr)
    if not m:
        raise RuntimeError(f"python -m edge did not report its frames:\n{r.stderr[-3000:]}")
    n, seconds, _, loop_first = int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4))
    return {"frames": n, "fps": round((n - 1) / seconds, 2) if seconds > 0 else 0.0,
            "first_frame_s": round(r.first_frame_s or 0.0, 3), "first_frame_in_loop_s": loop_first,
            "peak_rss_mb": round(r.peak_rss_mb, 1), "wall_s": round(r.wall_s, 2)}


SEED_LABEL = "seed-style: Keras VGG19 float32, Haar on the full frame every frame"


def end_to_end(opts: Options, video: str, default: Path, vgg: dict[str, Any]) -> dict[str, Any]:
    """The seed-style baseline and ``python -m edge`` (music off, all threads) on the same looping 640x480
    video, interleaved, ``opts.repeats`` times each; the best run of each counts (background load only
    ever slows a run down)."""
    runs: dict[str, list[dict[str, Any]]] = {"seed": [], "vgg19": [], "default": []}
    for _ in range(opts.repeats):
        runs["seed"].append(run_seed(video, vgg, opts.seed_frames))
        log.info("seed-style baseline: %.2f FPS", runs["seed"][-1]["fps"])
        runs["vgg19"].append(run_edge(video, Path(vgg["bundle"]), opts.edge_frames // 2, opts.threads_all))
        log.info("python -m edge, VGG19 int8: %.2f FPS", runs["vgg19"][-1]["fps"])
        runs["default"].append(run_edge(video, default, opts.edge_frames, opts.threads_all))
        log.info("python -m edge, default bundle: %.2f FPS", runs["default"][-1]["fps"])
    best = {k: max(v, key=lambda r: r["fps"]) for k, v in runs.items()}
    base = best["seed"]["fps"]
    rows = [
        {"pipeline": SEED_LABEL, "key": "seed", **best["seed"]},
        {"pipeline": "moodplayer loop, VGG19 int8 bundle (random weights)", "key": "vgg19", **best["vgg19"]},
        {"pipeline": "moodplayer loop, default bundle", "key": "default", **best["default"]},
    ]
    for r in rows:
        r["vs_seed"] = round(r["fps"] / base, 2) if base > 0 else None
    return {"video": video, "threads": opts.threads_all, "rows": rows, "all_runs": runs,
            "headline_ratio": rows[-1]["vs_seed"]}


def startup(opts: Options, video: str) -> dict[str, Any]:
    """``python -m edge`` as shipped (default bundle, songs, music on with SDL's dummy audio driver):
    time from process start to the first processed frame, peak RSS, and the modules it imported."""
    runs = [run_edge(video, None, 30, opts.threads_all, music=True) for _ in range(opts.repeats)]
    best = min(runs, key=lambda r: r["first_frame_s"])
    probe = run_process(edge_command(video, None, 3, opts.threads_all, music=True, extra=["-X", "importtime"]),
                        lambda line: "frame 0:" in line)
    imported = sorted({m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s*([\w.]+)\s*$",
                                                                       probe.stderr, re.M)})
    bad = [m for m in imported if m in FORBIDDEN]
    return {**best, "all_runs": runs, "modules_imported": len(imported), "forbidden_imported": bad,
            "imports_tensorflow": any(m in ("tensorflow", "keras", "tf_keras") for m in bad),
            "probe_returncode": probe.returncode}


# -- 4. bundles --------------------------------------------------------------------------------------------

def _latency(clf: Any, face: np.ndarray, runs: int) -> dict[str, float]:
    for _ in range(max(3, runs // 10)):
        clf.predict(face)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        clf.predict(face)
        times.append(1000 * (time.perf_counter() - t))
    return {"median_ms": round(statistics.median(times), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
            "min_ms": round(min(times), 3)}


def bundle_figures(opts: Options, extra: dict[str, Path] | None = None) -> list[dict[str, Any]]:
    """Every bundle in ``models/`` (and ``extra``, e.g. the random-weight VGG19): size, the converter's
    verification figures from its metadata, a fresh accuracy on FER2013 val through the device's classifier
    (``--quick``: a seeded sample), and single-face latency with 1 and all threads."""
    from edge import bundle as bundles
    from edge.classify import Classifier

    folders = {p.name: p for p in sorted(MODELS.iterdir()) if (p / bundles.META_FILE).is_file()}
    rows = []
    for name, folder in {**folders, **(extra or {})}.items():
        b = bundles.load(folder)
        random_weights = name not in folders
        v = b.verification
        row: dict[str, Any] = {
            "bundle": name, "name": b.name, "path": str(folder), "quantization": b.quantization.mode,
            "input": f"{b.input.height}x{b.input.width}x{b.input.channels} {b.input.color}",
            "tflite_mb": round(b.model_path.stat().st_size / 1e6, 3), "random_weights": random_weights,
            "verification": {k: v.get(k) for k in ("n", "float_accuracy", "tflite_accuracy", "accuracy_drop",
                                                   "top1_agreement", "data", "labelled") if k in v},
            "evaluation": b.extra.get("evaluation"),
        }
        face = np.full((1, b.input.height, b.input.width, b.input.channels), 128, np.uint8)
        for threads in sorted({1, opts.threads_all}):
            row[f"latency_{threads}t"] = _latency(Classifier(b, threads=threads), face, opts.latency_runs)
        if random_weights:
            row["fresh"] = {"skipped": "random weights: accuracy on faces means nothing"}
        elif opts.fer is None:
            row["fresh"] = {"skipped": "FER2013 not found"}
        else:
            row["fresh"] = _fresh_accuracy(b, opts)
        rows.append(row)
        log.info("bundle %s: %.2f MB, %s", name, row["tflite_mb"], row["fresh"])
    return rows


def _fresh_accuracy(b: Any, opts: Options) -> dict[str, Any]:
    from converter import data as fer
    from converter.metrics import summarize
    from edge.classify import Classifier

    assert opts.fer is not None
    ds = fer.load(opts.fer, "val", size=(b.input.height, b.input.width), channels=b.input.channels, labels=b.labels,
                  progress=False, interpolation=b.preprocessing.interpolation)
    total = len(ds)
    if opts.eval_images and opts.eval_images < len(ds):
        ds = fer.sample(ds, opts.eval_images, seed=0)[0]
    x = np.ascontiguousarray(ds.x[..., ::-1]) if b.input.color == "bgr" else ds.x
    clf = Classifier(b, threads=opts.threads_all)
    t = time.perf_counter()
    probs = np.concatenate([clf.predict(x[i:i + 64]) for i in range(0, len(x), 64)])
    seconds = time.perf_counter() - t
    s = summarize(ds.y, probs, b.labels)
    return {"n": s["n"], "of": total, "accuracy": s["accuracy"], "macro_recall": s["macro_recall"],
            "macro_f1": s["macro_f1"], "data": f"{opts.fer}/val",
            "ms_per_face_batched": round(1000 * seconds / len(x), 3)}


# -- all of it ---------------------------------------------------------------------------------------------

SECTIONS = ("cpu", "stages", "end_to_end", "startup", "bundles", "memory", "detectors")


def run_all(opts: Options, sections: Sequence[str] = SECTIONS) -> dict[str, Any]:
    t0 = time.perf_counter()
    result: dict[str, Any] = {"command": "python -m benchmarks" + (" --quick" if opts.quick else ""),
                              "quick": opts.quick, "machine": machine(), "note": X86_NOTE,
                              "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    default = MODELS / "default"
    if opts.fer is None:
        result["fer2013"] = ("FER2013 not found: the videos are a textured background without faces (detect runs, "
                             "crop, preprocess and invoke never do) and no fresh accuracy is measured")
        log.warning("%s", result["fer2013"])
    else:
        result["fer2013"] = str(opts.fer)
    vgg = vgg19_bundle(opts) if set(sections) - {"memory"} else {}  # memory alone needs no TensorFlow
    result["vgg19"] = vgg
    videos = make_clips(opts)
    result["videos"] = videos
    files = videos["files"]
    if "cpu" in sections:
        from benchmarks import cpu

        result["cpu"] = cpu.measure(opts, vgg)
    if "stages" in sections:
        result["stages"] = stages(opts, {"default": default, "vgg19-int8": Path(vgg["bundle"])}, files)
    if "end_to_end" in sections:
        result["end_to_end"] = end_to_end(opts, files["640x480"], default, vgg)
    if "startup" in sections:
        result["startup"] = startup(opts, files["640x480"])
    if "bundles" in sections:
        result["bundles"] = bundle_figures(opts, {"vgg19-int8 (random weights)": Path(vgg["bundle"])})
    if "memory" in sections:
        from benchmarks import memory

        result["memory"] = memory.measure(opts, files["640x480"])
    if "detectors" in sections:
        from benchmarks import detectors

        result["detectors"] = detectors.measure(opts, vgg)
    result["benchmark_process_imported_tensorflow"] = any(m in sys.modules for m in ("tensorflow", "tf_keras", "keras"))
    result["load_average_end"] = _loadavg()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result
