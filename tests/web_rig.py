"""Real processes for the companion's tests: the camera loop on a video with its control socket, the
companion on a free loopback port, and a small HTTP client. Every wait is a bounded poll."""

from __future__ import annotations

import json
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tests.rig import ROOT, SONGS, env, free_port, read_events, wait_for  # noqa: F401 (the web tests' names)


def short_dir() -> Path:
    """A fresh folder with a short path: AF_UNIX socket paths must stay under 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="mp-"))


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


def start_companion(sock: Path, port: int, state: Path, log: Path, *extra: str, nofile: int | None = None) -> Proc:
    """The companion on 127.0.0.1:``port``; ``nofile`` sets its open-file limit (systemd gives a unit 1,024)."""
    args = [sys.executable, "-u", "-m", "edge", "web", "--control-socket", str(sock), "--listen", f"127.0.0.1:{port}",
            "--state-dir", str(state), *extra]
    limit = None if nofile is None else (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile)))
    proc = Proc("companion", args, log, cwd=ROOT, preexec_fn=limit)
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

    def call(self, method: str, path: str, body: object = None, headers: dict | None = None, timeout: float = 10):
        """``body``: an object sent as JSON, or bytes sent as they are (with a JSON content type)."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=timeout) as r:
                status, raw, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        try:
            return status, json.loads(raw), hdrs
        except ValueError:
            return status, raw.decode(errors="replace"), hdrs

    def bearer(self, method: str, path: str, token: str, body: object = None, timeout: float = 10):
        return self.call(method, path, body, {"Authorization": f"Bearer {token}"}, timeout)



def of_type(events: list[dict], *types: str) -> list[dict]:
    return [e for e in events if e["type"] in types]


MOSQUITTO = "/usr/sbin/mosquitto"


def start_broker(folder: Path, port: int) -> Proc:
    """A real mosquitto on 127.0.0.1:``port`` with its own config (anonymous, as a default broker is); a
    skip that says what to install where there is none."""
    if not Path(MOSQUITTO).exists():
        import pytest

        pytest.skip(f"no {MOSQUITTO}: apt install mosquitto")
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = Proc("mosquitto", [MOSQUITTO, "-c", str(conf)], folder / "mosquitto.log")
    wait_for(lambda: port_open(port), 10, "mosquitto listening", broker)
    return broker
