"""Train an emotion model on FER2013, in the background, across sessions (``--resume``).

Runs on any Keras 3 backend: TensorFlow on the workstation's CPUs, or JAX on a GPU machine that has no
TensorFlow (``KERAS_BACKEND=jax``); the saved ``.keras`` files read the same either way. The data are
decoded once into cached uint8 arrays (``converter.data``) and fed as arrays; augmentation (flip,
shift, rotation, zoom, brightness, contrast, optionally random erasing) runs in a training wrapper
around the network, so the saved model holds no augmentation layers. The rare classes get square-root
inverse-frequency sample weights (full inverse weights buy disgust recall with several points of
accuracy). AdamW (or SGD with Nesterov momentum) with a warm-up and a cosine decay to zero over
``epochs``; label smoothing 0.1.

Choosing the epoch honestly: by default (``select_split`` 0.1) a fixed, stratified tenth of train is held
out (``converter.data.selection_split``: a seeded hash of the file names, the same files on every
machine and for every ``--seed``), never trained on, and measured after every epoch
(``select_accuracy`` in ``history.csv``); the best epoch and early stopping go by it. Val is not looked
at during training: it is measured once, at the end, on the chosen network (``metrics.json``). With
``select_split`` 0 the run trains on all of train and chooses on val (``val_accuracy``), as the runs
before issue 16 did; its val figure is then optimistic.

Files in ``--out``: ``model.keras`` (the network at its chosen epoch), ``checkpoint.keras``
(the training wrapper with its optimizer) + ``state.json`` (last epoch, to resume), ``history.csv``,
``metrics.json``, ``curves.png``, ``confusion.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter import archs
from converter import data as fer
from converter.errors import UsageError
from converter.load import TRAINING_CHECKPOINT
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
    width: int = 40  # edgenet width (models/default: 40)
    limit: int = 0  # use at most this many training images (0: all), for quick runs
    resume: bool = False
    augment: bool = True
    optimizer: str = "adamw"  # or "sgd" (Nesterov momentum 0.9)
    erase: float = 0.0  # random erasing: highest probability of erasing a patch of a face
    init: str | None = None  # start from this trained network (.keras) instead of random weights
    overwrite: bool = False  # start afresh in an --out that already holds a run
    select_split: float = fer.SELECT_FRACTION  # share of train held out to choose epochs on; 0: choose on val
    select_seed: int = fer.SELECT_SEED  # seed of the selection split's hash (not --seed: runs share the split)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r}: choose from {', '.join(OPTIMIZERS)}")
        if not 0.0 <= self.erase <= 1.0:
            raise ValueError(f"erase {self.erase}: a probability from 0 to 1")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise ValueError(f"lr {self.lr} must be above 0 and weight decay {self.weight_decay} not below 0")
        if not 0.0 <= self.select_split < 1.0:
            raise ValueError(f"select split {self.select_split}: a fraction of train from 0 (off) to below 1, e.g. 0.1")

    @property
    def monitor(self) -> str:
        """The history column the epoch is chosen by."""
        return "select_accuracy" if self.select_split else "val_accuracy"


OPTIMIZERS = ("adamw", "sgd")


def class_weights(y: np.ndarray, n: int) -> np.ndarray:
    """Square-root inverse frequency, scaled to mean 1 over the samples."""
    counts = np.bincount(y, minlength=n).astype(np.float64)
    w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return w / (w[y].mean() if len(y) else 1.0)


def _trainer(keras: Any, net: Any, cfg: TrainConfig) -> Any:
    """``net`` behind the augmentation layers (active only in training); ``net`` itself is what ships."""
    from converter import augment

    inp = keras.Input(net.input_shape[1:], name="image")
    x = inp
    for layer in augment.layers(cfg.seed, cfg.erase) if cfg.augment else []:
        x = layer(x)
    return keras.Model(inp, net(x), name=TRAINING_CHECKPOINT)


def _initial(keras: Any, cfg: TrainConfig, n: int, kwargs: dict[str, Any]) -> Any:
    """A new network, or the one in ``cfg.init`` to fine-tune (it must take this data and give n classes)."""
    if not cfg.init:
        return archs.build(cfg.arch, n, **kwargs)
    if not Path(cfg.init).is_file():
        raise UsageError(f"--init {cfg.init}: no such file; pass a .keras model that train wrote")
    net = keras.saving.load_model(cfg.init)
    want = (48, 48, kwargs["input_shape"][-1])
    if tuple(net.input_shape[1:]) != want or net.output_shape[-1] != n:
        raise UsageError(f"--init {cfg.init}: takes {tuple(net.input_shape[1:])} and gives "
                            f"{net.output_shape[-1]} classes; this run needs {want} and {n}")
    log.info("fine-tuning %s from %s", net.name, cfg.init)
    return net


def _optimizer(keras: Any, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    schedule = _schedule(keras, cfg, steps_per_epoch)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    return keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)


def _schedule(keras: Any, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = min(total - 1, cfg.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.lr * 0.05, decay_steps=total - warm, alpha=0.0,
        warmup_target=cfg.lr, warmup_steps=warm)


def _data(cfg: TrainConfig, progress: bool) -> tuple[fer.Dataset, fer.Dataset | None, fer.Dataset]:
    """(what is trained on, the selection split or None, val)."""
    channels = archs.CHANNELS[cfg.arch]
    train_ds = fer.load(cfg.data, "train", channels=channels, progress=progress)
    val_ds = fer.load(cfg.data, "val", channels=channels, labels=train_ds.labels, progress=progress)
    if not train_ds.labelled or not val_ds.labelled:
        raise fer.DataError(f"{cfg.data}: training needs labelled train/ and val/ class folders")
    select_ds = None
    if cfg.select_split:
        train_ds, select_ds = fer.selection_split(train_ds, cfg.select_split, cfg.select_seed)
    if cfg.limit:
        train_ds, _ = fer.sample(train_ds, cfg.limit, seed=cfg.seed)
    log.info("train %d images, selection split %s, val %d, classes %s", len(train_ds),
             len(select_ds) if select_ds is not None else "off (epochs chosen on val)", len(val_ds), train_ds.counts())
    return train_ds, select_ds, val_ds


def _check_resumable(state: dict[str, Any], cfg: TrainConfig, out: Path) -> None:
    """A run resumes only with its architecture and its selection split (a changed split would leak)."""
    old = state.get("config", {})
    if old.get("arch") != cfg.arch:
        raise UsageError(f"{out} holds a {old.get('arch')} run; resume it with that --arch")
    split = (float(old.get("select_split", 0.0)), int(old.get("select_seed", fer.SELECT_SEED)))
    if split != (cfg.select_split, cfg.select_seed):
        raise UsageError(f"{out} was trained with --select-split {split[0]:g} --select-seed {split[1]}: resume it "
                         f"with those, or the chosen epoch would be measured on faces it was trained on")


def _write_history(path: Path, epoch: int, logs: dict[str, Any]) -> None:
    """One row per epoch (appended, so a resumed run continues the file); the header when it is new."""
    row = {"epoch": epoch, **{k: logs[k] for k in sorted(logs)}}
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def train(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) and return the chosen network's metrics: val (measured once, at the end) and,
    with a selection split, its accuracy there (``"select"``)."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    out = Path(cfg.out)
    state_file = out / "state.json"
    if state_file.exists() and not (cfg.resume or cfg.overwrite):
        done = json.loads(state_file.read_text()).get("epoch", "?")
        raise UsageError(f"{out} already holds a run ({done} epochs trained): continue it with --resume, "
                         f"start it again with --overwrite, or pass another --out")
    out.mkdir(parents=True, exist_ok=True)
    channels = archs.CHANNELS[cfg.arch]
    train_ds, select_ds, val_ds = _data(cfg, progress)
    choose_ds = select_ds if select_ds is not None else val_ds
    n = len(train_ds.labels)
    log.info("Keras %s, %s backend; epochs chosen by %s", keras.__version__, keras.backend.backend(), cfg.monitor)

    xc = choose_ds.x.astype(np.float32) / 255.0
    keras.utils.set_random_seed(cfg.seed)
    steps = math.ceil(len(train_ds) / cfg.batch_size)
    start_epoch, best = 0, 0.0
    if cfg.resume and state_file.exists() and (out / "checkpoint.keras").exists():
        state = json.loads(state_file.read_text())
        _check_resumable(state, cfg, out)
        from converter import augment  # noqa: F401  (registers RandomAffine for loading)

        trainer = keras.saving.load_model(out / "checkpoint.keras")
        if trainer.name != TRAINING_CHECKPOINT:
            raise UsageError(f"{out / 'checkpoint.keras'} is a bare network from an older version of this "
                                f"command, not a training checkpoint: continue from it with --init "
                                f"{out / 'checkpoint.keras'} and a new --out")
        net = trainer.layers[-1]
        start_epoch, best = int(state["epoch"]), float(state.get(f"best_{cfg.monitor}", 0.0))
        log.info("resuming %s at epoch %d (best %s %.4f)", out, start_epoch, cfg.monitor, best)
    else:
        if cfg.resume:
            log.warning("nothing to resume in %s: starting afresh", out)
        kwargs: dict[str, Any] = {"input_shape": (48, 48, channels)}
        if cfg.arch == "edgenet":
            kwargs["width"] = cfg.width
        if cfg.arch == "vgg19":
            kwargs["weights"] = cfg.weights
        net = _initial(keras, cfg, n, kwargs)
        trainer = _trainer(keras, net, cfg)
        trainer.compile(
            optimizer=_optimizer(keras, cfg, steps),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            metrics=["accuracy"])
    log.info("%s: %d parameters, %.1fM multiply-adds a face", net.name, net.count_params(),
             archs.macs(net) / 1e6)
    if start_epoch >= cfg.epochs:
        log.info("already trained %d of %d epochs: nothing to do", start_epoch, cfg.epochs)
    else:
        x = train_ds.x.astype(np.float32) / 255.0
        y = np.eye(n, dtype=np.float32)[train_ds.y]
        sw = class_weights(train_ds.y, n).astype(np.float32)[train_ds.y]
        yc = np.eye(n, dtype=np.float32)[choose_ds.y]

        class Keep(keras.callbacks.Callback):
            """Best network, last checkpoint, state and history after every epoch: a kill loses one epoch
            at most. With a selection split, Keras' ``val_*`` figures are its, and are renamed ``select_*``."""

            def __init__(self) -> None:
                super().__init__()
                self.best = best
                self.t0 = time.time()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                logs = logs if logs is not None else {}
                if cfg.select_split:
                    for key in [k for k in logs if k.startswith("val_")]:
                        logs["select_" + key[4:]] = logs.pop(key)
                _write_history(out / "history.csv", epoch, logs)
                acc = float(logs.get(cfg.monitor, 0.0))
                if acc > self.best:
                    self.best = acc
                    net.save(out / "model.tmp.keras")
                    (out / "model.tmp.keras").replace(out / "model.keras")
                trainer.save(out / "checkpoint.tmp.keras")
                (out / "checkpoint.tmp.keras").replace(out / "checkpoint.keras")
                state = {"epoch": epoch + 1, "chosen_by": cfg.monitor, f"best_{cfg.monitor}": self.best,
                         "config": asdict(cfg),
                         "seconds_last_epoch": round(time.time() - self.t0, 1)}
                self.t0 = time.time()
                tmp = state_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(state, indent=2))
                tmp.replace(state_file)

        if start_epoch == 0:
            (out / "history.csv").unlink(missing_ok=True)
        trainer.fit(x, y, sample_weight=sw, batch_size=cfg.batch_size, shuffle=True,
                    validation_data=(xc, yc), validation_batch_size=256,
                    epochs=cfg.epochs, initial_epoch=start_epoch, verbose=1 if progress else 2,
                    callbacks=[Keep(), keras.callbacks.EarlyStopping(cfg.monitor, patience=cfg.patience, mode="max")])

    return _report(keras, cfg, net, val_ds, select_ds)


