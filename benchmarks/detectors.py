"""Haar against BlazeFace, the ``detectors`` section of ``python -m benchmarks`` (``python -m benchmarks.detectors``
runs it alone).

1. **The test set** (built here, seeded, nothing committed): 640x480 frames, one face each or none.
   Faces: scikit-image's public-domain portrait of Eileen Collins (a real photo) pasted at 48-240 px
   (24-120 px at the 320 px detection size), rotated 15-45 degrees, dimmed to 10% with sensor noise;
   and FER2013 val faces drawn at random (not picked by any detector) pasted at 40-240 px, half of them
   rotated up to 45 degrees, some dimmed, on textured backgrounds. Frames without a face: scikit-image's
   other photos (coffee, a cat, a rocket, bricks, grass, gravel, the Hubble deep field), textured walls,
   noise. A detection is the face when its centre is within 30% of the face's side of the face's centre
   and its side is 0.5-2x the face's; every other detection is a false face.
2. **ms a frame**: one detection of the whole 640x480 frame (downscale included), one thread (OpenCV and
   LiteRT), the median over the set.
3. **The whole process** per method (``benchmarks.cpu``'s probe, music off): CPU ms a frame paced at 15 fps
   and the share of frames where a face was reported, in the empty room, with a photo's face holding still
   (``photo_scene``) and with the cpu section's FER2013 face holding still; unpaced FPS on the photo scene
   against the seed-style loop's; peak RSS of ``python -m edge`` with music on.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks import clips, common

log = logging.getLogger("benchmarks")

METHODS = ("haar", "blazeface")
SIZE = (640, 480)
Box = tuple[int, int, int, int]
#: The astronaut's face in skimage's 512x512 photo, and a head crop around it.
FACE, HEAD = (174, 64, 98, 98), (130, 10, 190, 190)


def _dim(image: np.ndarray, rng: np.random.Generator, level: float = 0.1, noise: float = 3.0) -> np.ndarray:
    return np.clip(image.astype(np.float32) * level + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)


def _turn(image: np.ndarray, box: Box, degrees: float) -> np.ndarray:
    m = cv2.getRotationMatrix2D((box[0] + box[2] / 2, box[1] + box[3] / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _astronaut(side: int, at: tuple[int, int], bg: np.ndarray) -> tuple[np.ndarray, Box]:
    """The astronaut's head pasted so that her face is ``side`` px; the face's box."""
    import skimage.data

    photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    k = side / FACE[2]
    hw = int(round(HEAD[2] * k))
    head = cv2.resize(photo[HEAD[1]:HEAD[1] + HEAD[3], HEAD[0]:HEAD[0] + HEAD[2]], (hw, hw), interpolation=cv2.INTER_AREA)
    image = bg.copy()
    x, y = min(at[0], SIZE[0] - hw), min(at[1], SIZE[1] - hw)
    image[y:y + hw, x:x + hw] = head
    return image, (int(x + (FACE[0] - HEAD[0]) * k), int(y + (FACE[1] - HEAD[1]) * k), side, side)


def test_set(fer: Path | None, seed: int = 0) -> list[tuple[str, np.ndarray, list[Box]]]:
    """(name, 640x480 BGR frame, the faces' boxes) for every frame of the set (module doc)."""
    import skimage.data

    rng = np.random.default_rng(seed)
    out: list[tuple[str, np.ndarray, list[Box]]] = []
    wall = [clips.background(SIZE, seed=s) for s in range(4)]
    for i, side in enumerate((48, 64, 96, 128, 180, 240)):
        image, box = _astronaut(side, (40 + 30 * i, 20 + 10 * i), wall[i % 4])
        out.append((f"photo {side} px", image, [box]))
    for degrees in (15, 30, 45, -30):
        image, box = _astronaut(150, (200, 100), wall[1])
        out.append((f"photo rotated {degrees} deg", _turn(image, box, degrees), [box]))
    for side in (96, 180):
        image, box = _astronaut(side, (220, 90), wall[2])
        out.append((f"photo {side} px dimmed to 10%", _dim(image, rng), [box]))
    if fer is not None:
        files = [p for e in ("happy", "neutral", "surprise", "sad", "angry") for p in clips.fer_files(fer, e)]
        for i in range(12):
            face = clips.load_face(files[int(rng.integers(len(files)))])
            side = int(rng.integers(40, 241))
            x, y = int(rng.integers(0, SIZE[0] - side)), int(rng.integers(0, SIZE[1] - side))
            image = clips.face_canvas([face], [(x, y)], size=side, bg=wall[i % 4])
            box, name = (x, y, side, side), f"FER2013 {side} px"
            if i % 2:
                degrees = float(rng.uniform(-45, 45))
                image, name = _turn(image, box, degrees), f"{name} rotated {degrees:.0f} deg"
            if i % 4 == 3:
                image, name = _dim(image, rng), f"{name} dimmed"
            out.append((name, image, [box]))
    for name in ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "hubble_deep_field"):
        photo = getattr(skimage.data, name)()
        photo = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR) if photo.ndim == 3 else cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR)
        out.append((f"no face: {name}", cv2.resize(photo, SIZE, interpolation=cv2.INTER_AREA), []))
    out += [(f"no face: wall {s}", wall[s], []) for s in range(4)]
    out.append(("no face: noise", rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8), []))
    return out


