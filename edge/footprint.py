"""The device process's memory levers, applied once at its start (``apply()``, from ``edge.cli``).

A Pi Zero 2 W has 512 MB for everything (the kernel, the GPU's and camera's share, the OS, the
companion): the camera process is meant to stay under 120 MB peak RSS with music on. Where the memory
goes, measured: docs/benchmarks.md, section 5. The levers here are the
process-wide ones; they change no result and no frame rate:

- **pkg_resources**: pygame's package ``__init__`` imports ``pygame.pkgdata``, which imports
  setuptools' ``pkg_resources`` (about 90 modules, 6-10 MB) only to look up pygame's own data files,
  and falls back to plain paths when that import fails. A venv made by Python 3.11's ``venv``
  (Raspberry Pi OS Bookworm) has setuptools in it; one with ``--system-site-packages`` can see
  Debian's. A ``None`` in ``sys.modules`` makes ``import pkg_resources`` raise ``ImportError`` (the
  import system's documented way to block a module), so pygame takes its fallback. Nothing else in the
  device process imports it; it is not blocked where it is already imported.
- **OpenBLAS threads**: NumPy and OpenCV each load an OpenBLAS that starts a thread per core at import.
  Nothing on the camera path calls BLAS (the song analysis uses ``einsum`` on its own thread, see
  ``edge.music.features._dot``), so ``OPENBLAS_NUM_THREADS=1`` (unless set) saves the idle threads and
  their buffers. It must be set before NumPy is imported.
- not **glibc malloc** settings: with the song analysis in chunks (``edge.music.features``), two
  arenas (``MALLOC_ARENA_MAX=2``) and a fixed mmap threshold moved the peak by 1-2 MB, and the fixed
  threshold cost the video path 0.2 s of system time per 600 frames (each decoded frame its own
  ``mmap``); glibc's defaults stay.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did."""

    pkg_resources_blocked: bool
    openblas_threads: str | None  # the value in the environment afterwards


def block_pkg_resources(modules: MutableMapping[str, object] | None = None) -> bool:
    """Make ``import pkg_resources`` fail from now on, unless it is already imported; True if blocked."""
    modules = sys.modules if modules is None else modules
    if "pkg_resources" in modules:
        return modules["pkg_resources"] is None
    modules["pkg_resources"] = None
    return True


def apply(environ: MutableMapping[str, str] | None = None) -> Applied:
    """Every lever above, for the device loop's process; call it before NumPy, OpenCV or pygame is
    imported and before any thread starts."""
    environ = os.environ if environ is None else environ
    environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return Applied(pkg_resources_blocked=block_pkg_resources(), openblas_threads=environ.get("OPENBLAS_NUM_THREADS"))
