"""The x86 side of the arm64 check: the inputs (a short clip of a real face, a batch of faces) and the
reference answers (the probe's probabilities, the headless loop's events with per-frame probabilities).

    .venv/bin/python -u tests/arm64/reference.py --fer ../shared/datasets/fer2013 --out /tmp/share

Writes into ``--out``: clip.mp4, clip.json, faces.npy, probe.py, probe.x86.json, events.x86.jsonl.
The FER2013 faces only ever land in ``--out`` (a temporary folder), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import clips  # noqa: E402
from edge import bundle as bundles  # noqa: E402
from edge.classify import DEFAULT_MODEL, Classifier  # noqa: E402

EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fer", required=True, help="FER2013 folder (train/, val/)")
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--emotion", default="happy", help="the expression in the clip")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--per-emotion", type=int, default=2, help="faces of each emotion for the probe")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    classifier = Classifier(bundles.load(DEFAULT_MODEL), threads=1)

    def confident(face: np.ndarray, emotion: str) -> bool:  # as tests/test_loop.py: a clear reading
        probs = classifier.predict(face.reshape(1, 48, 48, 1))[0]
        return classifier.labels[int(np.argmax(probs))] == emotion and float(probs.max()) >= 0.7

    clip = clips.make_clip(out / "clip.mp4", [(args.emotion, args.seconds)], fps=args.fps, fer_dir=args.fer,
                           accept=confident)
    rate = clips.detection_rate(clip)
    (out / "clip.json").write_text(json.dumps({"frames": clip.frames, "fps": clip.fps, "emotion": args.emotion,
                                               "detection_rate": rate}))
    print(f"clip: {clip.frames} frames at {clip.fps:.0f} fps, {args.emotion}, face detected in {100 * rate:.0f}%")

    faces = [clips.load_face(p) for e in EMOTIONS for p in clips.fer_files(args.fer, e)[:args.per_emotion]]
    np.save(out / "faces.npy", np.stack(faces).astype(np.uint8))
    shutil.copy(HERE / "probe.py", out / "probe.py")

    env = {**os.environ, "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    subprocess.run([sys.executable, "-u", str(out / "probe.py"), "--model", str(DEFAULT_MODEL),
                    "--faces", str(out / "faces.npy"), "--out", str(out / "probe.x86.json")],
                   env={**env, "PYTHONPATH": str(ROOT)}, check=True)
    # --realtime: the song event comes from the player thread; paced at the clip's own fps it has time to
    # start before the clip ends (under emulation the loop is far slower than real time anyway).
    subprocess.run([sys.executable, "-u", "-m", "edge", "--source", str(out / "clip.mp4"),
                    "--model", str(DEFAULT_MODEL), "--songs", str(ROOT / "songs"), "--realtime",
                    "--events", str(out / "events.x86.jsonl"), "--events-frames"],
                   cwd=ROOT, env=env, check=True)
    events = [json.loads(line) for line in (out / "events.x86.jsonl").read_text().splitlines()]
    kinds = {k: sum(e["type"] == k for e in events) for k in ("frame", "mood", "song")}
    print(f"x86 events: {kinds}; moods {[e['mood'] for e in events if e['type'] == 'mood']}")
    if not kinds["mood"] or not kinds["song"]:
        print("the x86 reference has no mood or no song event: the clip proves nothing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
