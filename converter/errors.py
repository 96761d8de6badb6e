"""The converter's error types: each is printed as one line by the CLI, never as a traceback.

``UsageError`` and its subclasses mean bad input (exit code 2); ``RefusedError`` means the conversion
worked but its result is worse than allowed (exit code 3, nothing written).
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class ModelError(UsageError):
    """The model files are missing, unreadable, or not a single-input emotion classifier."""


class VerifyError(UsageError):
    """The float model's outputs are not one probability per label."""


class RefusedError(Exception):
    """The converted model is worse than allowed (``--max-drop`` / ``--min-agreement``): exit code 3."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (Keras and TensorFlow messages run to pages)."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
