"""Helpers for the converter tests: tiny labelled image folders, running the CLI in-process, checks."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from converter.data import CSV_LABELS
from edge.types import EMOTIONS


def write_folders(root: Path, x: np.ndarray, y: np.ndarray, labels: Sequence[str] = EMOTIONS) -> Path:
    """``root/<labels[y]>/<i>.png`` for gray images ``x``; returns ``root``."""
    for i, (img, k) in enumerate(zip(x, y)):
        d = root / labels[int(k)]
        d.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(d / f"{i:04d}.png"), img)
    return root


def write_csv(path: Path, *parts: tuple[np.ndarray, np.ndarray, str], labels: Sequence[str] = EMOTIONS) -> Path:
    """The Kaggle FER2013 CSV (emotion code, space-separated pixels, Usage) from (gray images, classes,
    Usage) parts; classes index ``labels`` and are written as the CSV's own codes."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for x, y, usage in parts:
            for img, k in zip(x, y):
                w.writerow([CSV_LABELS.index(labels[int(k)]), " ".join(map(str, img.ravel())), usage])
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``python -m converter ARGV`` in this process: exit code, stdout, stderr."""
    from converter.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def nothing_written(out: Path) -> bool:
    """No bundle at ``out`` and no temporary sibling left behind."""
    return not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.argmax(a, axis=1) == np.argmax(b, axis=1)).mean())
