"""What many test modules share: the child environment, a free loopback port, a bounded wait, the events
file, ``python -m edge`` run once, systemd's notify socket, the control socket's client and the unit's
sandbox score. Test modules import rigs (this one, ``music_synth``, ``web_rig``), never each other."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SONGS = ROOT / "songs"
EDGE_TIMEOUT = 60  # seconds: a ``python -m edge`` run that takes longer counts as a hang


def env(**extra: str) -> dict[str, str]:
    """The environment of a child ``python -m edge``: SDL's dummy drivers, no service state folder."""
    e = {**os.environ, "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    e.pop("STATE_DIRECTORY", None)
    e.update(extra)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "", proc: Any = None) -> Any:
    """``check()``'s first truthy value, polled every 50 ms for at most ``timeout`` seconds; ``proc`` (a
    ``web_rig.Proc``) that exits meanwhile fails at once, with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}) while waiting for {what}:\n"
                                 f"{proc.log_tail()}")
        time.sleep(0.05)
    raise AssertionError(f"no {what or 'result'} within {timeout} s" + (f"\n{proc.log_tail()}" if proc else ""))


def read_events(path: Path) -> list[dict]:
    """The events file's objects; a missing file is none, a half-written last line is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # the last line, half written
            pass
    return out


def run_edge(*args: str | Path, timeout: float = EDGE_TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m edge ARGS`` with the shipped songs unless ``--songs`` is given; a hang fails the test."""
    argv = [str(a) for a in args]
    if "--songs" not in argv:
        argv += ["--songs", str(SONGS)]
    try:
        return subprocess.run([sys.executable, "-m", "edge", *argv], cwd=ROOT, env=env(), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m edge {' '.join(argv)} hung for {timeout} s")


class NotifySocket:
    """A real AF_UNIX datagram socket standing in for systemd's: ``env`` is its NOTIFY_SOCKET value."""

    def __init__(self, path: Path | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:  # abstract namespace: NOTIFY_SOCKET=@name
            name = f"moodplayer-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.sock.bind(str(path))
            self.env = str(path)
        self.messages: list[str] = []

    def recv(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            message = self.sock.recv(4096).decode()
        except (TimeoutError, BlockingIOError):
            return None
        self.messages.append(message)
        return message

    def wait_for(self, needle: str, timeout: float) -> list[str]:
        """Messages until one contains ``needle`` (fails after ``timeout``)."""
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if message is not None:
                got.append(message)
                if needle in message:
                    return got
        pytest.fail(f"no {needle!r} within {timeout} s; got {got}")

    def drain(self) -> list[str]:
        got = []
        while (message := self.recv(0.001)) is not None:
            got.append(message)
        return got

    def close(self) -> None:
        self.sock.close()


class Conn:
    """A blocking control-socket client: one JSON line out, one in."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")

    def ask(self, obj) -> dict:
        self.send(obj)
        return self.line()

    def send(self, obj) -> None:
        self.sock.sendall(obj if isinstance(obj, bytes) else json.dumps(obj).encode() + b"\n")

    def line(self) -> dict:
        return json.loads(self.file.readline())

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def exposure(unit: Path) -> float:
    """``systemd-analyze security --offline=true``'s overall exposure of a unit file (skips without it)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt install systemd) to score the unit's sandbox")
    out = subprocess.run([analyze, "security", "--offline=true", str(unit)], capture_output=True, text=True,
                         timeout=60)
    text = out.stdout + out.stderr
    if "--offline" in text and "unrecognized option" in text:
        pytest.skip(f"this systemd-analyze has no --offline (systemd 252 or newer): {text.strip()[:200]}")
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", text)
    assert match, text[-2000:]
    return float(match.group(1))


def unit_settings(text: str) -> dict[str, list[str]]:
    """A unit file's ``Key=value`` lines: key -> every value, in order."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def mode(path: Path) -> int:
    """A file's permission bits (``0o644``)."""
    return path.stat().st_mode & 0o7777


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A copy of ``data`` with 1 to 16 random bytes changed, in the header, the tail or anywhere."""
    b = bytearray(data)
    region = rng.choice(["head", "tail", "any"])
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        pos = {"head": lambda: rng.randrange(8, 4096), "tail": lambda: rng.randrange(len(b) - 20000, len(b)),
               "any": lambda: rng.randrange(8, len(b))}[region]()
        b[pos] = rng.randrange(256)
    return bytes(b)


def confident(classifier: Any, threshold: float = 0.7) -> Callable[[Any, str], bool]:
    """accept(face, emotion): ``classifier`` (the shipped model's) reads this 48x48 face as ``emotion``
    with room to spare (``benchmarks.clips``' face pickers take it)."""
    import numpy as np

    def accept(face: Any, emotion: str) -> bool:
        probs = classifier.predict(np.asarray(face).reshape(1, 48, 48, 1))[0]
        return classifier.labels[int(np.argmax(probs))] == emotion and float(probs.max()) >= threshold
    return accept


def terminate(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server the test started: SIGTERM, then SIGKILL if it has not gone within ``timeout`` s."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class OneFace:
    """A face finder stand-in that sees one face in every frame."""

    def find(self, frame: Any) -> Any:
        from edge.detect import Found
        from edge.types import Face

        return Found((Face((260, 180, 120, 120), 1),), reread=True, state="active", detected=True, searched=1.0)


class Reading:
    """A classifier stand-in that reads every face as ``mood_at(frame.t)`` (0.9 for it, the rest shared)."""

    def __init__(self, mood_at: Callable[[float], str]) -> None:
        self.mood_at = mood_at

    def classify(self, frame: Any, faces: list) -> list:
        import numpy as np

        from edge.types import EMOTIONS, Emotions

        probs = np.full(len(EMOTIONS), 0.1 / (len(EMOTIONS) - 1), np.float32)
        probs[EMOTIONS.index(self.mood_at(frame.t))] = 0.9
        return [Emotions(probs, EMOTIONS) for _ in faces]
