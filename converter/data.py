"""FER2013-style data, in one place for calibration, verification, evaluation and training.

Two forms are read:

- image folders: ``DIR/<label>/*.jpg|png`` (a split), or ``DIR/train|val|test/<label>/...`` with
  ``split=``; a folder of images without label folders loads unlabelled (``y == -1``);
- the Kaggle CSV ``emotion,pixels,Usage`` (``split``: train -> Training, val -> PublicTest,
  test -> PrivateTest).

Images are decoded once into uint8 arrays (N x H x W x C) and cached as ``.npz`` under
``$MOODPLAYER_CACHE`` (default ``~/.cache/moodplayer``), keyed by the files' names, sizes and times.
Labels are matched by name, never by position. Each item keeps a stable name (``Dataset.names``): its
path relative to the split folder (``happy/Training_123.jpg``), or ``<Usage>:<line>`` in the CSV.

Images are resized to the model's input size with ``cv2.INTER_AREA`` (crops from camera frames), or with
the interpolation a bundle names (``edge.bundle.INTERPOLATIONS``: ``area`` or ``linear``).

**The selection split** (``selection_split``): a fixed, stratified part of *train* held out to choose
epochs and runs on, so that val is looked at once, at the end. Within each class, the
``round(fraction * n)`` items whose ``sha1(f"{seed}:{name}")`` is smallest form it (at least one, never
the whole class): the same files on every machine and in every run with the same seed, whatever the
decoding order, the run's ``--seed`` or ``--limit``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.types import EMOTIONS

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp"}
#: The Kaggle CSV's emotion codes.
CSV_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CSV_SPLITS = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


class DataError(ValueError):
    """The data cannot be used: the message says which path and what to do."""


#: What FER2013 is and where it goes: the one sentence every "no FER2013" message ends with.
FER2013_HINT = ("FER2013 is Kaggle's 48x48 face-emotion data set (kaggle.com/datasets/msambare/fer2013); put it "
                "at ../shared/datasets/fer2013 next to this repository, or set FER2013_DIR: train/ and val/ "
                "(Kaggle's test/, renamed), one folder per emotion (angry disgust fear happy neutral sad surprise)")


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # uint8, N x H x W x C
    y: np.ndarray  # int64, N; index into labels, -1 when unlabelled
    labels: tuple[str, ...]
    source: str
    names: np.ndarray | None = None  # str, N: each item's stable name (see the module docstring)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def labelled(self) -> bool:
        return bool(len(self.y)) and bool((self.y >= 0).all())

    def subset(self, index: np.ndarray | slice) -> Dataset:
        names = None if self.names is None else self.names[index]
        return Dataset(self.x[index], self.y[index], self.labels, self.source, names)

    def counts(self) -> dict[str, int]:
        return {label: int((self.y == i).sum()) for i, label in enumerate(self.labels)}


def cache_dir() -> Path:
    return Path(os.environ.get("MOODPLAYER_CACHE", Path.home() / ".cache" / "moodplayer"))


def load(path: Path | str, split: str | None = None, *, size: tuple[int, int] = (48, 48), channels: int = 1,
         labels: Sequence[str] | None = None, cache: bool = True, progress: bool = True,
         interpolation: str = "area") -> Dataset:
    """Load a data set as uint8 arrays of ``size`` (height, width) with ``channels`` (1 gray, 3 RGB),
    resized with ``interpolation`` (``area`` or ``linear``, as a bundle's preprocessing names it).

    ``labels`` (a model's output order) maps each class folder or CSV code to that index by name; a class
    with no such label is an error. Without ``labels`` the order is ``edge.types.EMOTIONS`` when the
    classes are the FER2013 ones, else the folders' sorted names.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data {p} does not exist: pass a folder of <emotion>/ image folders or a FER2013 CSV. "
                        f"{FER2013_HINT}")
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise DataError(f"data {p} is a file but not a .csv: pass a FER2013 CSV or an image folder")
        return _load_csv(p, split, Shape(size, channels, _flag(interpolation)), labels, cache, progress)
    if split and (p / split).is_dir():
        p = p / split
    elif split is None and not _class_dirs(p) and not _images(p):
        found = [d.name for d in sorted(p.iterdir()) if d.is_dir()]
        raise DataError(f"{p} holds no images nor class folders (it has {found or 'nothing'}); "
                        f"pass a split folder such as {p}/val, or split='val'")
    return _load_folder(p, Shape(size, channels, _flag(interpolation)), labels, cache, progress)


@dataclass(frozen=True)
class Shape:
    """What every image becomes: ``size`` (height, width), ``channels``, resized with the cv2 flag ``resize``."""

    size: tuple[int, int]
    channels: int
    resize: int


def _flag(interpolation: str) -> int:
    from edge.classify import RESIZE

    if interpolation not in RESIZE:
        raise DataError(f"interpolation {interpolation!r}: use one of {', '.join(RESIZE)}")
    return RESIZE[interpolation]


def _class_dirs(p: Path) -> list[Path]:
    return [d for d in sorted(p.iterdir()) if d.is_dir() and any(_images(d))]


def _images(p: Path) -> list[Path]:
    return sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS)


