"""Real processes for the companion's tests: the camera loop on a video with its control socket, the
companion on a free loopback port, and a small HTTP client. Every wait is a bounded poll."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SONGS = ROOT / "songs"


def env(**extra: str) -> dict[str, str]:
    e = {**os.environ, "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    e.pop("STATE_DIRECTORY", None)
    e.update(extra)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short_dir() -> Path:
    """A fresh folder with a short path: AF_UNIX socket paths must stay under 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="mp-"))


def wait_for(check: Callable[[], object], timeout: float, what: str, proc: "Proc | None" = None):
    """``check()``'s first truthy value, polled every 50 ms for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}) while waiting for {what}:\n"
                                 f"{proc.log_tail()}")
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s" + (f"\n{proc.log_tail()}" if proc else ""))


class Proc:
    """A subprocess whose output goes to a log file; ``stop()`` sends SIGTERM, then kills."""

    def __init__(self, name: str, args: list[str], log: Path, **kw) -> None:
        self.name, self.log = name, log
        self._out = open(log, "ab")
        self.popen = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, env=kw.pop("env", env()), **kw)

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._out.close()
        return self.popen.returncode


def start_loop(video: Path, sock: Path, events: Path, log: Path, *extra: str) -> Proc:
    args = [sys.executable, "-u", "-m", "edge", "--songs", str(SONGS), "--source", str(video), "--loop", "--realtime",
            "--control-socket", str(sock), "--events", str(events), "--events-frames", "--music-fade-ms", "200", *extra]
    proc = Proc("camera loop", args, log, cwd=ROOT)
    wait_for(lambda: sock.exists(), 60, f"control socket {sock}", proc)
    return proc


def start_companion(sock: Path, port: int, state: Path, log: Path, *extra: str) -> Proc:
    args = [sys.executable, "-u", "-m", "edge", "web", "--control-socket", str(sock), "--listen", f"127.0.0.1:{port}",
            "--state-dir", str(state), *extra]
    proc = Proc("companion", args, log, cwd=ROOT)
    wait_for(lambda: port_open(port), 30, f"companion on port {port}", proc)
    return proc


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def token(state: Path, port: int) -> tuple[str, str]:
    """(token, pairing URL) as ``python -m edge web token`` prints them."""
    out = subprocess.run([sys.executable, "-m", "edge", "web", "token", "--state-dir", str(state), "--listen",
                          f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env())
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    return lines["token"], lines["pair a phone (open once)"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Http:
    """Requests to the companion: ``call`` returns (status, body as JSON or text, headers)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(_NoRedirect)

    def call(self, method: str, path: str, body: object = None, headers: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=10) as r:
                status, raw, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        try:
            return status, json.loads(raw), hdrs
        except ValueError:
            return status, raw.decode(errors="replace"), hdrs

    def bearer(self, method: str, path: str, token: str, body: object = None):
        return self.call(method, path, body, {"Authorization": f"Bearer {token}"})


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:  # the last line, half written
            pass
    return out


def of_type(events: list[dict], *types: str) -> list[dict]:
    return [e for e in events if e["type"] in types]
