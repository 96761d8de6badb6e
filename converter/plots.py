"""PNG figures: training curves and confusion matrices (matplotlib, Agg backend, no screen needed)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def curves(history_csv: Path | str, out: Path | str) -> Path:
    """Loss and accuracy per epoch: train, and the selection split or val (whichever the run measured)."""
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--"), ("select_", ":")):
            if rows and prefix + key in rows[0]:
                ax.plot(epochs, [float(r[prefix + key]) for r in rows], style, label=(prefix or "train_") + key)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


def confusion(summary: dict[str, Any], out: Path | str, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts, from ``converter.metrics.summarize``."""
    labels = summary["labels"]
    m = np.asarray(summary["confusion"], np.float64)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(m[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {summary['accuracy']:.3f}, macro F1 {summary['macro_f1']:.3f} (n={summary['n']})")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)
