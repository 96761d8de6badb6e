"""Classification figures from labels and probabilities: accuracy, per-class recall, macro F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """n x n counts: rows are true classes, columns predictions."""
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def summarize(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """``accuracy``, ``n``, ``per_class_recall``, ``per_class_precision``, ``macro_recall``, ``macro_f1``,
    ``confusion`` (rows true, columns predicted) for labelled data."""
    y_pred = np.argmax(probs, axis=1)
    m = confusion(y_true, y_pred, len(labels))
    support = m.sum(axis=1)
    predicted = m.sum(axis=0)
    tp = np.diag(m).astype(np.float64)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": round(float((y_pred == y_true).mean()) if len(y_true) else 0.0, 4),
        "macro_recall": round(float(recall[present].mean()) if present.any() else 0.0, 4),
        "macro_f1": round(float(f1[present].mean()) if present.any() else 0.0, 4),
        "per_class_recall": {l: round(float(r), 4) for l, r in zip(labels, recall)},
        "per_class_precision": {l: round(float(p), 4) for l, p in zip(labels, precision)},
        "support": {l: int(s) for l, s in zip(labels, support)},
        "labels": list(labels),
        "confusion": m.tolist(),
    }


def confusion_text(summary: dict[str, Any]) -> str:
    """The confusion matrix as an aligned text table."""
    labels = summary["labels"]
    short = [l[:7] for l in labels]
    head = "true\\pred " + " ".join(f"{s:>7}" for s in short) + "  recall"
    rows = [head]
    for label, s, row in zip(labels, short, summary["confusion"]):
        rows.append(f"{s:<9} " + " ".join(f"{v:>7d}" for v in row) + f"  {summary['per_class_recall'][label]:.3f}")
    return "\n".join(rows)
