"""Compare a converted model with its float source on the same images, and decide whether to keep it.

Pure numpy. The rule: with labelled images the converted model may lose at most ``max_drop``
accuracy points against the float model; without labels its top-1 must agree with the float model's on
at least ``min_agreement`` of the images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from converter.errors import VerifyError

#: How far a float model's probabilities may sum from 1 (float32 softmax is within 1e-6).
SUM_TOLERANCE = 1e-2
MAX_DROP = 1.0  # accuracy points
MIN_AGREEMENT = 0.93


@dataclass(frozen=True)
class Figures:
    """How a converted model compares with its float source on ``n`` images."""

    n: int
    top1_agreement: float
    mean_abs_diff: float  # mean |Δprob| over images and classes
    max_abs_diff: float
    float_accuracy: float | None = None  # None when the images have no labels
    tflite_accuracy: float | None = None

    @property
    def accuracy_drop(self) -> float | None:
        """Accuracy points lost by the conversion (negative: gained)."""
        if self.float_accuracy is None or self.tflite_accuracy is None:
            return None
        return round(100.0 * (self.float_accuracy - self.tflite_accuracy), 2)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy_drop": self.accuracy_drop}


def check_probabilities(probs: np.ndarray, labels: Sequence[str], where: str = "the model") -> None:
    """Raise ``VerifyError`` unless ``probs`` holds one probability per label for each image."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise VerifyError(f"{where} gives {probs.shape[1:] if probs.ndim == 2 else probs.shape} outputs per image "
                          f"but there are {len(labels)} labels ({', '.join(labels)}): pass --labels in the "
                          f"model's output order")
    if not len(probs):
        return
    if not np.isfinite(probs).all():
        raise VerifyError(f"{where} gives NaN or infinite outputs: the weights are broken")
    low = float(probs.min())
    sums = probs.sum(axis=1)
    if low < 0 or np.abs(sums - 1).max() > SUM_TOLERANCE:
        raise VerifyError(f"{where}'s outputs are not probabilities (min {low:.3g}, sums {sums.min():.3g}.."
                          f"{sums.max():.3g}): the last layer must be a softmax over the {len(labels)} labels "
                          f"(logits? add keras.layers.Softmax() and save again)")


def compare(float_probs: np.ndarray, tflite_probs: np.ndarray, y: np.ndarray | None = None) -> Figures:
    """Agreement and probability differences; accuracies too when ``y`` holds labels (all >= 0)."""
    a = np.asarray(float_probs, np.float64)
    b = np.asarray(tflite_probs, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"float outputs {a.shape} and TFLite outputs {b.shape} differ in shape")
    n = len(a)
    if not n:
        raise ValueError("nothing to compare: no images")
    pa, pb = a.argmax(axis=1), b.argmax(axis=1)
    diff = np.abs(a - b)
    acc_a = acc_b = None
    if y is not None and len(y) == n and (np.asarray(y) >= 0).all():
        acc_a = round(float((pa == y).mean()), 4)
        acc_b = round(float((pb == y).mean()), 4)
    return Figures(n, round(float((pa == pb).mean()), 4), round(float(diff.mean()), 5),
                   round(float(diff.max()), 4), acc_a, acc_b)


def refusal(fig: Figures, max_drop: float = MAX_DROP, min_agreement: float = MIN_AGREEMENT) -> str | None:
    """Why the converted model must not be kept, or None when it may."""
    drop = fig.accuracy_drop
    if drop is not None:
        if drop > max_drop:
            return (f"the converted model's accuracy {fig.tflite_accuracy:.4f} is {drop:.2f} points below the "
                    f"float model's {fig.float_accuracy:.4f} on {fig.n} images (allowed: --max-drop {max_drop:g})")
        return None
    if fig.top1_agreement < min_agreement:
        return (f"the converted model agrees with the float model on only {fig.top1_agreement:.4f} of {fig.n} "
                f"unlabelled images (required: --min-agreement {min_agreement:g})")
    return None
