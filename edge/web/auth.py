"""The companion's access token, its pairing cookie, same-origin checks for POSTs and a limit on wrong
tokens. The token is 256 random bits in a 0600 file in the state folder; rotating it logs every paired
phone out."""

from __future__ import annotations

import collections
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

TOKEN_FILE = "web-token"
COOKIE = "moodplayer"
DEFAULT_STATE = "/var/lib/moodplayer-web"

log = logging.getLogger(__name__)


def state_dir(configured: str = "") -> Path:
    """The configured folder, else systemd's $STATE_DIRECTORY, else the service's folder when this user
    can use it, else ~/.local/state/moodplayer-web."""
    if configured:
        return Path(configured)
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    if os.access(DEFAULT_STATE, os.W_OK | os.X_OK):
        return Path(DEFAULT_STATE)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "moodplayer-web"


class TokenStore:
    """The token in ``folder/web-token``: made on first use, re-read when the file changes (so
    ``web token --new`` takes effect in a running companion)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / TOKEN_FILE
        self._token = ""
        self._seen: tuple[int, int] | None = None

    def token(self) -> str:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return self.rotate()
        if (st.st_ino, st.st_mtime_ns) != self._seen:
            self._token = self.path.read_text().strip()
            self._seen = (st.st_ino, st.st_mtime_ns)
        return self._token

    def rotate(self) -> str:
        """Write a new token (0600, atomically) and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(32)
        tmp = self.path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.replace(tmp, self.path)
        self._seen = None
        return token

    def check(self, candidate: str) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token().encode())


class Limiter:
    """At most ``failures`` wrong tokens per client address in ``window_s`` seconds; after that the
    address's guesses are refused until the window has passed (a valid token never is: the caller checks
    it first). Remembers at most ``addresses`` addresses, forgetting the longest quiet first."""

    def __init__(self, failures: int = 10, window_s: float = 60.0, addresses: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.window_s, self.addresses, self.clock = failures, window_s, addresses, clock
        self._seen: dict[str, collections.deque[float]] = {}  # oldest first

    def blocked(self, who: str) -> bool:
        times = self._seen.get(who)
        if not times:
            return False
        while times and self.clock() - times[0] > self.window_s:
            times.popleft()
        if not times:
            del self._seen[who]
        return len(times) >= self.failures

    def fail(self, who: str) -> None:
        times = self._seen.pop(who, None) or collections.deque(maxlen=self.failures)
        if len(self._seen) >= self.addresses:  # bounded memory under a scan from many addresses
            del self._seen[next(iter(self._seen))]
        self._seen[who] = times  # now the newest
        times.append(self.clock())
        if len(times) == self.failures:
            log.warning("pairing: %s locked out for %g s after %d wrong tokens (a paired phone there is not)",
                        who, self.window_s, self.failures)


def same_origin(headers, scheme: str, host: str) -> bool:
    """Whether a browser says this request comes from this site: ``Sec-Fetch-Site: same-origin``, or an
    ``Origin`` equal to ours. Requests that say neither are not trusted."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("Origin")
    return origin is not None and origin == f"{scheme}://{host}"
