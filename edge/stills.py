"""Photos judged as photos: each still on its own, no time filters, one answer per photo.

An image or a folder of images is not a video: its pictures are unrelated, so the smoothing and the
hold that steady a camera's mood (``edge.mood``) do not apply. Each still gets its faces (the finder's
``detect``, no tracking), each face's emotions (one batch), and the room's mood from that still alone
(``edge.mood.room_from``). ``run`` prints one line per photo, or one JSON object per photo, and can
show each photo with its boxes (``edge.overlay``). No music plays for stills.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import cv2
import numpy as np

from edge import bundle as bundles
from edge.classify import Classifier
from edge.config import Config
from edge.detect import FaceFinder
from edge.mood import MoodConfig, room_from
from edge.overlay import Window, draw
from edge.sources.base import SourceError
from edge.sources.images import IMAGE_HINT, read_image
from edge.types import Emotions, Face, Frame, Mood

log = logging.getLogger(__name__)

#: Exit codes of a stills run: every photo read; some could not be read (named, skipped).
EXIT_OK, EXIT_UNREADABLE = 0, 1

#: The longest side a photo is shown at when the overlay has no size of its own (pixels).
SHOW_MAX_SIDE = 1280


@dataclass(frozen=True)
class Still:
    """One photo's verdict: its faces (largest first), their emotions, the room's mood; or ``error``
    (then ``image`` is None and there are no faces)."""

    path: str
    image: np.ndarray | None
    faces: tuple[Face, ...] = ()
    emotions: tuple[Emotions, ...] = ()
    mood: Mood | None = None
    error: str = ""


class Display(Protocol):
    """What ``run`` shows photos on: ``edge.overlay.Window``."""

    def show(self, image_bgr: np.ndarray) -> None: ...

    def poll_keys(self) -> list[str]: ...


def judge(path: Path | str, image: np.ndarray, finder: FaceFinder, classifier: Classifier,
          mood_cfg: MoodConfig) -> Still:
    """One decoded photo (HxWx3 uint8 BGR): at most ``finder.cfg.max_faces`` faces, their emotions, the mood."""
    faces = tuple(finder.faces_in(image))
    emotions = tuple(classifier.classify(Frame(image, 0.0, 0), faces))
    return Still(str(path), image, faces, emotions, room_from(mood_cfg, classifier.labels, faces, emotions))


def judge_paths(paths: Iterable[Path], finder: FaceFinder, classifier: Classifier,
                mood_cfg: MoodConfig) -> Iterator[Still]:
    """``judge`` for each path in order; a file that does not decode gives a ``Still`` with ``error``."""
    for path in paths:
        image = read_image(path)
        if image is None:
            yield Still(str(path), None, error=f"not a readable image ({IMAGE_HINT})")
        else:
            yield judge(path, image, finder, classifier, mood_cfg)


def _emotions_text(emo: Emotions) -> str:
    """``happy 0.94 (neutral 0.03, sad 0.01, ...)``: the top label, then the rest, most likely first."""
    ranked = sorted(zip(emo.labels, emo.probs.tolist()), key=lambda lp: -lp[1])
    rest = ", ".join(f"{label} {p:.2f}" for label, p in ranked[1:])
    return f"{ranked[0][0]} {ranked[0][1]:.2f} ({rest})"


def line(still: Still) -> str:
    """One readable line: ``me.jpg: 1 face: happy 0.94 (neutral 0.03, ...); room: happy 0.94 (v +0.76, a +0.48)``."""
    if still.error:
        return f"{still.path}: skipped: {still.error}"
    if not still.faces:
        return f"{still.path}: no face found; room: uncertain"
    n = len(still.faces)
    faces = "; ".join(_emotions_text(e) for e in still.emotions)
    m = still.mood
    assert m is not None
    return (f"{still.path}: {n} face{'' if n == 1 else 's'}: {faces}; "
            f"room: {m.label} {m.confidence:.2f} (v {m.valence:+.2f}, a {m.arousal:+.2f})")


def as_json(still: Still) -> dict[str, Any]:
    """One photo as a JSON object: ``path``, ``faces`` (``box`` x, y, w, h in pixels, ``top``,
    ``probs``), the room's ``mood``, ``confidence``, ``valence``, ``arousal``; or ``path`` and ``error``."""
    if still.error:
        return {"path": still.path, "error": still.error}
    m = still.mood
    assert m is not None
    faces = [{"box": [int(v) for v in f.box], "top": e.top, "probs": e.as_dict()}
             for f, e in zip(still.faces, still.emotions)]
    return {"path": still.path, "faces": faces, "mood": m.label, "confidence": m.confidence,
            "valence": m.valence, "arousal": m.arousal}


