"""``python -m converter``: train emotion models, convert them to TFLite bundles, check the result.

Every command exits 2 with a one-line message on bad input (missing or corrupt files, data with no
images, labels that do not fit the model) and never leaves a half-written bundle behind; ``convert``
exits 3 when it refuses a converted model that is worse than allowed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from converter.errors import RefusedError, UsageError  # UsageError is re-exported here

log = logging.getLogger("converter")

EPILOG = """\
Values that begin with '-' must be written with '=', e.g. --input-scale=-1_1.
Data (DATA) is FER2013 as image folders (DIR/<emotion>/*.jpg, or DIR with train/ and val/) or the
Kaggle CSV (emotion,pixels,Usage). Decoded images are cached under $MOODPLAYER_CACHE
(default ~/.cache/moodplayer).
"""


def _add_train(sub: argparse._SubParsersAction) -> None:
    from converter.archs import ARCHS

    p = sub.add_parser("train", help="train a model on FER2013",
                       description="Train an emotion model on FER2013: train/ for training, less a "
                                   "selection split (--select-split) that the epoch is chosen on; val/ is "
                                   "measured once, at the end. Checkpoints every epoch; --resume continues a run. Runs on "
                                   "TensorFlow's CPUs by default, or on a GPU with KERAS_BACKEND=jax (no "
                                   "TensorFlow needed there); the .keras files convert here either way.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="FER2013 folder with train/ and val/, or the Kaggle CSV")
    p.add_argument("--arch", default="edgenet", choices=sorted(ARCHS), help="architecture (default: edgenet)")
    p.add_argument("--out", required=True, type=Path, help="run folder: model.keras, metrics.json, plots")
    p.add_argument("--epochs", type=int, default=60, help="epochs in the whole run, resumed ones included (default 60)")
    p.add_argument("--batch-size", type=int, default=128, help="faces a step (default 128)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw",
                   help="AdamW, or SGD with Nesterov momentum 0.9 (default adamw)")
    p.add_argument("--weight-decay", type=float, default=5e-4,
                   help="decoupled weight decay, multiplied by the learning rate each step (default 5e-4)")
    p.add_argument("--erase", type=float, default=0.0, metavar="P",
                   help="random erasing: blank a patch of up to P of the faces (default 0: off)")
    p.add_argument("--init", metavar="MODEL", default=None,
                   help="fine-tune this .keras network (e.g. a run's model.keras) instead of starting from "
                        "random weights; --epochs, --lr and the schedule start afresh")
    p.add_argument("--seed", type=int, default=0, help="weights, shuffling and augmentation (default 0)")
    p.add_argument("--width", type=int, default=40, help="edgenet: channels of the first stage (default 40, as models/default)")
    p.add_argument("--weights", choices=["imagenet"], default=None,
                   help="vgg19: start from ImageNet weights already in Keras' cache (nothing is downloaded)")
    p.add_argument("--limit", type=int, default=0, help="train on at most this many images (quick runs)")
    add_select_flags(p)
    p.add_argument("--patience", type=int, default=12,
                   help="early stopping patience in epochs, on the figure epochs are chosen by (default 12)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out that already holds a run (its model is replaced)")
    p.add_argument("--quiet", action="store_true", help="one log line per epoch instead of progress bars")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from converter.metrics import confusion_text
    from converter.train import TrainConfig, train

    try:
        cfg = TrainConfig(data=args.data, arch=args.arch, out=str(args.out), epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, seed=args.seed, width=args.width,
                          weights=args.weights, limit=args.limit, patience=args.patience, resume=args.resume,
                          augment=not args.no_augment, optimizer=args.optimizer,
                          weight_decay=args.weight_decay, erase=args.erase,
                          init=args.init, overwrite=args.overwrite, select_split=args.select_split,
                          select_seed=args.select_seed)
    except ValueError as e:
        raise UsageError(f"train: {e}") from None
    metrics = train(cfg, progress=not args.quiet)
    print(confusion_text(metrics))
    if "select" in metrics:
        print(f"selection split accuracy {metrics['select']['accuracy']:.4f} ({metrics['select']['n']} train faces "
              f"held out; the epoch was chosen by it)")
    print(f"val accuracy {metrics['accuracy']:.4f}  macro recall {metrics['macro_recall']:.4f}  "
          f"macro F1 {metrics['macro_f1']:.4f}  -> {metrics['model']}  "
          + ("(val measured once, at the end)" if "select" in metrics else "(epoch chosen on val: optimistic)"))
    return 0


SELECT_USE = ("and choose the epoch on it; val is measured once, at the end ({default}; 0: train on all of "
              "train and choose on val, as before)")


def add_select_flags(p: argparse.ArgumentParser, use: str = SELECT_USE) -> None:
    """``--select-split`` and ``--select-seed``, for ``train``, ``evaluate`` and ``converter.sweep`` alike."""
    from converter.data import SELECT_FRACTION, SELECT_SEED

    p.add_argument("--select-split", type=float, default=SELECT_FRACTION, metavar="F",
                   help="the selection split: this fraction of each class of train, chosen by a seeded hash of the "
                        "file names, " + use.format(default=f"default {SELECT_FRACTION:g}"))
    p.add_argument("--select-seed", type=int, default=SELECT_SEED, metavar="S",
                   help=f"seed of the selection split's hash, apart from --seed so runs share it (default {SELECT_SEED})")


# -- convert ---------------------------------------------------------------------------------------

CONVERT_DESCRIPTION = """\
Convert a float emotion model into a bundle (BUNDLE_DIR/model.tflite + model.json) and verify it.

MODEL is a Keras 2 JSON architecture with --weights (the original project's files), a full .h5, a
.keras archive, or a SavedModel folder. The input size and channels come from the model; the
preprocessing (--input-scale) is recorded in the bundle and used by the device as it is.

Every conversion is verified: the float model and the TFLite model (through the device's classifier)
run on the same images, held apart from the calibration images, and the bundle is refused (exit 3,
nothing written) when the TFLite model is worse than allowed: with labelled images, when its accuracy
is more than --max-drop points below the float model's; without labels, when its top-1 agrees with the
float model's on less than --min-agreement of the images. --force keeps it anyway.
The bundle is written to a temporary sibling folder and renamed into place at the end.
"""


def _add_convert(sub: argparse._SubParsersAction) -> None:
    from converter.verify import MAX_DROP, MIN_AGREEMENT
    from edge.bundle import INTERPOLATIONS

    p = sub.add_parser("convert", help="convert a float model into a verified TFLite bundle",
                       description=CONVERT_DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="model.json (+ --weights), .h5, .keras or SavedModel folder")
    p.add_argument("--weights", type=Path, metavar="W.h5", help="weights for a JSON architecture")
    p.add_argument("--out", type=Path, required=True, metavar="BUNDLE_DIR", help="the bundle folder to write")
    p.add_argument("--quantize", default="int8", choices=["int8", "float16", "dynamic", "none"],
                   help="int8 (default): full-integer with int8 input/output, calibrated on --calibration; "
                        "float16: half-size weights; dynamic: int8 weights, float activations; none: float32")
    p.add_argument("--calibration", type=Path, metavar="DATA",
                   help="images for int8 calibration (default: --verify DATA, held apart)")
    p.add_argument("--verify", type=Path, metavar="DATA",
                   help="images to verify on (default: --calibration DATA, held apart from the calibration images)")
    p.add_argument("--calibration-size", type=_positive_int, default=300, metavar="N",
                   help="calibration images, drawn at random (default 300)")
    p.add_argument("--verify-size", type=_positive_int, default=1000, metavar="N",
                   help="verification images at most (default 1000)")
    p.add_argument("--calibration-split", default="train", metavar="SPLIT",
                   help="split of --calibration DATA: a subfolder or CSV Usage (default train)")
    p.add_argument("--verify-split", default="val", metavar="SPLIT",
                   help="split of --verify DATA (default val); a folder without split folders is used whole")
    p.add_argument("--labels", type=_labels, metavar="A,B,...",
                   help="the model's outputs, in order, by name (default: angry,disgust,fear,happy,neutral,sad,surprise); "
                        "data folders are matched to them by name")
    p.add_argument("--input-scale", default="0_1", choices=["0_1", "-1_1", "mean_std"],
                   help="pixel p -> model input: 0_1 = p/255 (default), -1_1 = (p-127.5)/127.5 (write "
                        "--input-scale=-1_1), mean_std = (p-mean)/std with --mean/--std")
    p.add_argument("--mean", type=_floats, default=(), metavar="M[,M,M]", help="mean_std: mean in pixel units, 1 or C values")
    p.add_argument("--std", type=_floats, default=(), metavar="S[,S,S]", help="mean_std: std in pixel units, 1 or C values")
    p.add_argument("--color", default="rgb", choices=["rgb", "bgr"],
                   help="channel order of a 3-channel model (default rgb; 1-channel models are gray)")
    p.add_argument("--mirror-average", action="store_true",
                   help="average each face with its mirror image inside the model: twice the multiply-adds, "
                        "the same weights and size (about +1 point on FER2013 val for edgenet)")
    p.add_argument("--crop-margin", type=float, default=0.0, metavar="F",
                   help="fraction of the face box added on each side before resizing, recorded for the device (default 0)")
    p.add_argument("--interpolation", default="area", choices=INTERPOLATIONS,
                   help="how faces are resized to the input size, as in training, recorded for the device and "
                        "evaluate: area (default; crops from camera frames) or linear (models trained on 48x48 "
                        "faces upscaled bilinearly, such as fer's mini-Xception)")
    p.add_argument("--max-drop", type=float, default=MAX_DROP, metavar="POINTS",
                   help=f"labelled data: refuse when accuracy drops more than this many points (default {MAX_DROP:g})")
    p.add_argument("--min-agreement", type=float, default=MIN_AGREEMENT, metavar="F",
                   help=f"unlabelled data: refuse when top-1 agreement is below this (default {MIN_AGREEMENT:g})")
    p.add_argument("--force", action="store_true", help="keep the bundle even when verification refuses it")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    p.add_argument("--name", default="", help="bundle name recorded in model.json (default: the folder name)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="TFLite threads for verification (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed for drawing calibration/verification images")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_convert)


def _convert(args: argparse.Namespace) -> int:
    from converter.convert import ConvertRequest, convert, summary_table
    from edge.types import EMOTIONS

    req = ConvertRequest(
        model=args.model, out=args.out, weights=args.weights, mode=args.quantize, calibration=args.calibration,
        verify=args.verify, labels=args.labels or EMOTIONS, input_scale=args.input_scale, mean=args.mean,
        std=args.std, crop_margin=args.crop_margin, interpolation=args.interpolation, color=args.color,
        calibration_size=args.calibration_size,
        verify_size=args.verify_size, calibration_split=args.calibration_split, verify_split=args.verify_split,
        max_drop=args.max_drop, min_agreement=args.min_agreement, force=args.force, overwrite=args.overwrite,
        threads=args.threads, seed=args.seed, name=args.name, mirror_average=args.mirror_average)
    result = convert(req, progress=not args.no_progress)
    print(summary_table(result))
    return 0


# -- inspect ---------------------------------------------------------------------------------------

def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="show a bundle's metadata, tensors, size and ops",
                       description="Show what a bundle folder or a model.tflite holds: model.json, input and "
                                   "output tensors (shape, dtype, quantization), file size and the op list, "
                                   "as the device's TFLite interpreter sees them.")
    p.add_argument("path", type=Path, metavar="BUNDLE_DIR|model.tflite")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    import json

    from converter.describe import describe, describe_text

    info = describe(args.path)
    print(json.dumps(info, indent=2) if args.json else describe_text(info))
    return 0


# -- evaluate --------------------------------------------------------------------------------------

def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="accuracy, per-class recall and confusion of a bundle on labelled data",
                       description="Evaluate a bundle with the device's TFLite classifier on labelled FER2013\n"
                                   "images: accuracy, per-class recall, macro F1 and the confusion matrix.\n"
                                   "Class folders (and CSV codes) are matched to the bundle's labels by name.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, metavar="BUNDLE_DIR")
    p.add_argument("--data", type=Path, required=True, metavar="DATA",
                   help="a split folder (DIR/val with <emotion>/ folders), a folder with val/, or the CSV")
    p.add_argument("--split", default="val",
                   help="split of DATA: subfolder or CSV Usage (default val); 'select': the selection split held "
                        "out of DATA's train (--select-split, --select-seed), the faces to choose models on")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout (logs go to stderr)")
    p.add_argument("--plot", type=Path, metavar="PNG", help="write the confusion matrix as a PNG")
    add_select_flags(p, "with --split select ({default})")
    p.add_argument("--tta", choices=["flip"], default=None, help="flip: average with the mirrored face")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N", help="TFLite threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    import json
    import os

    from converter.evaluate import evaluate, report_text

    result = evaluate(args.bundle, args.data, split=args.split, threads=args.threads or os.cpu_count(),
                      tta_flip=args.tta == "flip", progress=not args.no_progress,
                      select=(args.select_split, args.select_seed))
    if args.plot:
        from converter import plots

        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plots.confusion(result, args.plot)
        result["plot"] = str(args.plot)
        log.info("confusion matrix -> %s", args.plot)
    print(json.dumps(result) if args.json else report_text(result))
    return 0


# -- argument types --------------------------------------------------------------------------------

def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _labels(text: str) -> tuple[str, ...]:
    labels = tuple(s.strip() for s in text.split(","))
    if not all(labels):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, e.g. angry,happy,... got {text!r}")
    return labels


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_train, _add_convert, _add_inspect, _add_evaluate]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m converter", description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from converter.data import DataError
    from edge.bundle import BundleError
    from edge.interpreter import InterpreterError

    try:
        return args.func(args)
    except (UsageError, DataError, BundleError, InterpreterError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RefusedError as e:
        print(f"refused: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # unforeseen: one line, the traceback with -v
        if args.verbose:
            raise
        from converter.errors import first_line

        print(f"error: unexpected {type(e).__name__}: {first_line(e)} (run with -v for the traceback)",
              file=sys.stderr)
        return 1
