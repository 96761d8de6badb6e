"""``evaluate``: a bundle's accuracy on labelled images, through the device's own classifier.

Runs ``edge.classify.Classifier`` (the TFLite interpreter the device uses) on FER2013 folders or the
CSV, loaded at the bundle's input size (resized with the bundle's ``preprocessing.interpolation``, as the
device's crop is) with each class folder mapped to the bundle's label of the same name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from converter import data as fer
from converter.metrics import summarize
from converter.progress import bar
from edge import bundle as bundles

log = logging.getLogger(__name__)


def evaluate(bundle_dir: Path | str, data: Path | str, split: str | None = "val", threads: int | None = None,
             tta_flip: bool = False, progress: bool = True, chunk: int = 64,
             select: tuple[float, int] = (fer.SELECT_FRACTION, fer.SELECT_SEED)) -> dict[str, Any]:
    """``converter.metrics.summarize`` figures for the bundle on ``data``, plus what was evaluated.
    ``split="select"``: the selection split of ``data``'s train split (``select`` = fraction, seed), the
    faces that runs and epochs are chosen on."""
    from edge.classify import Classifier

    b = bundles.load(bundle_dir)
    spec = b.input
    ds = fer.load(data, "train" if split == "select" else split, size=(spec.height, spec.width),
                  channels=spec.channels, labels=b.labels, progress=progress,
                  interpolation=b.preprocessing.interpolation)
    if split == "select":
        ds = fer.selection_split(ds, *select)[1]
    if not ds.labelled:
        raise fer.DataError(f"{ds.source}: evaluate needs labelled images (DIR/<emotion>/*.png or the CSV); "
                            f"these have no class folders")
    x = np.ascontiguousarray(ds.x[..., ::-1]) if spec.color == "bgr" else ds.x
    clf = Classifier(b, threads=threads, tta_flip=tta_flip)
    starts = range(0, len(x), chunk)
    probs = np.concatenate([clf.predict(x[i:i + chunk]) for i in bar(starts, "evaluate", progress, unit="batch")])
    result = summarize(ds.y, probs, b.labels)
    result.update({"bundle": str(b.path), "data": ds.source, "split": split,
                   **({"select_split": select[0], "select_seed": select[1]} if split == "select" else {}), "tta": "flip" if tta_flip else None,
                   "quantization": b.quantization.mode, "interpolation": b.preprocessing.interpolation})
    log.info("evaluated %s on %d images from %s", b.path, len(ds), ds.source)
    return result


def report_text(result: dict[str, Any]) -> str:
    """Accuracy, macro figures, and the confusion matrix with per-class recall."""
    from converter.metrics import confusion_text

    where = (f"the selection split ({result['select_split']:g}, seed {result['select_seed']}) of {result['data']}"
             if result.get("split") == "select" else result["data"])
    head = (f"{result['bundle']} ({result['quantization']}) on {result['n']} images from {where}"
            + (" with flip TTA" if result.get("tta") else ""))
    figures = (f"accuracy {result['accuracy']:.4f}   macro recall {result['macro_recall']:.4f}   "
               f"macro F1 {result['macro_f1']:.4f}")
    return "\n".join([head, figures, "", confusion_text(result)])
