"""``convert``: a float model -> a verified bundle (``model.tflite`` + ``model.json``), all or nothing.

Steps: load the model (``converter.load``); load calibration and verification images at the model's
input size (``converter.data``), holding the verification images apart from the calibration ones; check
the float model gives one probability per label; convert (``converter.quantize``) into a temporary
sibling folder; run the TFLite model through the device's ``edge.classify.Classifier`` on the
verification images; refuse a model worse than allowed (``converter.verify``); record everything in
``model.json`` and rename the folder into place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from converter import __version__
from converter import data as fer
from converter.errors import RefusedError, UsageError
from converter.load import SourceModel, load_model, mirror_averaged
from converter.progress import bar
from converter.quantize import read_quantization, to_tflite
from converter.verify import MAX_DROP, MIN_AGREEMENT, Figures, check_probabilities, compare, refusal
from edge import bundle as bundles
from edge.bundle import INTERPOLATIONS, Bundle, InputSpec, Preprocessing
from edge.types import EMOTIONS

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ConvertRequest:
    """Everything ``convert`` needs; the CLI fills it from its flags."""

    model: Path
    out: Path
    weights: Path | None = None
    mode: str = "int8"
    calibration: Path | None = None
    verify: Path | None = None
    labels: tuple[str, ...] = EMOTIONS
    input_scale: str = "0_1"  # 0_1 | -1_1 | mean_std
    mean: tuple[float, ...] = ()  # pixel units, with input_scale mean_std
    std: tuple[float, ...] = ()
    crop_margin: float = 0.0
    interpolation: str = "area"  # how faces were resized in training: area (camera crops) or linear
    color: str = "rgb"  # for 3-channel models: rgb or bgr
    calibration_size: int = 300
    verify_size: int = 1000
    calibration_split: str = "train"
    verify_split: str = "val"
    max_drop: float = MAX_DROP
    min_agreement: float = MIN_AGREEMENT
    force: bool = False
    overwrite: bool = False
    threads: int | None = None
    seed: int = 0
    name: str = ""
    mirror_average: bool = False  # the bundle's model averages each face with its mirror image


@dataclass(frozen=True)
class ConvertResult:
    bundle: Bundle
    figures: Figures
    refused: str | None  # the refusal that --force overrode, if any
    tflite_bytes: int
    source_bytes: int
    calibration_n: int
    seconds: dict[str, float] = field(default_factory=dict)


def convert(req: ConvertRequest, progress: bool = True) -> ConvertResult:
    """Convert, verify and write the bundle at ``req.out``; raises on bad input or a refused result."""
    t0 = time.perf_counter()
    out = Path(req.out)
    _check_out(out, req.overwrite)
    if req.mode == "int8" and req.calibration is None and req.verify is None:
        raise UsageError("int8 needs calibration images: pass --calibration DATA (FER2013 folders or CSV)")
    if req.calibration is None and req.verify is None:
        raise UsageError("every conversion is verified: pass --verify DATA (FER2013 folders or CSV)")
    labels = _check_labels(req.labels)

    src = load_model(req.model, req.weights)
    if req.mirror_average:
        src = mirror_averaged(src)
    height, width, channels = src.input_shape
    log.info("model %s: %s input %dx%dx%d, %d outputs", src.files[0], src.kind, height, width, channels, src.outputs)
    if src.outputs != len(labels):
        raise UsageError(f"the model has {src.outputs} outputs but {len(labels)} labels were given "
                         f"({', '.join(labels)}): pass --labels with one name per output, in output order")
    pre = _preprocessing(req, channels)
    color = "gray" if channels == 1 else req.color
    spec = InputSpec(height, width, channels, color)

    # One DATA serves both when only one is given: its train split calibrates and its val split verifies
    # (a single split, or a CSV without Usage, is shared, with the verification images held apart).
    size, kw = (height, width), dict(channels=channels, labels=labels, progress=progress,
                                     interpolation=pre.interpolation)
    ver_ds = _load(req.verify or req.calibration, req.verify_split, "verify", size, **kw)
    cal_ds, cal_n = ver_ds, 0
    if req.mode == "int8":
        cal_ds = _load(req.calibration or req.verify, req.calibration_split, "calibration", size, **kw)
        cal_n = req.calibration_size
    cal_x, ver = hold_apart(cal_ds, ver_ds, cal_n, req.verify_size, req.seed)
    cal_x, ver_x = _to_color(cal_x, color), _to_color(ver.x, color)
    log.info("%s%d verification image(s)%s", f"{len(cal_x)} calibration image(s), held apart from " if len(cal_x) else "",
             len(ver), "" if ver.labelled else " (unlabelled)")
    t1 = time.perf_counter()

    float_probs = src.predict(pre.apply(ver_x), progress=progress)
    check_probabilities(float_probs, labels, f"the float model {src.files[0].name}")
    t2 = time.perf_counter()

    tflite = to_tflite(src, req.mode, pre.apply(cal_x) if len(cal_x) else None, progress=progress)
    t3 = time.perf_counter()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a bundle is an ordinary folder
        (tmp / bundles.MODEL_FILE).write_bytes(tflite)
        meta = Bundle(
            path=tmp, name=req.name or out.name, labels=labels, input=spec, preprocessing=pre,
            quantization=read_quantization(tmp / bundles.MODEL_FILE, req.mode),
            source=src.source, converter_version=__version__,
            model_sha256=bundles.file_sha256(tmp / bundles.MODEL_FILE),
            extra={"calibration": {"n": int(len(cal_x)), "data": str(req.calibration or req.verify),
                                   "split": req.calibration_split}
                   if len(cal_x) else {"n": 0},
                   **({"mirror_average": True} if req.mirror_average else {})})
        bundles.write_metadata(meta, tmp)
        tflite_probs = _tflite_predict(bundles.load(tmp), ver_x, req.threads, progress)
        figures = compare(float_probs, tflite_probs, ver.y if ver.labelled else None)
        t4 = time.perf_counter()
        why = refusal(figures, req.max_drop, req.min_agreement)
        if why and not req.force:
            raise RefusedError(f"not written: {why}. Use a better calibration set or another --quantize "
                               f"mode, or --force to keep it anyway")
        if why:
            log.warning("kept because of --force: %s", why)
        verification = {**figures.as_dict(), "data": str(req.verify or req.calibration), "split": req.verify_split,
                        "labelled": bool(ver.labelled), "max_drop": req.max_drop,
                        "min_agreement": req.min_agreement, "passed": why is None, "forced": bool(why)}
        bundles.write_metadata(replace(meta, verification=verification), tmp)
        _move_into_place(tmp, out, req.overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    seconds = {"load": t1 - t0, "float": t2 - t1, "convert": t3 - t2, "verify": t4 - t3,
               "total": time.perf_counter() - t0}
    return ConvertResult(bundles.load(out), figures, why, len(tflite), _size(src), len(cal_x),
                         {k: round(v, 2) for k, v in seconds.items()})


# -- data --------------------------------------------------------------------------------------------

def hold_apart(cal: fer.Dataset, ver: fer.Dataset, cal_n: int, ver_n: int,
               seed: int = 0) -> tuple[np.ndarray, fer.Dataset]:
    """Up to ``cal_n`` calibration images and up to ``ver_n`` verification items, none of which is
    pixel-identical to a calibration image. When both come from the same images, calibration takes at
    most half of them."""
    same = cal is ver or (cal.source == ver.source and cal.x.shape == ver.x.shape and np.array_equal(cal.x, ver.x))
    take = min(cal_n, len(cal) // 2 if same else len(cal))
    cal_x = fer.sample(cal, take, seed=seed)[0].x if take > 0 else cal.x[:0]
    seen = {_digest(img) for img in cal_x}
    pool = np.array([i for i, img in enumerate(ver.x) if _digest(img) not in seen], np.int64)
    if not len(pool):
        raise UsageError(f"no verification images left in {ver.source} once the {len(cal_x)} calibration "
                         f"images are held apart: pass more images, or a separate --verify DATA")
    chosen = fer.sample(ver.subset(pool), ver_n, seed=seed + 1)[0]
    if len(chosen) < 50:
        log.warning("only %d verification images: the figures will be rough", len(chosen))
    return cal_x, chosen


def _load(path: Path, split: str, role: str, size: tuple[int, int], **kw: Any) -> fer.Dataset:
    """A split of DATA: DATA/<split> when DATA has split folders, DATA itself when it is one split."""
    p = Path(path)
    if p.is_dir() and not (p / split).is_dir():
        present = [s for s in SPLITS if (p / s).is_dir()]
        if present:
            raise UsageError(f"{p} has {', '.join(s + '/' for s in present)} but no {split}/ for {role}: "
                             f"pass --{role}-split {present[0]}, or a split folder itself")
    return fer.load(p, split, size=size, **kw)


def _digest(img: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=16).digest()


def _to_color(x: np.ndarray, color: str) -> np.ndarray:
    """``converter.data`` gives RGB for 3 channels; a BGR model gets its channels reversed."""
    return np.ascontiguousarray(x[..., ::-1]) if color == "bgr" else x


# -- checks and helpers -------------------------------------------------------------------------------

def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: pass a folder for the bundle")
    if out.is_dir():
        if not overwrite:
            raise UsageError(f"{out} already exists: pass --overwrite to replace it, or another --out")
        names = {p.name for p in out.iterdir()}
        if names and not names & {bundles.MODEL_FILE, bundles.META_FILE}:
            raise UsageError(f"{out} exists and is not a bundle (no {bundles.META_FILE}): refusing to replace "
                             f"it even with --overwrite; pass another --out")


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    labels = tuple(labels)
    if not labels or not all(labels):
        raise UsageError(f"--labels must name every output, e.g. --labels {','.join(EMOTIONS)}")
    dupes = sorted({l for l in labels if labels.count(l) > 1})
    if dupes:
        raise UsageError(f"--labels names {', '.join(dupes)} more than once")
    return labels


def _preprocessing(req: ConvertRequest, channels: int) -> Preprocessing:
    if req.input_scale == "mean_std":
        if not req.mean or not req.std:
            raise UsageError("--input-scale mean_std needs --mean and --std (pixel units, e.g. --mean 127.5 --std 64)")
        mean, std = _per_channel(req.mean, "--mean", channels), _per_channel(req.std, "--std", channels)
        if min(std) <= 0:
            raise UsageError(f"--std must be positive, got {','.join(map(str, std))}")
        pre = Preprocessing("mean_std", mean, std, req.crop_margin, req.interpolation)
    else:
        if req.mean or req.std:
            raise UsageError(f"--mean/--std go with --input-scale mean_std, not {req.input_scale}")
        pre = Preprocessing.named(req.input_scale, channels, req.crop_margin, req.interpolation)
    if not 0.0 <= req.crop_margin <= 1.0:
        raise UsageError(f"--crop-margin must be in [0, 1], got {req.crop_margin}")
    if req.interpolation not in INTERPOLATIONS:
        raise UsageError(f"--interpolation {req.interpolation!r}: use one of {', '.join(INTERPOLATIONS)}")
    return pre


def _per_channel(values: tuple[float, ...], flag: str, channels: int) -> tuple[float, ...]:
    if len(values) == 1:
        return tuple(float(values[0]) for _ in range(channels))
    if len(values) != channels:
        raise UsageError(f"{flag} needs 1 or {channels} value(s) for a {channels}-channel model, got {len(values)}")
    return tuple(float(v) for v in values)


def _tflite_predict(bundle: Bundle, pixels: np.ndarray, threads: int | None, progress: bool,
                    chunk: int = 64) -> np.ndarray:
    from edge.classify import Classifier

    clf = Classifier(bundle, threads=threads or os.cpu_count() or 1)
    starts = range(0, len(pixels), chunk)
    parts = [clf.predict(pixels[i:i + chunk]) for i in bar(starts, "tflite model", progress, unit="batch")]
    return np.concatenate(parts)


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    if not out.exists():
        tmp.rename(out)
        return
    if not overwrite:  # appeared while we were converting
        raise UsageError(f"{out} already exists: pass --overwrite to replace it, or another --out")
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _size(src: SourceModel) -> int:
    total = 0
    for f in src.files:
        total += sum(p.stat().st_size for p in f.rglob("*") if p.is_file()) if f.is_dir() else f.stat().st_size
    return total


def summary_table(res: ConvertResult) -> str:
    """The end-of-run summary: what was written and how it compares with the float model."""
    b, f, q = res.bundle, res.figures, res.bundle.quantization
    pre = b.preprocessing

    def io(side: str) -> str:
        dtype = getattr(q, f"{side}_dtype")
        if dtype == "float32":
            return "float32"
        return f"{dtype} (scale {getattr(q, f'{side}_scale'):.6g}, zero point {getattr(q, f'{side}_zero_point')})"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    src = b.source
    rows = [
        ("bundle", f"{b.path}  ({res.tflite_bytes / 1e6:.2f} MB model.tflite, source {res.source_bytes / 1e6:.2f} MB)"),
        ("source", f"{src.get('file')}" + (f" + {src['weights_file']}" if src.get("weights_file") else "")
         + f"  [{src.get('format')}, sha256 {str(src.get('sha256'))[:12]}…]"),
        ("labels", ", ".join(b.labels)),
        ("input", f"{b.input.height}x{b.input.width}x{b.input.channels} {b.input.color}, "
                  f"preprocessing {pre.mode} (mean {list(pre.mean)}, std {list(pre.std)}), "
                  f"resized {pre.interpolation}"),
        ("quantization", f"{q.mode}: input {io('input')}, output {io('output')}"),
        ("calibration", f"{res.calibration_n} images" if res.calibration_n else "none (not needed)"),
        ("verification", f"{f.n} images held apart" + ("" if f.float_accuracy is not None else ", unlabelled")),
        ("  accuracy", f"float {pct(f.float_accuracy)}, tflite {pct(f.tflite_accuracy)}"
                       + (f", drop {f.accuracy_drop:+.2f} points" if f.accuracy_drop is not None else "")),
        ("  top-1 agree", pct(f.top1_agreement)),
        ("  mean |Δprob|", f"{f.mean_abs_diff:.5f} (max {f.max_abs_diff:.4f})"),
        ("result", "KEPT DESPITE: " + res.refused if res.refused else "passed"),
        ("time", ", ".join(f"{k} {v:.1f}s" for k, v in res.seconds.items())),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