def is_face(found: Box, truth: Box) -> bool:
    x, y, w, h = found
    tx, ty, ts, _ = truth
    return (abs(x + w / 2 - (tx + ts / 2)) <= 0.3 * ts and abs(y + h / 2 - (ty + ts / 2)) <= 0.3 * ts
            and 0.5 * ts <= max(w, h) <= 2.0 * ts)


def score(method: str, frames: list[tuple[str, np.ndarray, list[Box]]]) -> dict[str, Any]:
    """Faces found, false faces and ms a frame (one thread) of ``method`` on the set."""
    from edge import detectors
    from edge.settings import DetectConfig

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        detector = detectors.make(DetectConfig(method=method, threads=1, min_face=40))
        found = false = 0
        times, missed = [], []
        for name, image, truth in frames:
            t = time.perf_counter()
            boxes = [d.box for d in detector.detect(image)]
            times.append(1000 * (time.perf_counter() - t))
            hits = [b for b in boxes if any(is_face(b, f) for f in truth)]
            found += min(len(hits), len(truth))
            false += len(boxes) - len(hits)
            missed += [name] if len(hits) < len(truth) else []
    finally:
        cv2.setNumThreads(before)
    faces = sum(len(t) for _, _, t in frames)
    return {"method": method, "faces": faces, "found": found, "false": false,
            "frames_without_face": sum(1 for _, _, t in frames if not t), "ms": round(statistics.median(times), 2),
            "missed": missed}


def photo_scene(opts: common.Options) -> Path:
    """One face holding still, as ``benchmarks.scenes``' ``still`` (the same wall, a pixel of jitter, sensor
    noise, a slow exposure drift, 15 fps, 640x480) but the face a real photo's (the astronaut's head, face
    150 px): the FER2013 faces of the cpu section's scenes are picked by Haar and BlazeFace misses most of
    them, so there the two methods would not be doing the same job. Made once, cached."""
    seconds = 12.0 if opts.quick else 24.0
    path = opts.cache / "scenes" / f"photo_still-{common.digest('photo_still', seconds, files=[Path(__file__)])}.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    wall = clips.background(SIZE, "texture", 0)
    base, _ = _astronaut(150, (200, 90), wall)
    rng = np.random.default_rng(0)
    cv2.setRNGSeed(0)
    noise = [cv2.randn(np.empty(base.shape, np.int16), 0, 3) for _ in range(8)]

    def frames():
        for i in range(int(round(seconds * 15))):
            shifted = np.roll(base, (int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), axis=(0, 1))
            gain = 1.0 + 0.03 * np.sin(2 * np.pi * i / 15 / 11)
            yield cv2.add(cv2.convertScaleAbs(shifted, alpha=gain), noise[i % len(noise)], dtype=cv2.CV_8U)

    tmp = path.with_suffix(".tmp.mp4")
    clips.write_video(tmp, frames(), 15.0)
    tmp.rename(path)
    return path


