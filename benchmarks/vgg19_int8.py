"""A VGG19 int8 bundle for the benchmarks, made by the project's own converter from random weights.

    python -m benchmarks.vgg19_int8 --out DIR

Writes ``DIR/vgg19.json`` + ``DIR/vgg19.weights.h5`` (the original project's file forms: a Keras 2 JSON
architecture and H5 weights) and ``DIR/bundle/`` (``model.tflite`` + ``model.json``), converted to int8
by ``converter.convert`` and verified by it, the way a real model would be.

The model is the original recipe (``converter.archs.vgg19``: VGG19 at 48x48x3, ``weights=None``, +
Flatten + Dense(7, softmax)) with its random initial weights, calibrated on synthetic textures. Its
outputs are nearly uniform, so its answers and its verification figures mean nothing and no accuracy
is reported for it; it is converted with ``force`` so that a refusal cannot stop the benchmark
(``info.json`` records whether there was one). Its speed is VGG19's: it does not depend on the
weights' values (measured: this bundle and one converted from ``converter.synthetic.vgg19`` both take
2.2 ms a face at best on one thread here). Random rather than ``converter.synthetic``'s
identity-centred weights because of size and memory: those repeat the same kernels, which the
converter stores once (a 4.8 MB file instead of VGG19's 20.2 MB), so the file size and the process's
memory would flatter VGG19.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.vgg19_int8")


def build(out: Path, calibration: int = 100, verify: int = 200) -> dict[str, Any]:
    """Build, save and convert; returns what was made (also written to ``out/info.json``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import cv2
    import tf_keras

    from converter import archs, synthetic
    from converter.convert import ConvertRequest, convert
    from edge.types import EMOTIONS

    out.mkdir(parents=True, exist_ok=True)
    tf_keras.utils.set_random_seed(0)
    model = archs.vgg19(len(EMOTIONS), (48, 48, 3), weights=None, keras=tf_keras)
    (out / "vgg19.json").write_text(model.to_json())
    model.save_weights(str(out / "vgg19.weights.h5"))
    data = out / "faces"
    x, y = synthetic.faces(calibration + verify, seed=7)
    for i, (img, k) in enumerate(zip(x, y)):
        folder = data / EMOTIONS[int(k)]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:04d}.png"), img)
    result = convert(ConvertRequest(model=out / "vgg19.json", weights=out / "vgg19.weights.h5", out=out / "bundle",
                                    mode="int8", calibration=data, verify=data, calibration_size=calibration,
                                    verify_size=verify, overwrite=True, force=True, name="vgg19-int8-random"),
                     progress=False)
    info = {"bundle": str(out / "bundle"), "model": str(out / "vgg19.json"), "weights": str(out / "vgg19.weights.h5"),
            "parameters": int(model.count_params()), "tflite_bytes": result.tflite_bytes,
            "verification": result.figures.as_dict(), "seconds": result.seconds,
            "refused_by_verification": result.refused,
            "weights_kind": "random initial weights (converter.archs.vgg19, weights=None, seed 0): "
                            "answers mean nothing"}
    (out / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.vgg19_int8", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--calibration", type=int, default=100)
    p.add_argument("--verify", type=int, default=200)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    print(json.dumps(build(args.out, args.calibration, args.verify)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
