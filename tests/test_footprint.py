"""The device process's memory levers (edge.footprint): what each does, and that ``python -m edge`` applies
them in its own process (pygame imported without pkg_resources, one OpenBLAS thread) while a caller of
``edge.cli.main`` keeps its process as it was; and the song analysis's block-wise decimation. Peak memory itself is a benchmark figure
(``python -m benchmarks --only memory``), not a test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge import footprint
from edge.music.features import _decimate

ROOT = Path(__file__).resolve().parent.parent


def test_pkg_resources_is_blocked_unless_already_imported():
    modules: dict[str, object] = {}
    assert footprint.block_pkg_resources(modules) is True and modules == {"pkg_resources": None}
    already = {"pkg_resources": object()}
    assert footprint.block_pkg_resources(already) is False and already["pkg_resources"] is not None


def test_python_m_edge_applies_them_in_its_own_process_and_pygame_still_plays(tmp_path):
    """A real run with music on: pygame (its mixer on SDL's dummy driver) starts, pkg_resources is never
    imported, and NumPy's OpenBLAS runs one thread."""
    image = np.zeros((120, 160, 3), np.uint8)
    photo = tmp_path / "room.png"
    import cv2

    cv2.imwrite(str(photo), image)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env.update(SDL_AUDIODRIVER="dummy", PYTHONPATH=str(ROOT))
    code = ("import sys, runpy; sys.argv = ['edge', '--source', sys.argv[1], '--loop', '--max-frames', '3', "
            "'--songs', sys.argv[2], '-v']; import atexit; "
            "atexit.register(lambda: print('MODULES', 'pygame' in sys.modules, 'pkg_resources' in sys.modules "
            "and sys.modules['pkg_resources'] is not None, 'numpy' in sys.modules, flush=True)); "
            "runpy.run_module('edge', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, str(photo), str(ROOT / "songs")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MODULES True False True" in done.stdout
    applied = re.search(r"memory levers: Applied\((.*)\)", done.stderr)
    assert applied, done.stderr[-2000:]
    assert "pkg_resources_blocked=True" in applied.group(1) and "openblas_threads='1'" in applied.group(1)


def test_a_caller_of_main_keeps_its_process_as_it_was():
    from edge.cli import main

    before = "pkg_resources" in sys.modules and sys.modules["pkg_resources"] is None
    assert main(["--print-config"]) == 0
    assert ("pkg_resources" in sys.modules and sys.modules["pkg_resources"] is None) == before


@pytest.mark.parametrize("q", [1, 2, 4])
def test_decimating_in_blocks_gives_the_same_samples_as_in_one_piece(q):
    """The song analysis decimates a block at a time (edge.music.features.Decimator): bit for bit what the
    whole excerpt in one piece gives, whatever the block sizes."""
    from edge.music.features import Decimator

    x = np.random.default_rng(q).standard_normal(50_003).astype(np.float32)
    whole = _decimate(x, q)
    assert len(whole) == (len(x) + q - 1) // q
    for sizes in ([1, 7, 1000, 4096], [50_003], [3] * 50):
        d = Decimator(q)
        at = 0
        while at < len(x):
            for size in sizes:
                d.push(x[at : at + size])
                at += size
        assert np.array_equal(d.finish(), whole)
    if q > 1:  # and it is the low-pass the analysis expects: a tone above the new Nyquist is gone
        t = np.arange(44_100) / 44_100
        tone = np.sin(2 * np.pi * (0.8 * 44_100 / q) * t).astype(np.float32)  # 0.4 of the new rate above its Nyquist
        assert float(np.abs(_decimate(tone, q)[100:-100]).max()) < 0.005
