"""Train several configurations side by side inside a wall-clock budget (made for a borrowed GPU).

    KERAS_BACKEND=jax python -m converter.sweep --data DATA --out runs/sweep --budget 450 \\
        "w40: --width 40" "w40-sgd: --width 40 --optimizer sgd --lr 0.05 --weight-decay 5e-4"

Each configuration ("NAME: train flags") is one ``python -m converter train`` run in ``OUT/NAME``. A probe
first trains 3 epochs of every configuration at once, which measures each one's epoch time under the
same contention; each run then gets as many epochs as fit the rest of the budget, so that its cosine
schedule ends on time. The probe reads optimistic (its last epoch still overlaps other runs' start-up:
1.4 s an epoch against 3.0 s in the runs, five side by side on an H200), so epochs are planned at 1.5
times the probed time. Runs still going at the deadline are stopped (their best model so far stays).
``OUT/sweep.json`` records each run's exact command, epochs and best validation accuracy.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

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
    best_val_accuracy: float | None = None
    finished: bool = False
    command: str = ""


def parse_config(text: str) -> Run:
    name, sep, flags = text.partition(":")
    name = name.strip()
    if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"configuration {text!r}: write it as 'NAME: --flag value ...' (NAME in letters, digits, - _)")
    return Run(name, shlex.split(flags))


def _train_cmd(data: str, out: Path, epochs: int, flags: list[str]) -> list[str]:
    return [sys.executable, "-m", "converter", "train", "--data", data, "--out", str(out), "--epochs", str(epochs),
            "--patience", "100000", "--quiet", *flags]


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


def sweep(data: str, out: Path, runs: list[Run], budget_s: float, max_epochs: int = 400) -> list[Run]:
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
    probe = {r.name: _train_cmd(data, out / "probe" / r.name, PROBE_EPOCHS, r.flags) for r in runs}
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
        cmds[r.name] = _train_cmd(data, out / r.name, r.epochs, r.flags)
        r.command = shlex.join(["python", *(a for a in cmds[r.name][1:] if a != "--quiet")])
        log.info("%s: %.1f s an epoch side by side, startup %.0f s: %d epochs", r.name, r.seconds_per_epoch,
                 r.startup_s, r.epochs)

    codes = _run_all(cmds, out / "logs", deadline)
    for r in runs:
        state_file = out / r.name / "state.json"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            r.best_val_accuracy = float(state["best_val_accuracy"])
            r.finished = codes[r.name] == 0 and int(state["epoch"]) >= r.epochs
    (out / "sweep.json").write_text(json.dumps({"budget_s": budget_s, "runs": [asdict(x) for x in runs]}, indent=2))
    for r in sorted(runs, key=lambda x: -(x.best_val_accuracy or 0)):
        log.info("%-12s best val %s  %s  %s", r.name, r.best_val_accuracy, "finished" if r.finished else "STOPPED",
                 r.command)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m converter.sweep", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="FER2013 folder with train/ and val/")
    p.add_argument("--out", required=True, type=Path, help="sweep folder: one run folder per configuration")
    p.add_argument("--budget", required=True, type=float, help="wall-clock seconds for the whole sweep")
    p.add_argument("--max-epochs", type=int, default=400)
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
        sweep(args.data, args.out, runs, args.budget, args.max_epochs)
    except (UsageError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the runs' best models so far stay in their folders", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
