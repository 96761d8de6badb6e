"""Is this a 64-bit userland? moodplayer runs only on one.

PyPI has no 32-bit ARM (armv7l / armhf) wheels of ai-edge-litert, NumPy 2, OpenCV, pygame or soundfile,
so on 32-bit Raspberry Pi OS ``pip install`` ends in a resolver error that names none of that. The
kernel cannot tell: a Pi 4 or 5 boots a 64-bit kernel under a 32-bit image too, so ``uname -m`` says
``aarch64`` there. What can tell is the userland itself:

- ``struct.calcsize("P")``: the size of a pointer in this Python (4 bytes on a 32-bit build);
- ``dpkg --print-architecture``: the Debian architecture of the installed system (``armhf``,
  ``armel``, ``i386`` are 32-bit; ``arm64``, ``amd64`` 64-bit); absent off Debian, then unused.

``probe()`` reads both (the probes are arguments, so tests pass their own), ``refusal(found)`` says
in one line what was found and what to do, or None on a 64-bit userland; ``require_64bit()`` raises
it as ``UnsupportedPlatform``. Standard library only: it runs before any dependency is installed.
"""

from __future__ import annotations

import platform
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from edge.errors import MoodplayerError

#: dpkg architectures with 32-bit pointers (Debian's list, the ones a Pi or a PC could have).
DPKG_32BIT = frozenset({"armhf", "armel", "i386", "mipsel", "powerpc", "hppa", "m68k", "sh4", "x32"})


class UnsupportedPlatform(MoodplayerError, ValueError):
    """A 32-bit userland: the dependencies have no wheels for it."""


@dataclass(frozen=True)
class Userland:
    """What the probes found."""

    pointer_bytes: int  # struct.calcsize("P") of this Python
    dpkg_arch: str | None  # `dpkg --print-architecture`, None without dpkg
    kernel: str  # `uname -m`: said in the message, never decides

    @property
    def is_64bit(self) -> bool:
        return self.pointer_bytes >= 8 and self.dpkg_arch not in DPKG_32BIT


def dpkg_architecture(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """``dpkg --print-architecture``, or None where there is no dpkg (or it fails)."""
    try:
        done = run(["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    arch = done.stdout.strip()
    return arch if done.returncode == 0 and arch else None


def probe(calcsize: Callable[[str], int] = struct.calcsize,
          dpkg: Callable[[], str | None] = dpkg_architecture,
          machine: Callable[[], str] = platform.machine) -> Userland:
    return Userland(pointer_bytes=calcsize("P"), dpkg_arch=dpkg(), kernel=machine() or "unknown")


def refusal(found: Userland) -> str | None:
    """One line for a 32-bit userland (what was found, and the fix); None for a 64-bit one."""
    if found.is_64bit:
        return None
    seen = [f"Python is {found.pointer_bytes * 8}-bit"]
    if found.dpkg_arch:
        seen.insert(0, f"dpkg says {found.dpkg_arch}")
    seen.append(f"the kernel says {found.kernel}")
    return (f"this is a 32-bit system ({', '.join(seen)}): moodplayer's dependencies (ai-edge-litert, NumPy 2, "
            "OpenCV, pygame) have no 32-bit ARM builds; flash Raspberry Pi OS 64-bit (Raspberry Pi Imager: "
            "Raspberry Pi OS (64-bit) or Lite (64-bit)) and start again")


def require_64bit(found: Userland | None = None) -> None:
    """Raise ``UnsupportedPlatform`` (one line) unless this userland (or ``found``) is 64-bit."""
    message = refusal(found if found is not None else probe())
    if message:
        raise UnsupportedPlatform(message)
