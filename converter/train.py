"""Train an emotion model on FER2013 on a CPU, in the background, across sessions (``--resume``).

The data are decoded once into cached uint8 arrays (``converter.data``); batches are augmented in a
``tf.data`` pipeline (flip, shift, rotation, zoom, brightness, contrast) so the saved model holds no
augmentation layers. The rare classes get square-root inverse-frequency sample weights (full inverse
weights buy disgust recall with several points of accuracy). AdamW with a warm-up and a cosine decay
to zero over ``epochs``; label smoothing 0.1; early stopping on validation accuracy.

Files in ``--out``: ``model.keras`` (best validation accuracy), ``checkpoint.keras`` + ``state.json``
(last epoch, to resume), ``history.csv``, ``metrics.json``, ``curves.png``, ``confusion.png``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter import archs, data as fer
from converter.metrics import summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    data: str
    arch: str = "edgenet"
    out: str = "runs/edgenet"
    epochs: int = 60
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    patience: int = 12
    seed: int = 0
    weights: str | None = None  # vgg19: "imagenet" if the file is in Keras' cache
    width: int = 32  # edgenet width
    limit: int = 0  # use at most this many training images (0: all), for quick runs
    resume: bool = False
    augment: bool = True


def class_weights(y: np.ndarray, n: int) -> np.ndarray:
    """Square-root inverse frequency, scaled to mean 1 over the samples."""
    counts = np.bincount(y, minlength=n).astype(np.float64)
    w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return w / (w[y].mean() if len(y) else 1.0)


def _augmenter(keras: Any, seed: int) -> Any:
    L = keras.layers
    return keras.Sequential([
        L.RandomFlip("horizontal", seed=seed),
        L.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 1),
        L.RandomRotation(0.04, fill_mode="nearest", seed=seed + 2),  # +-14 degrees
        L.RandomZoom(0.12, fill_mode="nearest", seed=seed + 3),
        L.RandomBrightness(0.2, value_range=(0.0, 1.0), seed=seed + 4),
        L.RandomContrast(0.3, seed=seed + 5),
    ], name="augment")


def _schedule(keras: Any, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = min(total - 1, cfg.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.lr * 0.05, decay_steps=total - warm, alpha=0.0,
        warmup_target=cfg.lr, warmup_steps=warm)


def train(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) and return the validation metrics of the best model."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    state_file = out / "state.json"
    channels = archs.CHANNELS[cfg.arch]
    train_ds = fer.load(cfg.data, "train", channels=channels, progress=progress)
    val_ds = fer.load(cfg.data, "val", channels=channels, labels=train_ds.labels, progress=progress)
    if not train_ds.labelled or not val_ds.labelled:
        raise fer.DataError(f"{cfg.data}: training needs labelled train/ and val/ class folders")
    if cfg.limit:
        train_ds, _ = fer.sample(train_ds, cfg.limit, seed=cfg.seed)
    labels, n = train_ds.labels, len(train_ds.labels)
    log.info("train %d images, val %d, classes %s", len(train_ds), len(val_ds), train_ds.counts())

    keras.utils.set_random_seed(cfg.seed)
    steps = math.ceil(len(train_ds) / cfg.batch_size)
    start_epoch, best = 0, 0.0
    if cfg.resume and state_file.exists() and (out / "checkpoint.keras").exists():
        state = json.loads(state_file.read_text())
        if state.get("config", {}).get("arch") != cfg.arch:
            raise ValueError(f"{out} holds a {state['config'].get('arch')} run; resume it with that --arch")
        model = keras.saving.load_model(out / "checkpoint.keras")
        start_epoch, best = int(state["epoch"]), float(state.get("best_val_accuracy", 0.0))
        log.info("resuming %s at epoch %d (best val accuracy %.4f)", out, start_epoch, best)
    else:
        if cfg.resume:
            log.warning("nothing to resume in %s: starting afresh", out)
        kwargs: dict[str, Any] = {"input_shape": (48, 48, channels)}
        if cfg.arch == "edgenet":
            kwargs["width"] = cfg.width
        if cfg.arch == "vgg19":
            kwargs["weights"] = cfg.weights
        model = archs.build(cfg.arch, n, **kwargs)
        model.compile(
            optimizer=keras.optimizers.AdamW(_schedule(keras, cfg, steps), weight_decay=cfg.weight_decay),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            metrics=["accuracy"])
    log.info("%s: %d parameters, %.1fM multiply-adds a face", model.name, model.count_params(),
             archs.macs(model) / 1e6)
    if start_epoch >= cfg.epochs:
        log.info("already trained %d of %d epochs: nothing to do", start_epoch, cfg.epochs)
    else:
        sw = class_weights(train_ds.y, n).astype(np.float32)
        aug = _augmenter(keras, cfg.seed)

        def prep(x, y, training: bool):
            x = tf.cast(x, tf.float32) / 255.0
            if training and cfg.augment:
                x = tf.clip_by_value(aug(x, training=True), 0.0, 1.0)
            return x, tf.one_hot(y, n)

        train_tf = (tf.data.Dataset.from_tensor_slices((train_ds.x, train_ds.y))
                    .shuffle(len(train_ds), seed=cfg.seed + start_epoch, reshuffle_each_iteration=True)
                    .batch(cfg.batch_size)
                    .map(lambda x, y: (*prep(x, y, True), tf.gather(sw, y)), num_parallel_calls=tf.data.AUTOTUNE)
                    .prefetch(2))
        val_tf = (tf.data.Dataset.from_tensor_slices((val_ds.x, val_ds.y)).batch(256)
                  .map(lambda x, y: prep(x, y, False)).cache().prefetch(2))

        class Keep(keras.callbacks.Callback):
            """Best model, last checkpoint and state after every epoch: a kill loses one epoch at most."""

            def __init__(self) -> None:
                super().__init__()
                self.best = best
                self.t0 = time.time()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                logs = logs or {}
                acc = float(logs.get("val_accuracy", 0.0))
                if acc > self.best:
                    self.best = acc
                    self.model.save(out / "model.keras")
                self.model.save(out / "checkpoint.tmp.keras")
                (out / "checkpoint.tmp.keras").replace(out / "checkpoint.keras")
                state = {"epoch": epoch + 1, "best_val_accuracy": self.best, "config": asdict(cfg),
                         "seconds_last_epoch": round(time.time() - self.t0, 1)}
                self.t0 = time.time()
                tmp = state_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(state, indent=2))
                tmp.replace(state_file)

        model.fit(train_tf, validation_data=val_tf, epochs=cfg.epochs, initial_epoch=start_epoch,
                  verbose=1 if progress else 2,
                  callbacks=[Keep(),
                             keras.callbacks.CSVLogger(str(out / "history.csv"), append=start_epoch > 0),
                             keras.callbacks.EarlyStopping("val_accuracy", patience=cfg.patience, mode="max")])

    best_path = out / "model.keras" if (out / "model.keras").exists() else out / "checkpoint.keras"
    best_model = keras.saving.load_model(best_path)
    probs = best_model.predict(val_ds.x.astype(np.float32) / 255.0, batch_size=256, verbose=0)
    metrics = {"model": str(best_path), "data": str(val_ds.source), "arch": cfg.arch,
               "params": int(best_model.count_params()), "macs": archs.macs(best_model),
               **summarize(val_ds.y, probs, labels)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    try:
        from converter import plots
        plots.curves(out / "history.csv", out / "curves.png")
        plots.confusion(metrics, out / "confusion.png")
    except Exception as e:  # plots are a nicety; never lose a trained model over them
        log.warning("could not draw the plots: %s", e)
    log.info("val accuracy %.4f, macro F1 %.4f (%s)", metrics["accuracy"], metrics["macro_f1"], best_path)
    return metrics
