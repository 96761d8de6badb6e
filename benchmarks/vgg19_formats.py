"""File size and single-thread latency per face of the original VGG19 model in each format.

    python -m benchmarks.vgg19_formats [--json FILE] [--runs 200] [--warmup 20]

The model is the original project's recipe, ``VGG19(weights=None, include_top=False, input_shape=(48,
48, 3))`` + Flatten + Dense(7, softmax), built with tf_keras and saved as its Keras 2 JSON + H5 weights.
Its weights are the random initial ones: size and speed do not depend on their values (identity-centred
weights would make the converter share identical buffers and shrink the files), but its answers mean
nothing, so no accuracy is reported here; see ``tests/test_converter.py`` for agreement.

Rows: Keras float32 (the JSON + H5 files, run as a compiled ``tf.function`` with TensorFlow limited to
one thread), and the TFLite bundles ``converter convert`` makes: float32 (``none``), ``dynamic``,
``float16`` and ``int8`` (calibrated on synthetic faces), each run through the device's
``edge.classify.Classifier`` with one thread on one face (preprocessing and (de)quantization included).
Latency is the median (and 90th percentile) over ``--runs`` single-face calls after ``--warmup`` calls.

These are timings on the machine that runs the script, usually an x86 workstation with AVX and
XNNPACK: x86 timings are not Pi timings. A Raspberry Pi's Cortex-A cores are several times slower, and
the ratios between formats differ there too (int8 gains more from ARM's dot-product instructions);
time the bundles on the Pi itself for the figures that matter.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("benchmarks.vgg19_formats")

MODES = ("none", "dynamic", "float16", "int8")
LABELS = {"none": "TFLite float32", "dynamic": "TFLite dynamic", "float16": "TFLite float16", "int8": "TFLite int8"}


def _timings(call: Callable[[], Any], runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 3),
            "min_ms": round(times[0], 3)}


def run(runs: int = 200, warmup: int = 20, calibration: int = 100, workdir: Path | None = None) -> dict[str, Any]:
    """Build, save, convert and time; returns the figures (also what ``--json`` writes)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tf_keras

    from converter import archs, synthetic
    from converter.load import load_model
    from converter.quantize import read_quantization, to_tflite
    from edge import bundle as bundles
    from edge.bundle import Bundle, InputSpec, Preprocessing
    from edge.classify import Classifier
    from edge.interpreter import interpreter_class
    from edge.types import EMOTIONS

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="vgg19_formats_") as tmp:
            return {**run(runs, warmup, calibration, Path(tmp)), "workdir": None}
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = archs.vgg19(7, (48, 48, 3), weights=None, keras=tf_keras)
    (work / "vgg19.json").write_text(model.to_json())
    model.save_weights(str(work / "vgg19.weights.h5"))
    src = load_model(work / "vgg19.json", work / "vgg19.weights.h5")  # as the converter reads it

    gray, _ = synthetic.faces(calibration + 1, seed=0)
    faces = np.repeat(gray[..., None], 3, axis=-1)
    face = faces[-1:]  # one face, never used for calibration
    pre = Preprocessing.named("0_1", 3)
    rows: list[dict[str, Any]] = []

    x = tf.constant(pre.apply(face))
    keras_bytes = sum(f.stat().st_size for f in src.files)
    rows.append({"format": "Keras float32", "file": "vgg19.json + vgg19.weights.h5", "bytes": keras_bytes,
                 **_timings(lambda: src.fn(x).numpy(), runs, warmup)})
    log.info("%s: %.1f ms", rows[-1]["format"], rows[-1]["median_ms"])

    for mode in MODES:
        folder = work / f"bundle-{mode}"
        folder.mkdir(exist_ok=True)
        (folder / bundles.MODEL_FILE).write_bytes(
            to_tflite(src, mode, pre.apply(faces[:-1]) if mode == "int8" else None))
        meta = Bundle(folder, f"vgg19-{mode}", EMOTIONS, InputSpec(48, 48, 3, "rgb"), pre,
                      read_quantization(folder / bundles.MODEL_FILE, mode))
        bundles.write_metadata(meta, folder)
        clf = Classifier(bundles.load(folder), threads=1)
        rows.append({"format": LABELS[mode], "file": f"{folder.name}/model.tflite",
                     "bytes": (folder / bundles.MODEL_FILE).stat().st_size,
                     **_timings(lambda clf=clf: clf.predict(face), runs, warmup)})
        log.info("%s: %.1f ms", rows[-1]["format"], rows[-1]["median_ms"])

    base = rows[0]["median_ms"]
    for r in rows:
        r["speedup_vs_keras"] = round(base / r["median_ms"], 2)
    return {
        "model": "VGG19(weights=None, include_top=False, 48x48x3) + Flatten + Dense(7, softmax)",
        "parameters": int(model.count_params()),
        "multiply_adds": int(archs.macs(model)),
        "threads": 1,
        "runs": runs,
        "warmup": warmup,
        "machine": {"platform": platform.platform(), "processor": _cpu_name(),
                    "python": platform.python_version(), "tensorflow": tf.__version__,
                    "tflite_runtime": interpreter_class()[1], "cpus": os.cpu_count()},
        "note": "x86 timings are not Pi timings",
        "workdir": str(work),
        "results": rows,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(result: dict[str, Any]) -> str:
    """The figures as an aligned text table."""
    head = f"{'format':<16} {'size MB':>8} {'median ms':>10} {'p90 ms':>8} {'vs Keras':>9}"
    lines = [f"{result['model']}: {result['parameters'] / 1e6:.1f}M parameters, "
             f"{result['multiply_adds'] / 1e6:.0f}M multiply-adds a face; 1 thread, median of {result['runs']} runs "
             f"({result['machine']['processor']}, {result['machine']['cpus']} CPUs; x86 timings are not Pi timings)",
             head, "-" * len(head)]
    for r in result["results"]:
        lines.append(f"{r['format']:<16} {r['bytes'] / 1e6:>8.2f} {r['median_ms']:>10.2f} {r['p90_ms']:>8.2f} "
                     f"{r['speedup_vs_keras']:>8.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.vgg19_formats", description=__doc__.splitlines()[0],
                                epilog="x86 timings are not Pi timings: run the bundles on the Pi for those.")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--runs", type=int, default=200, help="timed single-face calls per format (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    p.add_argument("--calibration", type=int, default=100, help="int8 calibration faces (default 100)")
    p.add_argument("--workdir", type=Path, help="keep the model files and bundles here (default: a temp folder)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    result = run(args.runs, args.warmup, args.calibration, args.workdir)
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        log.info("figures -> %s", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