def fit(image: np.ndarray, faces: Iterable[Face], max_side: int) -> tuple[np.ndarray, list[Face]]:
    """``image`` shrunk so its longest side is at most ``max_side`` (never enlarged), faces to match."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale >= 1.0:
        return image, list(faces)
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    return small, [Face(tuple(int(round(v * scale)) for v in f.box), f.track_id) for f in faces]


def wait_for_key(display: Display, seconds: float | None, stop: threading.Event,
                 now: Callable[[], float] = time.monotonic, pause: Callable[[float], None] = time.sleep,
                 tick: float = 0.03) -> bool:
    """Wait until a key is pressed, ``seconds`` have passed (None: no limit) or ``stop`` is set; polls
    every ``tick`` seconds. False when the user quit ('q', Escape, closing the window) or ``stop`` is set."""
    end = None if seconds is None else now() + seconds
    while not stop.is_set():
        keys = display.poll_keys()
        if keys:
            return "q" not in keys
        if end is not None and now() >= end:
            return True
        pause(tick)
    return False


def show(display: Display, still: Still, max_side: int, seconds: float | None, stop: threading.Event) -> bool:
    """Put ``still`` on ``display`` with its boxes and the room's mood, then ``wait_for_key``."""
    if still.image is None:
        return not stop.is_set()
    image, faces = fit(still.image, still.faces, max_side) if max_side else (still.image, list(still.faces))
    display.show(draw(image, faces, still.emotions, still.mood, None, None))
    return wait_for_key(display, seconds, stop)


def run(paths: Iterable[Path], finder: FaceFinder, classifier: Classifier, mood_cfg: MoodConfig,
        out: TextIO, *, json_lines: bool = False, display: Display | None = None, still_seconds: float | None = None,
        max_side: int = SHOW_MAX_SIDE, stop: threading.Event | None = None, single: bool = False) -> int:
    """Judge each photo and write one line (or JSON object) per photo to ``out``, flushed as it goes;
    with ``display``, show each one until a key or ``still_seconds`` (``max_side`` 0: at full size).
    Returns ``EXIT_OK`` when every photo was read, ``EXIT_UNREADABLE`` when some were skipped. ``single``:
    the photos are one file the user named, and if it does not decode that is ``SourceError`` (nothing
    is written)."""
    stop = stop or threading.Event()
    judged = skipped = 0
    for still in judge_paths(paths, finder, classifier, mood_cfg):
        if single and still.error:
            raise SourceError(f"cannot read image {still.path}: {IMAGE_HINT}")
        out.write((json.dumps(as_json(still)) if json_lines else line(still)) + "\n")
        out.flush()
        judged += 1
        if still.error:
            skipped += 1
            log.debug("skipping %s: %s", still.path, still.error)
        if stop.is_set() or (display is not None and not show(display, still, max_side, still_seconds, stop)):
            break
    log.info("%d photo%s judged, %d unreadable", judged - skipped, "" if judged - skipped == 1 else "s", skipped)
    return EXIT_UNREADABLE if skipped else EXIT_OK


def run_config(cfg: Config, paths: list[Path], out: TextIO, *, json_lines: bool = False,
               still_seconds: float | None = None, stop: threading.Event | None = None) -> int:
    """``run`` with the parts ``cfg`` names: its model, detector and mood settings, the overlay window
    unless ``cfg.output.headless``. Start-up errors raise (``BundleError``, ``DetectError``, ...)."""
    ignored = [flag for flag, value in (("--record", cfg.output.record), ("--events", cfg.output.events)) if value]
    if ignored:
        log.warning("%s ignored for photos: each photo's result is printed (--json for JSON)", " and ".join(ignored))
    bundle = bundles.load(cfg.classify.model_path)
    classifier = Classifier(bundle, threads=cfg.classify.threads, tta_flip=cfg.classify.tta_flip)
    finder = FaceFinder(cfg.detect)
    window = None if cfg.output.headless else Window(cfg.overlay)
    single = len(paths) == 1 and Path(cfg.source.spec.strip()).expanduser().is_file()
    try:
        return run(paths, finder, classifier, cfg.mood, out, json_lines=json_lines, display=window,
                   still_seconds=still_seconds, max_side=max(cfg.overlay.width, cfg.overlay.height) or SHOW_MAX_SIDE,
                   stop=stop, single=single)
    finally:
        if window is not None:
            window.close()
