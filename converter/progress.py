"""tqdm progress bars on stderr, shown only on a terminal (so logs and pipes stay clean)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def bar(items: Iterable[Any], desc: str, enabled: bool = True, **kw: Any) -> Iterable[Any]:
    """``items`` wrapped in a progress bar when ``enabled`` and stderr is a terminal."""
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, leave=False, disable=None, mininterval=0.5, **kw)
