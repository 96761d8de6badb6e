"""The seed-style baseline: the original project's loop, rebuilt here only to be measured against.

    python -m benchmarks.seed VIDEO --model vgg19.json --weights vgg19.weights.h5 [--frames N] [--loop]

What the original design did on every frame: the whole frame to gray, OpenCV's frontal-face Haar
cascade on it at full resolution (no downscale, no "every N frames", no tracker), and for each face a
48x48 crop, gray repeated to three channels, scaled to [0, 1] and run through the float Keras VGG19
(a Keras 2 JSON architecture + H5 weights, read with ``tf_keras.models.model_from_json`` and
``load_weights``). The cascade's parameters are the device's defaults (``DetectConfig()``: scale
factor 1.1, 5 neighbours, 48 px minimum face), so the comparison isolates the design changes rather
than detector tuning. The model is called directly (``model(x, training=False)``), the faster of the
two usual ways; ``model.predict`` per face, which many such projects use, is timed on the side and
reported as ``predict_ms`` (it only adds per-call overhead). ``cpu_ms_per_frame`` is the whole
process's user + system CPU (``getrusage``, every thread) per frame between frame ``--warm-frames``
and the last, unpaced.

TensorFlow is imported here and nowhere in ``edge``; ``python -m benchmarks`` runs this in a child
process so that its memory and start-up are measured apart. Prints one JSON object on stdout; writes
``FIRST FRAME`` to stderr when the first frame is done (the parent times start-up by it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

START = time.perf_counter()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.seed", description=__doc__.splitlines()[0])
    p.add_argument("video", type=Path)
    p.add_argument("--model", type=Path, required=True, help="Keras 2 JSON architecture")
    p.add_argument("--weights", type=Path, required=True, help="H5 weights")
    p.add_argument("--frames", type=int, default=200, help="frames to process (default 200)")
    p.add_argument("--loop", action="store_true", help="restart the video at its end")
    p.add_argument("--predict-calls", type=int, default=10, help="model.predict calls timed on the side")
    p.add_argument("--warm-frames", type=int, default=10,
                   help="frames before the CPU window opens (the first calls trace the model; default 10)")
    args = p.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import cv2
    import numpy as np
    import tensorflow as tf  # noqa: F401  (the baseline's framework, as in the original)
    import tf_keras

    from edge.detect import DetectConfig

    model = tf_keras.models.model_from_json(args.model.read_text())
    model.load_weights(str(args.weights))
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    det = DetectConfig()
    size = int(model.inputs[0].shape[1])

    cap = cv2.VideoCapture(str(args.video))
    if not cap.isOpened():
        print(f"error: cannot open {args.video}", file=sys.stderr)
        return 2
    frames = faces_seen = 0
    first_s = None
    t_first = None
    window: list[tuple[int, float]] = []  # (frames, process CPU s) at the window's start and end
    try:
        while frames < args.frames:
            ok, frame = cap.read()
            if not ok:
                if args.loop and frames:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                break
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            boxes = cascade.detectMultiScale(gray, scaleFactor=det.scale_factor, minNeighbors=det.min_neighbors,
                                             minSize=(det.min_face, det.min_face))
            for x, y, w, h in (boxes if len(boxes) else []):
                roi = cv2.resize(gray[y:y + h, x:x + w], (size, size), interpolation=cv2.INTER_AREA)
                face = np.repeat(roi[None, :, :, None], 3, axis=-1).astype(np.float32) / 255.0
                probs = model(face, training=False).numpy()[0]
                int(np.argmax(probs))
                faces_seen += 1
            frames += 1
            if frames == args.warm_frames or frames == args.frames:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                window.append((frames, usage.ru_utime + usage.ru_stime))
            now = time.perf_counter()
            if first_s is None:
                first_s, t_first = now - START, now
                print("FIRST FRAME", file=sys.stderr, flush=True)
        end = time.perf_counter()
    finally:
        cap.release()
    x = np.zeros((1, size, size, 3), np.float32)
    model.predict(x, verbose=0)
    t = time.perf_counter()
    for _ in range(args.predict_calls):
        model.predict(x, verbose=0)
    predict_ms = 1000 * (time.perf_counter() - t) / max(1, args.predict_calls)
    t = time.perf_counter()
    for _ in range(args.predict_calls):
        model(x, training=False).numpy()
    call_ms = 1000 * (time.perf_counter() - t) / max(1, args.predict_calls)
    seconds = end - t_first if t_first is not None else 0.0
    cpu_ms = (1000 * (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
              if len(window) == 2 and window[-1][0] > window[0][0] else None)
    print(json.dumps({"frames": frames, "faces": faces_seen, "seconds": round(seconds, 3),
                      "fps": round((frames - 1) / seconds, 3) if seconds > 0 else 0.0,
                      "first_frame_s": round(first_s or 0.0, 3), "predict_ms": round(predict_ms, 2),
                      "call_ms": round(call_ms, 2), "tensorflow": tf.__version__,
                      "cpu_ms_per_frame": round(cpu_ms, 3) if cpu_ms is not None else None,
                      "cpu_window_frames": window[-1][0] - window[0][0] if len(window) == 2 else 0}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
