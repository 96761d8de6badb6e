"""The device process's memory levers, applied once at its start (``apply()``, from ``edge.cli``).

A Pi Zero 2 W has 512 MB for everything (about 420 MB left after the kernel, the GPU's share and
systemd): the camera process is meant to stay under 120 MB peak RSS with music on, the companion
beside it. Where the memory goes, measured: docs/benchmarks.md ("Memory"). The levers here are the
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
- **glibc malloc**: every thread that allocates gets its own arena by default (up to 8 per core), and the
  threshold above which a block is its own ``mmap`` (returned to the system when freed) grows to the
  largest block freed so far, so the song analysis's arrays end up in an arena that keeps them. Two
  arenas, and a fixed 256 KB threshold, keep the analysis's peaks from staying resident. ``mallopt``
  through ctypes; elsewhere than glibc nothing is done. The environment (``MALLOC_ARENA_MAX``,
  ``MALLOC_MMAP_THRESHOLD_``) wins where it is set.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass

# mallopt parameters, from glibc's malloc.h.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENA_MAX = 2
MMAP_THRESHOLD = 256 * 1024


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did."""

    pkg_resources_blocked: bool
    openblas_threads: str | None  # the value in the environment afterwards
    malloc: tuple[str, ...]  # the mallopt settings made, e.g. ("M_ARENA_MAX=2",)


def block_pkg_resources(modules: MutableMapping[str, object] | None = None) -> bool:
    """Make ``import pkg_resources`` fail from now on, unless it is already imported; True if blocked."""
    modules = sys.modules if modules is None else modules
    if "pkg_resources" in modules:
        return modules["pkg_resources"] is None
    modules["pkg_resources"] = None
    return True


def tune_malloc(environ: MutableMapping[str, str] | None = None, libc: object | None = None) -> tuple[str, ...]:
    """Two malloc arenas and a fixed mmap threshold on glibc (each unless its environment variable is
    set); the settings made."""
    environ = os.environ if environ is None else environ
    if libc is None:
        try:
            libc = ctypes.CDLL(None)
        except OSError:
            return ()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:  # not glibc (musl has no mallopt; macOS)
        return ()
    done = []
    for name, param, value, env in (("M_ARENA_MAX", M_ARENA_MAX, ARENA_MAX, "MALLOC_ARENA_MAX"),
                                    ("M_MMAP_THRESHOLD", M_MMAP_THRESHOLD, MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_")):
        if env in environ:
            continue
        if mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1:
            done.append(f"{name}={value}")
    return tuple(done)


def apply(environ: MutableMapping[str, str] | None = None) -> Applied:
    """Every lever above, for the device loop's process; call it before NumPy, OpenCV or pygame is
    imported and before any thread starts."""
    environ = os.environ if environ is None else environ
    environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return Applied(pkg_resources_blocked=block_pkg_resources(), openblas_threads=environ.get("OPENBLAS_NUM_THREADS"),
                   malloc=tune_malloc(environ))