def whole_process(opts: common.Options, vgg: dict[str, Any] | None) -> dict[str, Any]:
    """Per method: CPU a frame at 15 fps and the share of frames with a face reported, in the empty room,
    the photo face holding still and the cpu section's FER2013 face holding still; unpaced FPS on the
    photo scene against the seed-style loop's; peak RSS of ``python -m edge`` with music on."""
    from benchmarks import cpu

    videos = {name: scene.path for name, scene in cpu.scene_videos(opts).items() if name in ("empty", "still")}
    videos["photo"] = photo_scene(opts)
    frames = int(round((12.0 if opts.quick else 24.0) * cpu.scenes.FPS))
    out: dict[str, Any] = {"frames": frames, "methods": {}}
    for method in METHODS:
        sets = ("--set", f"detect.method={method}")
        row: dict[str, Any] = {}
        for name, video in videos.items():
            runs = [cpu.probe(video, frames, *sets) for _ in range(opts.repeats)]
            row[f"{name}_cpu_ms"] = round(statistics.median(cpu.cpu_ms(r) for r in runs), 3)
            row[f"{name}_face_share"] = round(statistics.fmean(bool(r[7]) for r in runs[-1]), 3)
        row["fps"] = round(cpu.fps(cpu.probe(videos["photo"], 3 * frames, "--unpaced", *sets)), 1)
        rss = common.run_process([sys.executable, "-m", "edge", "--source", str(videos["photo"]), "--loop",
                                  "--max-frames", str(frames), "--threads", "1", "--songs", str(common.SONGS),
                                  "--detect-method", method], lambda line: False)
        row["peak_rss_mb_music"] = round(rss.peak_rss_mb, 1)
        out["methods"][method] = row
        log.info("detectors %s: %s", method, row)
    if vgg is not None:
        out["seed_fps"] = common.run_seed(str(videos["photo"]), vgg, 60 if opts.quick else 150)["fps"]
    return out


def measure(opts: common.Options, vgg: dict[str, Any] | None = None) -> dict[str, Any]:
    frames = test_set(opts.fer)
    rows = [score(m, frames) for m in METHODS]
    return {"set": [name for name, _, _ in frames], "rows": rows, "process": whole_process(opts, vgg)}


def table(d: dict[str, Any], markdown: bool = False) -> str:
    proc = d["process"]["methods"]
    seed = d["process"].get("seed_fps")
    head = ["detector", "faces found", "false faces", "ms a frame (1 thread)", "CPU ms/frame at 15 fps: empty room",
            "one face (photo)", "one face (FER2013)", "unpaced FPS, photo" + (" (vs seed-style)" if seed else ""),
            "peak RSS MB (music on)"]
    body = []
    for r in d["rows"]:
        p = proc.get(r["method"], {})

        def cpu_cell(name: str, p: dict = p) -> str:
            return f"{p.get(name + '_cpu_ms', 0):.2f} (face in {100 * p.get(name + '_face_share', 0):.0f}%)"

        fps = f"{p.get('fps', 0):.0f}" + (f" ({p.get('fps', 0) / seed:.0f}x {seed:.1f})" if seed else "")
        body.append([r["method"], f"{r['found']} of {r['faces']}", f"{r['false']} (+{r['frames_without_face']} "
                     "frames without a face)", f"{r['ms']:.1f}", f"{p.get('empty_cpu_ms', 0):.2f}",
                     cpu_cell("photo"), cpu_cell("still"), fps, f"{p.get('peak_rss_mb_music', 0):.0f}"])
    return common.render(head, body, markdown)


def main() -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m benchmarks.detectors", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--set-only", action="store_true", help="only the test set and ms a frame (no processes)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from benchmarks.clips import FER2013_DIR

    fer = Path(FER2013_DIR) if (Path(FER2013_DIR) / "val").is_dir() else None
    opts = common.Options(quick=args.quick, fer=fer)
    if args.set_only:
        frames = test_set(fer)
        for r in (score(m, frames) for m in METHODS):
            print(r)
        return 0
    d = measure(opts)  # alone: no seed-style figure (python -m benchmarks --only detectors has it)
    print(table(d))
    if args.json:
        args.json.write_text(json.dumps(d, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
