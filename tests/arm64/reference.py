"""The x86 side of the arm64 check: the inputs (a short clip of a real face, a batch of faces) and the
reference answers (the probe's probabilities, the headless loop's events with per-frame probabilities).

    .venv/bin/python -u tests/arm64/reference.py --fer ../shared/datasets/fer2013 --out /tmp/share

Writes into ``--out``: clip.mkv and clip.mp4 (the same frames), clip.json, faces.npy, detect.npy (frames for
BlazeFace's boxes), probe.py,
probe.x86.json, events.x86.mkv.jsonl, events.x86.mp4.jsonl. The FER2013 faces only ever land in
``--out`` (a temporary folder), never in the repository.

Two encodings of one clip, because decoding is part of the platform: ``clip.mkv`` is FFV1 (lossless,
BGR), so both machines see the very same pixels and the loop's numbers must agree; ``clip.mp4`` is
mp4v (what ``benchmarks.clips`` writes), whose decoded pixels differ between the x86 and the aarch64
FFmpeg builds by a level or two, so there only the events must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
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

    # As clips.make_clip, keeping the frames so that they can be written twice.
    face = clips.pick_faces(args.fer, args.emotion, 1, accept=confident)[0]
    count = max(1, int(round(args.seconds * args.fps)))
    frames = [frame for frame, _, _ in clips.clip_frames([(args.emotion, face, count)])]
    clips.write_video(out / "clip.mp4", frames, args.fps)
    write_lossless(out / "clip.mkv", frames, args.fps)
    clip = clips.Clip(out / "clip.mp4", args.fps, [args.emotion] * count,
                      [box for _, _, box in clips.clip_frames([(args.emotion, face, count)])])
    rate = clips.detection_rate(clip)
    (out / "clip.json").write_text(json.dumps({"frames": count, "fps": args.fps, "emotion": args.emotion,
                                               "detection_rate": rate}))
    print(f"clip: {count} frames at {args.fps:g} fps, {args.emotion}, face detected in {100 * rate:.0f}%")

    faces = [clips.load_face(p) for e in EMOTIONS for p in clips.fer_files(args.fer, e)[:args.per_emotion]]
    np.save(out / "faces.npy", np.stack(faces).astype(np.uint8))
    np.save(out / "detect.npy", detect_frames(frames[0]))
    shutil.copy(HERE / "probe.py", out / "probe.py")

    env = {**os.environ, "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    subprocess.run([sys.executable, "-u", str(out / "probe.py"), "--model", str(DEFAULT_MODEL),
                    "--faces", str(out / "faces.npy"), "--out", str(out / "probe.x86.json")],
                   env={**env, "PYTHONPATH": str(ROOT)}, check=True)
    for kind in ("mkv", "mp4"):
        # --realtime: the song event comes from the player thread; paced at the clip's own fps it has time
        # to start before the clip ends (under emulation the loop is far slower than real time anyway).
        events_file = out / f"events.x86.{kind}.jsonl"
        # Relative paths from inside --out: edge.sources opens any spec under /dev/ as a camera, and the
        # work folder may be in /dev/shm.
        subprocess.run([sys.executable, "-u", "-m", "edge", "--source", f"clip.{kind}",
                        "--model", str(DEFAULT_MODEL), "--songs", str(ROOT / "songs"), "--realtime",
                        "--events", events_file.name, "--events-frames"],
                       cwd=out, env={**env, "PYTHONPATH": str(ROOT)}, check=True)
        events = [json.loads(line) for line in events_file.read_text().splitlines()]
        kinds = {k: sum(e["type"] == k for e in events) for k in ("frame", "mood", "song")}
        print(f"x86 events, clip.{kind}: {kinds}; moods {[e['mood'] for e in events if e['type'] == 'mood']}")
        if not kinds["mood"] or not kinds["song"] or kinds["frame"] != count:
            print(f"the x86 reference on clip.{kind} lacks a mood or a song event, or frames: it proves nothing",
                  file=sys.stderr)
            return 1
    return 0


def detect_frames(clip_frame: np.ndarray) -> np.ndarray:
    """Frames for BlazeFace's boxes (probe.py): the clip's first frame, and scikit-image's public-domain
    portrait upright, turned 30 degrees and dimmed, each 640x480 BGR (the portrait needs scikit-image, a
    dev extra: without it, the clip's frame alone)."""
    frames = [clip_frame]
    try:
        import skimage.data
    except ImportError:
        return np.stack(frames)
    photo = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), (480, 480))
    upright = cv2.copyMakeBorder(photo, 0, 0, 80, 80, cv2.BORDER_REFLECT)
    turned = cv2.warpAffine(upright, cv2.getRotationMatrix2D((288.0, 105.0), 30, 1.0), (640, 480),
                            borderMode=cv2.BORDER_REFLECT)
    frames += [upright, turned, (upright // 6).astype(np.uint8)]
    return np.stack(frames)


def write_lossless(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """FFV1 in Matroska: lossless BGR, decoded to the same bytes on any platform (checked here)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), float(fps), (w, h))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write FFV1 to {path}")
    for frame in frames:
        writer.write(frame)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    try:
        for i, frame in enumerate(frames):
            ok, back = cap.read()
            if not ok or not np.array_equal(back, frame):
                raise OSError(f"{path}: frame {i} does not read back exactly: FFV1 is not lossless here?")
    finally:
        cap.release()


if __name__ == "__main__":
    raise SystemExit(main())
