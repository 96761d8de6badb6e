"""Train several configurations side by side inside a wall-clock budget (made for a borrowed GPU).

    KERAS_BACKEND=jax python -m converter.sweep --data DATA --out runs/sweep --budget 450 \\
        "w40: --width 40" "w40-sgd: --width 40 --optimizer sgd --lr 0.05 --weight-decay 5e-4"

Each configuration ("NAME: train flags") is one ``python -m converter train`` run in ``OUT/NAME``. A probe
first trains 3 epochs of every configuration at once, which measures each one's epoch time under the
same contention; each run then gets as many epochs as fit the rest of the budget, so that its cosine
schedule ends on time. The probe reads optimistic (its last epoch still overlaps other runs' start-up:
1.4 s an epoch against 3.0 s in the runs, five side by side on an H200), so epochs are planned at 1.5
times the probed time. Runs still going at the deadline are stopped (their best model so far stays).

Every run holds out the same selection split of train (``--select-split``, default 0.1, and
``--select-seed``: ``converter.data.selection_split``), chooses its epoch on it, and the sweep chooses
its run on it too; val is looked at once, for the chosen run, at the end. ``--select-split 0`` chooses
on val, as sweeps before issue 16 did. ``OUT/sweep.json`` records each run's exact command, epochs, the
figure it was chosen by (``chosen_by``) and its best value, the chosen run and that run's val accuracy.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from converter.data import SELECT_FRACTION, SELECT_SEED
from converter.errors import UsageError

log = logging.getLogger("converter.sweep")

PROBE_EPOCHS = 3
#: Planned epoch time over the probed one (see above).
SAFETY = 1.5


@dataclass
class Run:
    name: str
    flags: list[str]
    epochs: int = 0
    seconds_per_epoch: float = 0.0
    startup_s: float = 0.0
    chosen_by: str = ""  # select_accuracy (the selection split) or val_accuracy (--select-split 0)
    best_accuracy: float | None = None  # the best epoch's figure of chosen_by
    finished: bool = False
    command: str = ""


def parse_config(text: str) -> Run:
    name, sep, flags = text.partition(":")
    name = name.strip()
    if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"configuration {text!r}: write it as 'NAME: --flag value ...' (NAME in letters, digits, - _)")
    args = shlex.split(flags)
    wide = [a for a in args if a.split("=", 1)[0] in SWEEP_WIDE]
    if wide:
        raise ValueError(f"configuration {name!r} sets {', '.join(wide)}: the selection split is the sweep's, "
                         f"the same for every run; pass it to the sweep itself")
    return Run(name, args)


#: Train flags that the sweep sets for every run alike, so that runs are compared on the same faces.
SWEEP_WIDE = ("--select-split", "--select-seed")


@dataclass(frozen=True)
class Selection:
    """The selection split every run of a sweep shares (``fraction`` 0: runs and epochs chosen on val)."""

    fraction: float = SELECT_FRACTION
    seed: int = SELECT_SEED

    @property
    def flags(self) -> list[str]:
        return ["--select-split", f"{self.fraction:g}", "--select-seed", str(self.seed)]


def _train_cmd(data: str, out: Path, epochs: int, flags: list[str], select: Selection) -> list[str]:
    return [sys.executable, "-m", "converter", "train", "--data", data, "--out", str(out), "--epochs", str(epochs),
            "--patience", "100000", "--quiet", *select.flags, *flags]


def _run_all(cmds: dict[str, list[str]], logs: Path, deadline: float) -> dict[str, int | None]:
    """Start every command at once; wait for all, stopping those still going at ``deadline``."""
    logs.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name, cmd in cmds.items():
        with open(logs / f"{name}.log", "ab") as f:
            procs[name] = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    while any(p.poll() is None for p in procs.values()) and time.time() < deadline:
        time.sleep(1.0)
    for name, p in procs.items():
        if p.poll() is None:
            log.warning("%s: still training at the deadline: stopped (its best model so far stays)", name)
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    return {name: p.returncode for name, p in procs.items()}


def sweep(data: str, out: Path, runs: list[Run], budget_s: float, max_epochs: int = 400,
          select: Selection = Selection()) -> list[Run]:
    if (out / "sweep.json").exists() or (out / "probe").exists():
        raise UsageError(f"{out} already holds a sweep: pass another --out")
    if budget_s <= 0:
        raise UsageError(f"budget {budget_s}: give the sweep some seconds")
    t_start = time.time()
    deadline = t_start + budget_s
    out.mkdir(parents=True, exist_ok=True)
    from converter import data as fer  # decode and cache once, before the runs read the cache side by side

    fer.load(data, "train", progress=False)
    fer.load(data, "val", progress=False)

    t0 = time.time()
    probe = {r.name: _train_cmd(data, out / "probe" / r.name, PROBE_EPOCHS, r.flags, select) for r in runs}
    codes = _run_all(probe, out / "logs", deadline)
    probe_wall = time.time() - t0
    for r in runs:
        if codes[r.name] != 0:
            raise UsageError(f"the probe of {r.name} failed (exit {codes[r.name]}): its log "
                             f"{out / 'logs' / (r.name + '.log')} says why")
        state = json.loads((out / "probe" / r.name / "state.json").read_text())
        r.seconds_per_epoch = float(state["seconds_last_epoch"])
        r.startup_s = max(0.0, probe_wall - PROBE_EPOCHS * r.seconds_per_epoch)
    left = deadline - time.time()
    cmds = {}
    for r in runs:
        r.epochs = max(1, min(max_epochs, math.floor((left - r.startup_s - 20) / (SAFETY * r.seconds_per_epoch))))
        cmds[r.name] = _train_cmd(data, out / r.name, r.epochs, r.flags, select)
        r.command = shlex.join(["python", *(a for a in cmds[r.name][1:] if a != "--quiet")])
        log.info("%s: %.1f s an epoch side by side, startup %.0f s: %d epochs", r.name, r.seconds_per_epoch,
                 r.startup_s, r.epochs)

    codes = _run_all(cmds, out / "logs", deadline)
    for r in runs:
        state_file = out / r.name / "state.json"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            r.chosen_by = state.get("chosen_by", "val_accuracy")
            r.best_accuracy = float(state[f"best_{r.chosen_by}"])
            r.finished = codes[r.name] == 0 and int(state["epoch"]) >= r.epochs
    ranked = sorted(runs, key=lambda x: -(x.best_accuracy or 0))
    record = {"budget_s": budget_s, "select_split": select.fraction, "select_seed": select.seed,
              "chosen": ranked[0].name if ranked[0].best_accuracy is not None else None,
              **_chosen_val(out, ranked[0]), "runs": [asdict(x) for x in runs]}
    (out / "sweep.json").write_text(json.dumps(record, indent=2))
    for r in ranked:
        log.info("%-12s best %s %s  %s  %s", r.name, r.chosen_by or "-", r.best_accuracy,
                 "finished" if r.finished else "STOPPED", r.command)
    log.info("chosen: %s by %s; its val accuracy (%s): %s", record["chosen"], ranked[0].chosen_by,
             "measured once, at the end" if select.fraction else "the figure it was chosen on", record["chosen_val_accuracy"])
    return runs


def _chosen_val(out: Path, run: Run) -> dict[str, float | None]:
    """The chosen run's val accuracy, from its metrics.json (absent when the deadline stopped it:
    ``python -m converter evaluate`` its converted model.keras once instead)."""
    metrics = out / run.name / "metrics.json"
    value = json.loads(metrics.read_text()).get("accuracy") if metrics.exists() else None
    return {"chosen_val_accuracy": value}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m converter.sweep", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="FER2013 folder with train/ and val/")
    p.add_argument("--out", required=True, type=Path, help="sweep folder: one run folder per configuration")
    p.add_argument("--budget", required=True, type=float, help="wall-clock seconds for the whole sweep")
    p.add_argument("--max-epochs", type=int, default=400)
    from converter.cli import add_select_flags

    add_select_flags(p)
    p.add_argument("configs", nargs="+", metavar="'NAME: FLAGS'", help="a configuration: a name and train flags")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        runs = [parse_config(c) for c in args.configs]
    except ValueError as e:
        p.error(str(e))
    if len({r.name for r in runs}) != len(runs):
        p.error("configuration names must differ")
    from converter.data import DataError

    try:
        if not 0.0 <= args.select_split < 1.0:
            raise UsageError(f"--select-split {args.select_split}: a fraction of train from 0 (off) to below 1")
        sweep(args.data, args.out, runs, args.budget, args.max_epochs, Selection(args.select_split, args.select_seed))
    except (UsageError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the runs' best models so far stay in their folders", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
