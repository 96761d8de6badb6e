"""The bundle loads and classifies: probabilities for a fixed batch of faces, plus where they came from.

Runs on the x86 host and in the emulated arm64 rootfs (from the installed package, never the source
tree) and writes the same JSON on both, for ``compare.py``:

    python -u probe.py --model models/default --faces faces.npy --out probe.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version

import numpy as np


def versions() -> dict[str, str]:
    out = {}
    for name in ("numpy", "opencv-python-headless", "ai-edge-litert", "tflite-runtime", "pygame", "moodplayer"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def detect_faces(model: str, faces: str) -> list | None:
    """BlazeFace (``edge.detectors.blazeface``, one thread) on the frames of ``detect.npy`` beside the faces
    file, its model from ``blazeface/`` beside the bundle folder: per frame, each face's box, eyes and
    score. None when either is absent (an older reference)."""
    from pathlib import Path

    frames_file = Path(faces).with_name("detect.npy")
    model_file = Path(model).resolve().parent / "blazeface" / "face_detection_full_range.tflite"
    if not frames_file.is_file() or not model_file.is_file():
        return None
    from edge.detectors.blazeface import BlazeFace
    from edge.settings import DetectConfig

    detector = BlazeFace(DetectConfig(method="blazeface", blazeface_model=str(model_file), threads=1))
    return [[{"box": list(d.box), "eyes": [[round(v, 2) for v in p] for p in d.eyes], "score": round(d.score, 4)}
             for d in detector.detect(frame)] for frame in np.load(frames_file)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="bundle folder")
    parser.add_argument("--faces", required=True, help=".npy of N x 48 x 48 uint8 gray faces")
    parser.add_argument("--out", required=True, help="JSON to write")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    import cv2  # noqa: F401  (imported here so a broken wheel fails in the probe, with its name)

    from edge import bundle as bundles
    from edge.classify import Classifier
    from edge.interpreter import interpreter_class

    t_import = time.perf_counter() - t0
    bundle = bundles.load(args.model)
    classifier = Classifier(bundle, threads=args.threads)
    faces = np.load(args.faces)
    t1 = time.perf_counter()
    probs = classifier.predict(faces.reshape(len(faces), bundle.input.height, bundle.input.width,
                                             bundle.input.channels))
    t_predict = time.perf_counter() - t1
    if not np.all(np.isfinite(probs)) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        print(f"probe: probabilities are not a distribution: {probs}", file=sys.stderr)
        return 1
    blazeface = detect_faces(args.model, args.faces)
    result = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "edge_from": __import__("edge").__file__,
        "backend": interpreter_class()[1],
        "versions": versions(),
        "labels": list(bundle.labels),
        "probs": probs.round(6).tolist(),
        "top": [bundle.labels[i] for i in probs.argmax(axis=1)],
        "seconds": {"import": round(t_import, 2), "predict": round(t_predict, 3)},
    }
    if blazeface is not None:
        result["blazeface"] = blazeface
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"probe: {result['machine']} Python {result['python']} {result['backend']} "
          f"{result['versions'].get(result['backend'], '?')}; {len(faces)} faces -> {', '.join(result['top'])}; "
          f"imports {t_import:.1f} s, predict {t_predict:.2f} s; edge from {result['edge_from']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