def _label_order(found: Sequence[str], labels: Sequence[str] | None, where: Path) -> tuple[str, ...]:
    if labels is None:
        return EMOTIONS if set(found) <= set(EMOTIONS) else tuple(sorted(found))
    missing = [c for c in found if c not in labels]
    if missing:
        raise DataError(f"{where}: class(es) {missing} have no label of that name in the model "
                        f"(its labels: {list(labels)}); rename the folders or pass --labels")
    return tuple(labels)


def _load_folder(p: Path, shape: Shape, labels, cache, progress) -> Dataset:
    dirs = _class_dirs(p)
    if dirs:
        order = _label_order([d.name for d in dirs], labels, p)
        files = [(f, order.index(d.name)) for d in dirs for f in _images(d)]
    else:
        order = tuple(labels) if labels else EMOTIONS
        files = [(f, -1) for f in _images(p)]
    if not files:
        raise DataError(f"{p} has no images ({', '.join(sorted(IMAGE_EXTS))}) in it or in its class folders")
    size, channels = shape.size, shape.channels
    key = hashlib.sha256(repr((str(p.resolve()), size, channels, order, shape.resize,
                               [(f.name, f.stat().st_size, f.stat().st_mtime_ns, y) for f, y in files])).encode())
    cached = _cache_path(key.hexdigest()) if cache else None
    hit = _cached(cached, order, str(p))
    if hit is not None:
        return hit
    x = np.empty((len(files), size[0], size[1], channels), np.uint8)
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    bad = []
    for i, (f, _) in enumerate(_progress(files, f"decode {p.name}", progress)):
        img = cv2.imread(str(f), flag)
        if img is None:
            bad.append(i)
            continue
        x[i] = _fit(img, shape)
    keep = np.setdiff1d(np.arange(len(files)), bad)
    if bad:
        log.warning("skipped %d unreadable image(s) in %s, e.g. %s", len(bad), p, files[bad[0]][0])
    if not len(keep):
        raise DataError(f"{p}: none of its {len(files)} images could be read")
    names = np.array([f.relative_to(p).as_posix() for f, _ in files])[keep]
    ds = Dataset(x[keep], np.array([y for _, y in files], np.int64)[keep], order, str(p), names)
    _save(cached, ds)
    return ds


