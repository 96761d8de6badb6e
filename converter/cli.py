"""``python -m converter``: train emotion models, convert them to TFLite bundles, check the result.

Every command exits 2 with a one-line message on bad input (missing or corrupt files, data with no
images, labels that do not fit the model) and never leaves a half-written bundle behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger("converter")

EPILOG = """\
Values that begin with '-' must be written with '=', e.g. --input-scale=-1_1.
Data (DATA) is FER2013 as image folders (DIR/<emotion>/*.jpg, or DIR with train/ and val/) or the
Kaggle CSV (emotion,pixels,Usage). Decoded images are cached under $MOODPLAYER_CACHE
(default ~/.cache/moodplayer).
"""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _add_train(sub: argparse._SubParsersAction) -> None:
    from converter.archs import ARCHS

    p = sub.add_parser("train", help="train a model on FER2013",
                       description="Train an emotion model on FER2013 (train/ for training, val/ for "
                                   "validation). Checkpoints every epoch; --resume continues a run.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="FER2013 folder with train/ and val/, or the Kaggle CSV")
    p.add_argument("--arch", default="edgenet", choices=sorted(ARCHS), help="architecture (default: edgenet)")
    p.add_argument("--out", required=True, type=Path, help="run folder: model.keras, metrics.json, plots")
    p.add_argument("--epochs", type=int, default=60, help="epochs in the whole run, resumed ones included (default 60)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=32, help="edgenet: channels of the first stage (default 32)")
    p.add_argument("--weights", choices=["imagenet"], default=None,
                   help="vgg19: start from ImageNet weights already in Keras' cache (nothing is downloaded)")
    p.add_argument("--limit", type=int, default=0, help="train on at most this many images (quick runs)")
    p.add_argument("--patience", type=int, default=12, help="early stopping patience in epochs (default 12)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="one log line per epoch instead of progress bars")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from converter.metrics import confusion_text
    from converter.train import TrainConfig, train

    cfg = TrainConfig(data=args.data, arch=args.arch, out=str(args.out), epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed, width=args.width,
                      weights=args.weights, limit=args.limit, patience=args.patience, resume=args.resume,
                      augment=not args.no_augment)
    metrics = train(cfg, progress=not args.quiet)
    print(confusion_text(metrics))
    print(f"val accuracy {metrics['accuracy']:.4f}  macro recall {metrics['macro_recall']:.4f}  "
          f"macro F1 {metrics['macro_f1']:.4f}  -> {metrics['model']}")
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_train]


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

    try:
        return args.func(args)
    except (UsageError, DataError, BundleError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
