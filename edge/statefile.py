"""State files (likes and skips, the song feature cache, the installer's files): written atomically,
never written over unread.

``write_json_atomic`` writes a temporary file in the same folder, fsyncs it, renames it over the old one
and fsyncs the folder, so a power cut leaves the old file or the new one, never half of one, and the
rename itself survives. ``set_aside`` moves a file that could not be read (bad JSON, an unknown
version, entries of the wrong type, no permission) out of the way to ``<name>.bad-<time>`` instead
of letting the next write replace it, so nothing the listener gave is lost without a copy.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` (mode 0644) so that readers see the old file or the new, never
    half; the folder is fsynced after the rename. Raises ``OSError``."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` with ``mode``: a temporary file in the same folder, fsynced, renamed over
    the old one, the folder fsynced after the rename. Raises ``OSError``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders can't be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_text(path: Path) -> str | None:
    """The file's text, or None if it does not exist. Raises ``OSError`` (or ``UnicodeDecodeError``) when
    it exists but can't be read: a folder in its place, no permission, an I/O error."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def loads_salvaging(text: str) -> tuple[object, str]:
    """``json.loads``, and failing that the same text with closing braces added (a file cut short at
    its end): (the data, "" or what was repaired). Raises ``ValueError`` when neither parses."""
    try:
        return json.loads(text), ""
    except ValueError as first:
        stripped = text.rstrip().rstrip(",")
        for closers in ("}", "}}", "}}}", "]}", "]}}"):
            try:
                return json.loads(stripped + closers), f"not valid JSON ({first}); read it with {closers!r} added"
            except ValueError:
                continue
        raise first


def set_aside(path: Path, why: str, what: str, wall: Callable[[], float] = time.time) -> Path | None:
    """Move ``path`` to ``<path>.bad-<UTC time>`` (never over another file) and warn with both paths;
    returns the new path, or None (with a warning) if it can't be moved. ``what`` names the file's
    job in the message, e.g. "the likes and skips file"."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall()))
    aside = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    try:
        os.rename(path, aside)
    except OSError as e:
        log.warning("%s %s can't be read (%s) nor moved aside (%s): it is left alone and not written "
                    "to; fix its owner or permissions (the service's user must own it)", what, path, why, e)
        return None
    fsync_dir(path.parent)
    log.warning("%s %s could not be read (%s): moved it to %s and started afresh from what could be "
                "read; compare the two to recover the rest", what, path, why, aside)
    return aside
