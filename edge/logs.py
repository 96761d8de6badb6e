"""Logging setup for every command (``python -m edge``, ``python -m edge web``).

By hand: ``12:00:01 INFO edge.loop: ...`` on stderr. Under systemd, when stderr is the journal stream
(``edge.systemd.journal_stream``), the journal adds its own timestamps and reads a ``<N>`` prefix on
each line as that line's syslog priority (sd-daemon(3)), so ``journalctl -p warning -u moodplayer``
shows the warnings and errors only. Every line of a multi-line record (a traceback) gets the prefix.

    DEBUG -> <7>   INFO -> <6>   WARNING -> <4>   ERROR -> <3>   CRITICAL -> <2>
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from edge.systemd import journal_stream

#: logging level -> syslog priority (sd-daemon.h: SD_DEBUG 7 ... SD_CRIT 2).
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def priority(levelno: int) -> int:
    """The syslog priority for a logging level: the first row of PRIORITIES at or below it, else 7."""
    return next((p for level, p in PRIORITIES if levelno >= level), 7)


class JournalFormatter(logging.Formatter):
    """``<N>LEVEL name: message``, the prefix repeated on every line of the record."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def formatter(under_journal: bool, under_systemd: bool = False) -> logging.Formatter:
    """Journal lines with priorities; under systemd (``$JOURNAL_STREAM`` set) without timestamps, which
    the journal adds; else with ``HH:MM:SS``."""
    if under_journal:
        return JournalFormatter("%(levelname)s %(name)s: %(message)s")
    if under_systemd:
        return logging.Formatter("%(levelname)s %(name)s: %(message)s")
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def setup_logging(verbose: bool, environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) at INFO (DEBUG when ``verbose``), with journal priorities when the
    stream is systemd's journal stream. Like ``logging.basicConfig``, it does nothing when the root
    logger already has handlers."""
    root = logging.getLogger()
    if root.handlers:
        return
    stream = sys.stderr if stream is None else stream
    env = os.environ if environ is None else environ
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO, a closed stream
        fd = -1
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fd >= 0 and journal_stream(env, fd), bool(env.get("JOURNAL_STREAM"))))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
