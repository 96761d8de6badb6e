"""Run the real loop on every clip once and record what its mood filter was given (or read all that
from ``--cache``)."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import logging
import pickle
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks import clips
from benchmarks.stability.figures import FPS, Recorded
from benchmarks.stability.footage import ClipSpec, make_specs, pick_group, plan_clips, render
from edge import bundle as bundles
from edge.mood import MoodFilter
from edge.types import Emotions, Face, Frame

log = logging.getLogger("benchmarks.stability")

VERSION = 7  # bump when clip making changes, so old caches are not reused (7: the package's class paths)

class RecordingMoodFilter(MoodFilter):
    """The loop's mood filter, recording its inputs on their way in and its answer: (t, faces as (box,
    track id, probabilities), mood label) for every frame."""

    def __init__(self, cfg, labels, seen: list) -> None:
        super().__init__(cfg, labels)
        self.seen = seen

    def update(self, t, faces, emotions):
        update = super().update(t, faces, emotions)
        self.seen.append((float(t), [(tuple(int(v) for v in f.box), f.track_id,
                                      np.asarray(e.probs, np.float32).copy()) for f, e in zip(faces, emotions)],
                          update.mood.label))
        return update


def measure_clip(spec: ClipSpec, model_dir: str, workdir: str, fps: float = FPS) -> dict[str, Any]:
    """Play the clip's frames through the real loop, ``edge.loop.Pipeline.step`` (the body of
    ``edge.loop.run``), headless with music off, every other key at its shipped default, frame ``i`` at
    ``t = i / fps`` as a video source gives it. Returns what the loop's mood filter was given on every
    frame (faces: box, track id; their probabilities, exactly), what it answered, the loop's own mood
    events, and the ground truth."""
    import threading

    from edge import config as configs
    from edge.loop import Pipeline

    cv2.setNumThreads(1)
    logging.getLogger("edge").setLevel(logging.WARNING)
    started = time.perf_counter()
    events = Path(workdir) / f"{spec.name}.jsonl"
    cfg = configs.load(None, {"output.events": str(events), "music.enabled": False,
                              "classify.model": str(model_dir), "classify.threads": 1})
    seen: list[tuple[float, list[tuple[tuple[int, ...], int, np.ndarray]], str]] = []
    bundle = bundles.load(model_dir)
    pipe = Pipeline(cfg, bundle=bundle, moods=RecordingMoodFilter(cfg.mood, bundle.labels, seen))
    stop = threading.Event()
    truth: list[str] = []
    boxes: list[tuple[int, int, int, int] | None] = []
    render_s = 0.0
    try:
        pipe.player.start()
        frames = render(spec, fps)
        for i in itertools.count():
            t0 = time.perf_counter()
            item = next(frames, None)
            render_s += time.perf_counter() - t0
            if item is None:
                break
            image, label, box = item
            truth.append(label)
            boxes.append(box)
            pipe.timer.start()
            pipe.step(Frame(image, i / fps, i), stop)
    finally:
        pipe.close()
    moods = [e for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "mood"]
    events.unlink(missing_ok=True)
    total = time.perf_counter() - started
    return {"name": spec.name, "frames": seen, "moods": moods, "truth": truth, "boxes": boxes,
            "labels": list(pipe.bundle.labels), "mood_config": dataclasses.asdict(cfg.mood),
            "render_s": round(render_s, 2), "loop_s": round(total - render_s, 2)}



def to_recorded(spec: ClipSpec, result: dict[str, Any], labels: Sequence[str]) -> Recorded:
    times, inputs, main_top, main_probs, loop_labels = [], [], [], [], []
    for (t, faces, mood), box in zip(result["frames"], result["boxes"]):
        fs = [Face(tuple(b), track) for b, track, _ in faces]
        es = [Emotions(p, tuple(labels)) for _, _, p in faces]
        times.append(float(t))
        inputs.append((fs, es))
        loop_labels.append(mood)
        # the held face: a box on it (while it is hidden, a box the tracker carries over is not a face)
        main = [(f.area, e) for f, e in zip(fs, es) if box is not None and clips.hits([f.box], box)]
        best = max(main, key=lambda m: m[0])[1] if main else None
        main_top.append(best.top if best is not None else None)
        main_probs.append(best.probs if best is not None else None)
    return Recorded(spec.describe(), times, inputs, main_top, main_probs, list(result["truth"]),
                    result["moods"], loop_labels)



def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()



def collect(args: argparse.Namespace, model_dir: Path) -> tuple[list[ClipSpec], list[dict], list[str], list[str], dict]:
    """Pick the faces and run the loop on every clip (or read all that from ``--cache``)."""
    n_constant, n_change = (4, 4) if args.quick else (args.constant, args.change)
    key = {"version": VERSION, "model": sha256(model_dir / "model.tflite"), "meta": sha256(model_dir / "model.json"),
           "fer": str(Path(args.fer).resolve()), "constant": n_constant, "change": n_change, "seed": args.seed}
    if args.cache and Path(args.cache).is_file():
        with open(args.cache, "rb") as fh:
            cached = pickle.load(fh)
        if cached.get("key") == key:
            log.info("recorded frames from %s (same model and clips)", args.cache)
            timing = {"cached_from": str(args.cache), "measured": cached["timing"]}
            return cached["specs"], cached["results"], cached["labels"], cached["notes"], timing
        log.info("%s is for another model or other clips: measuring again", args.cache)
    import multiprocessing

    from edge import bundle as bundles

    t0 = time.perf_counter()
    labels = list(bundles.load(model_dir).labels)
    plans, requests = plan_clips(labels, n_constant, n_change, seed=args.seed)
    jobs = max(1, args.jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        groups = {}
        for i, (emotion, _wants) in enumerate(requests):
            groups.setdefault(emotion, []).append(i)
        futures = {emotion: pool.submit(pick_group, args.fer, str(model_dir), args.seed, emotion,
                                        [requests[i][1] for i in idx]) for emotion, idx in groups.items()}
        picked: list = [None] * len(requests)
        tried = 0
        for emotion, idx in groups.items():
            faces, n = futures[emotion].result()
            tried += n
            for i, face in zip(idx, faces):
                picked[i] = face
        specs, notes = make_specs(plans, requests, picked)
        t_pick = time.perf_counter() - t0
        log.info("picked faces for %d clips in %.0f s (%d faces tried)", len(specs), t_pick, tried)
        with tempfile.TemporaryDirectory(prefix="stability_") as work:
            futures = [pool.submit(measure_clip, spec, str(model_dir), work) for spec in specs]
            results = []
            for spec, fut in zip(specs, futures):
                results.append(fut.result())
                log.info("  %-26s frames made in %5.1f s, loop %5.1f s", spec.name, results[-1]["render_s"],
                         results[-1]["loop_s"])
    timing = {"pick_s": round(t_pick, 1), "clips_s": round(time.perf_counter() - t0 - t_pick, 1)}
    if args.cache:
        Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
        with open(args.cache, "wb") as fh:
            pickle.dump({"key": key, "specs": specs, "results": results, "labels": labels, "notes": notes,
                         "timing": timing}, fh)
    return specs, results, labels, notes, timing