def _report(keras: Any, cfg: TrainConfig, net: Any, val_ds: fer.Dataset, select_ds: fer.Dataset | None) -> dict[str, Any]:
    """The chosen network's val figures (measured here, once) and its selection-split accuracy, in
    ``metrics.json``, with the plots."""
    out = Path(cfg.out)
    best_path = out / "model.keras"
    best_model = keras.saving.load_model(best_path) if best_path.exists() else net
    probs = best_model.predict(val_ds.x.astype(np.float32) / 255.0, batch_size=256, verbose=0)
    metrics = {"model": str(best_path), "data": str(val_ds.source), "split": "val", "arch": cfg.arch,
               "params": int(best_model.count_params()), "macs": archs.macs(best_model), "chosen_by": cfg.monitor,
               **summarize(val_ds.y, probs, val_ds.labels)}
    if select_ds is not None:
        chosen = best_model.predict(select_ds.x.astype(np.float32) / 255.0, batch_size=256, verbose=0).argmax(axis=1)
        metrics["select"] = {"n": len(select_ds), "fraction": cfg.select_split, "seed": cfg.select_seed,
                             "accuracy": round(float((chosen == select_ds.y).mean()), 4)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    try:
        from converter import plots
        plots.curves(out / "history.csv", out / "curves.png")
        plots.confusion(metrics, out / "confusion.png")
    except Exception as e:  # plots are a nicety; never lose a trained model over them
        log.warning("could not draw the plots: %s", e)
    log.info("val accuracy %.4f, macro F1 %.4f (%s; %s)", metrics["accuracy"], metrics["macro_f1"], best_path,
             f"chosen on the selection split at {metrics['select']['accuracy']:.4f}, val measured once, now"
             if select_ds is not None else "chosen on val: this figure is optimistic")
    return metrics