def _load_csv(p: Path, split, shape: Shape, labels, cache, progress) -> Dataset:
    usage = CSV_SPLITS.get(split, split) if split else None
    st = p.stat()
    key = hashlib.sha256(repr((str(p.resolve()), st.st_size, st.st_mtime_ns, usage, shape.size, shape.channels,
                               shape.resize, tuple(labels or ()))).encode())
    cached = _cache_path(key.hexdigest()) if cache else None
    order = _label_order(list(CSV_LABELS), labels, p)
    hit = _cached(cached, order, str(p))
    if hit is not None:
        return hit
    xs, ys, names = [], [], []
    with open(p, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"emotion", "pixels"} <= set(reader.fieldnames):
            raise DataError(f"{p}: a FER2013 CSV has the columns emotion,pixels[,Usage]; found {reader.fieldnames}")
        for n, row in enumerate(_progress(reader, f"read {p.name}", progress), start=2):
            if usage and row.get("Usage", usage) != usage:
                continue
            try:
                pixels = np.array(row["pixels"].split(), np.uint8)
                side = int(round(len(pixels) ** 0.5))
                img = pixels.reshape(side, side)
                code = int(row["emotion"])
                label = CSV_LABELS[code]
            except (ValueError, IndexError):
                raise DataError(f"{p}, line {n}: bad row (emotion {row.get('emotion')!r}, "
                                f"{len(row.get('pixels') or '')} chars of pixels)") from None
            xs.append(_fit(img if shape.channels == 1 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), shape))
            ys.append(order.index(label))
            names.append(f"{row.get('Usage', '')}:{n}")
    if not xs:
        raise DataError(f"{p}: no rows" + (f" with Usage={usage}" if usage else ""))
    ds = Dataset(np.stack(xs), np.array(ys, np.int64), order, str(p), np.array(names))
    _save(cached, ds)
    return ds


def _fit(img: np.ndarray, shape: Shape) -> np.ndarray:
    """Resize to (height, width); BGR from OpenCV becomes RGB for 3-channel models."""
    size = shape.size
    if img.shape[:2] != size:
        img = cv2.resize(img, (size[1], size[0]), interpolation=shape.resize)
    if shape.channels == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img.reshape(size[0], size[1], shape.channels)


def _cache_path(digest: str) -> Path:
    return cache_dir() / "data" / f"{digest[:24]}.npz"


def _cached(path: Path | None, order: tuple[str, ...], source: str) -> Dataset | None:
    """The cached arrays, or None (no cache, or one from before items had names: decoded again)."""
    if path is None or not path.exists():
        return None
    with np.load(path) as z:
        if "names" not in z:
            return None
        return Dataset(z["x"], z["y"], order, source, z["names"])


def _save(path: Path | None, ds: Dataset) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=ds.x, y=ds.y, names=ds.names)
        tmp.replace(path)
    except OSError as e:  # a read-only home is no reason to fail
        log.debug("not caching %s: %s", path, e)


def _progress(items, desc: str, enabled: bool):
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="img", leave=False, mininterval=0.5)


def sample(ds: Dataset, n: int, seed: int = 0, exclude: np.ndarray | None = None) -> tuple[Dataset, np.ndarray]:
    """Up to ``n`` random items (stratified order does not matter here) and their indices."""
    rng = np.random.default_rng(seed)
    pool = np.arange(len(ds)) if exclude is None else np.setdiff1d(np.arange(len(ds)), exclude)
    idx = np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))
    return ds.subset(idx), idx


#: The selection split's default share of train, and the seed of its hash.
SELECT_FRACTION = 0.1
SELECT_SEED = 0


def selection_split(ds: Dataset, fraction: float = SELECT_FRACTION,
                    seed: int = SELECT_SEED) -> tuple[Dataset, Dataset]:
    """``(rest, selection)``: ``fraction`` of each class of ``ds`` held out by a seeded hash of the item
    names (see the module docstring); ``rest`` is everything else, in ``ds``'s order."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"selection split {fraction}: a fraction of train between 0 and 1 (e.g. 0.1)")
    if ds.names is None or not ds.labelled:
        raise DataError(f"{ds.source}: a selection split needs labelled images with names (image folders or the CSV)")
    chosen = []
    for k in range(len(ds.labels)):
        members = np.flatnonzero(ds.y == k)
        take = min(len(members) - 1, max(1, int(round(fraction * len(members)))))
        if take <= 0:
            continue
        rank = sorted(members, key=lambda i: hashlib.sha1(f"{seed}:{ds.names[i]}".encode()).digest())
        chosen.extend(rank[:take])
    mask = np.zeros(len(ds), bool)
    mask[np.asarray(chosen, np.int64)] = True
    return ds.subset(np.flatnonzero(~mask)), ds.subset(np.flatnonzero(mask))
