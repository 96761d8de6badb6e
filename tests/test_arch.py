"""A 32-bit Raspberry Pi OS is refused in one line (edge.arch), by the installer too, before anything is
written. The probes are passed in; the installer runs with a stand-in ``dpkg`` first on PATH (a shell
script that prints what Debian's ``dpkg --print-architecture`` prints on 32-bit Pi OS: ``armhf``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.arch import (
    UnsupportedPlatform,
    Userland,
    dpkg_architecture,
    probe,
    refusal,
    require_64bit,
)
from edge.errors import MoodplayerError

ROOT = Path(__file__).resolve().parent.parent
FIX = "flash Raspberry Pi OS 64-bit"


@pytest.mark.parametrize("pointer, dpkg, kernel, said", [
    (4, "armhf", "aarch64", ["dpkg says armhf", "Python is 32-bit", "the kernel says aarch64"]),  # Pi 4/5, 32-bit OS
    (4, "armhf", "armv7l", ["dpkg says armhf", "Python is 32-bit", "the kernel says armv7l"]),   # Pi 3, 32-bit OS
    (8, "armhf", "aarch64", ["dpkg says armhf", "Python is 64-bit"]),  # a 64-bit Python on a 32-bit system
    (4, "arm64", "aarch64", ["dpkg says arm64", "Python is 32-bit"]),  # an armhf Python (multiarch) on 64-bit
    (4, None, "armv7l", ["Python is 32-bit", "the kernel says armv7l"]),  # no dpkg: Python alone decides
])
def test_a_32_bit_userland_is_refused_in_one_line_that_says_what_was_found_and_the_fix(pointer, dpkg, kernel, said):
    found = probe(calcsize=lambda fmt: pointer if fmt == "P" else 0, dpkg=lambda: dpkg, machine=lambda: kernel)
    assert found == Userland(pointer, dpkg, kernel) and not found.is_64bit
    message = refusal(found)
    assert message is not None and "\n" not in message
    assert "32-bit" in message and FIX in message
    for part in said:
        assert part in message
    with pytest.raises(UnsupportedPlatform) as e:
        require_64bit(found)
    assert str(e.value) == message and isinstance(e.value, MoodplayerError) and isinstance(e.value, ValueError)


@pytest.mark.parametrize("pointer, dpkg, kernel", [(8, "arm64", "aarch64"), (8, "amd64", "x86_64"),
                                                   (8, None, "arm64")])
def test_a_64_bit_userland_passes(pointer, dpkg, kernel):
    found = probe(calcsize=lambda fmt: pointer, dpkg=lambda: dpkg, machine=lambda: kernel)
    assert found.is_64bit and refusal(found) is None
    require_64bit(found)  # does not raise


def test_the_probes_read_this_machine():
    found = probe()
    assert found.pointer_bytes == (8 if sys.maxsize > 2**32 else 4)
    real = shutil.which("dpkg")
    if real:  # Debian (this CI machine): the real dpkg's answer
        expected = subprocess.run([real, "--print-architecture"], capture_output=True, text=True, check=False).stdout.strip()
        assert found.dpkg_arch == expected
    assert dpkg_architecture(run=lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("dpkg"))) is None
    assert dpkg_architecture(run=lambda *a, **k: subprocess.CompletedProcess(a, 2, "", "dpkg: error")) is None


def _stand_in_dpkg(folder: Path, arch: str) -> dict[str, str]:
    """A ``dpkg`` that answers ``--print-architecture`` like Debian's on that architecture, first on PATH."""
    folder.mkdir()
    script = folder / "dpkg"
    script.write_text(f'#!/bin/sh\n[ "$1" = --print-architecture ] && echo {arch} && exit 0\nexit 2\n')
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_the_installer_refuses_a_32_bit_pi_os_before_writing_anything(tmp_path):
    env = _stand_in_dpkg(tmp_path / "bin", "armhf")
    root = tmp_path / "root"
    done = subprocess.run([sys.executable, "-m", "edge", "install", "--root", str(root)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: this is a 32-bit system (dpkg says armhf") and FIX in lines[0]
    assert not root.exists()  # nothing written


def test_the_installer_goes_on_where_dpkg_says_arm64(tmp_path):
    env = _stand_in_dpkg(tmp_path / "bin", "arm64")
    done = subprocess.run([sys.executable, "-m", "edge", "install", "--root", str(tmp_path / "root"), "--dry-run"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "32-bit" not in done.stderr and "would write" in done.stdout
