"""Show what the player sees: boxes, labels, the room's mood, the song and FPS drawn on the frame.

``draw`` is a pure function (OpenCV drawing on a copy): the ``camera`` view. ``Window`` puts frames on
screen through pygame (on the video driver ``edge.display`` picks: kmsdrm on a Pi console, x11/wayland
on a desktop, offscreen in tests), or the ``now-playing`` view (``edge.nowplaying``: no camera image);
``Recorder`` writes the camera view to an .mp4.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge import display
from edge.errors import MoodplayerError
from edge.settings import OverlayConfig  # noqa: F401 (re-exported: the stage's own config)
from edge.types import UNCERTAIN, Emotions, Face, Mood

log = logging.getLogger(__name__)

#: BGR colour per label; anything else is drawn gray.
COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 230), "disgust": (40, 140, 40), "fear": (170, 60, 150), "happy": (0, 210, 255),
    "neutral": (200, 200, 200), "sad": (200, 120, 40), "surprise": (0, 140, 255), UNCERTAIN: (150, 150, 150),
}
_GRAY = (160, 160, 160)
NOW_PLAYING_SIZE = (1280, 720)  # the now-playing window when not full screen and no overlay.width/height
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class OverlayError(MoodplayerError, RuntimeError):
    """The window or the recording cannot be opened; the message says what to try."""


class NoDisplayError(OverlayError):
    """No screen to show the overlay on (``edge.display``): the message names each driver tried and why."""

    def __init__(self, message: str, tried: tuple = ()) -> None:
        super().__init__(message)
        self.tried = tried


# -- drawing -------------------------------------------------------------------------------------

def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float, color: tuple[int, int, int],
          thick: int) -> None:
    """Text with a dark plate behind it; ``org`` is the plate's top-left corner (kept inside the image)."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    pad = max(2, int(3 * scale))
    h_img, w_img = image.shape[:2]
    x = min(max(0, org[0]), max(0, w_img - tw - 2 * pad))
    y = min(max(0, org[1]), max(0, h_img - th - base - 2 * pad))
    cv2.rectangle(image, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x + pad, y + pad + th), _FONT, scale, color, thick, cv2.LINE_AA)


def draw(image_bgr: np.ndarray, faces: Sequence[Face], emotions: Sequence[Emotions], mood: Mood | None,
         song: str | None, fps: float | None) -> np.ndarray:
    """A copy of ``image_bgr`` with each face's box and label (confidence), the room's mood (valence,
    arousal, faces), the song's file name and the FPS. ``emotions[i]`` belongs to ``faces[i]``; faces
    without one get a gray box."""
    out = image_bgr.copy()
    height, width = out.shape[:2]
    scale = max(0.4, min(1.2, width / 1100))
    thick = max(1, int(round(scale * 2)))
    line_h = int(30 * scale) + 6
    for i, face in enumerate(faces):
        x, y, w, h = (int(v) for v in face.box)
        emo = emotions[i] if i < len(emotions) else None
        color = COLORS.get(emo.top, _GRAY) if emo is not None else _GRAY
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), color, max(2, thick))
        label = f"{emo.top} {emo.confidence:.2f}" if emo is not None else "face"
        if face.track_id:
            label = f"#{face.track_id} {label}"
        (_, th), base = cv2.getTextSize(label, _FONT, scale, thick)
        above = y - th - base - 2 * max(2, int(3 * scale)) - 2
        _text(out, label, (x, above if above >= 0 else y + h + 2), scale, color, thick)
    row = 4
    if mood is not None:
        room = (f"room: {mood.label} {mood.confidence:.2f}  v {mood.valence:+.2f} a {mood.arousal:+.2f}  "
                f"({mood.faces} face{'' if mood.faces == 1 else 's'})")
        _text(out, room, (4, row), scale, COLORS.get(mood.label, _GRAY), thick)
        row += line_h
    if song:
        _text(out, f"song: {Path(song).name}", (4, height - line_h), scale, (255, 255, 255), thick)
    if fps is not None:
        text = f"{fps:.1f} FPS"
        (tw, _), _ = cv2.getTextSize(text, _FONT, scale, thick)
        _text(out, text, (width - tw - 12, 4), scale, (255, 255, 255), thick)
    return out


# -- window --------------------------------------------------------------------------------------

def _letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit ``size`` (w, h) keeping its aspect, centred on black."""
    w, h = size
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return image
    s = min(w / iw, h / ih)
    nw, nh = max(1, int(round(iw * s))), max(1, int(round(ih * s)))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if (nw, nh) == (w, h):
        return small
    canvas = np.zeros((h, w, 3), np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    canvas[y:y + nh, x:x + nw] = small
    return canvas


class Window:
    """A pygame window (or the whole screen) showing BGR frames; ``poll_keys`` reads the keyboard.

    The display is set up at the first ``show`` (its size may come from the frame). Must be used from
    the thread that created it.
    """

    def __init__(self, cfg: OverlayConfig | None = None, title: str = "moodplayer", *, pg: Any = None,
                 compiled: Sequence[str] | None = None, dri: Path = Path("/dev/dri")) -> None:
        """``pg`` (default: pygame), ``compiled`` (its SDL's video drivers) and ``dri`` are for
        ``edge.display.open_display``; tests pass a stand-in for a Pi console."""
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        if pg is None:
            import pygame as pg

        self._pg = pygame = pg
        self.cfg = cfg or OverlayConfig()
        self.title = title
        self._surface = None
        self._view = None  # the now-playing view, made at its first use
        try:
            self.driver, self.tried = display.open_display(pygame, compiled=compiled, dri=dri)
        except display.NoDisplayError as e:
            raise NoDisplayError(str(e), e.tried) from None
        if self.cfg.fullscreen:  # the screen's own size: open now, so a screen that cannot be used says so now
            try:
                self._open((0, 0))
            except OverlayError as e:  # e.g. a desktop already holds a KMS screen
                pygame.display.quit()
                tried = (*self.tried[:-1], display.Tried(self.tried[-1].driver, f"opened, but not full screen: {e}"))
                raise NoDisplayError(display.no_display_message(tried), tried) from None

    @property
    def size(self) -> tuple[int, int] | None:
        """The window's (w, h) once it is open."""
        return self._surface.get_size() if self._surface is not None else None

    def _open(self, frame_size: tuple[int, int]) -> None:
        pg, cfg = self._pg, self.cfg
        flags = 0
        size = (cfg.width or frame_size[0], cfg.height or frame_size[1])
        if cfg.fullscreen:
            flags = pg.FULLSCREEN
            size = (cfg.width, cfg.height)  # (0, 0): the screen's own size
        try:
            self._surface = pg.display.set_mode(size, flags)
        except pg.error as e:
            what = "full-screen" if size == (0, 0) else f"{size[0]}x{size[1]}"
            raise OverlayError(f"cannot open a {what} window ({e}): check the display and "
                               "SDL_VIDEODRIVER, or run headless") from None
        pg.display.set_caption(self.title)
        pg.mouse.set_visible(not cfg.fullscreen)
        log.info("overlay window %dx%d%s (%s)", *self._surface.get_size(), " fullscreen" if cfg.fullscreen else "",
                 pg.display.get_driver())

    def show_now_playing(self, t: float, mood: Mood | None, title: str, artist: str) -> None:
        """The now-playing view (no camera image) as of frame time ``t``; the screen is only redrawn
        when something on it changed."""
        pg = self._pg
        if self._surface is None:
            self._open(NOW_PLAYING_SIZE)
        if self._view is None:
            from edge.nowplaying import NowPlayingView

            self._view = NowPlayingView(pg)
        self._view.update(t, mood, title, artist)
        if self._view.draw(self._surface, t):
            pg.display.flip()

    def show(self, image_bgr: np.ndarray) -> None:
        """Put a BGR frame on screen, scaled to the window (aspect kept)."""
        pg = self._pg
        if self._surface is None:
            self._open((image_bgr.shape[1], image_bgr.shape[0]))
        image = np.ascontiguousarray(_letterbox(image_bgr, self._surface.get_size()))
        frame = pg.image.frombuffer(image.data, (image.shape[1], image.shape[0]), "BGR")
        self._surface.blit(frame, (0, 0))
        pg.display.flip()

    def poll_keys(self) -> list[str]:
        """Keys pressed since the last call, as names ('q', 'l', 's', ...); closing the window or Escape
        gives 'q'."""
        pg = self._pg
        keys = []
        for event in pg.event.get():
            if event.type == pg.QUIT:
                keys.append("q")
            elif event.type == pg.KEYDOWN:
                name = pg.key.name(event.key)
                keys.append("q" if name == "escape" else name)
        return keys

    def close(self) -> None:
        if self._surface is not None or self._pg.display.get_init():
            self._pg.display.quit()
        self._surface = None

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- recording -----------------------------------------------------------------------------------

class Recorder:
    """Annotated frames to an .mp4 (mp4v). Opens at the first frame unless ``size`` (w, h) is given;
    frames of another size are scaled to the first one's."""

    def __init__(self, path: Path | str, fps: float = 15.0, size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 15.0
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        if not self.path.parent.is_dir():
            raise OverlayError(f"cannot record to {self.path}: the folder {self.path.parent} does not exist")
        if size is not None:
            self._open(size)

    def _open(self, size: tuple[int, int]) -> None:
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
        if not writer.isOpened():
            writer.release()
            raise OverlayError(f"cannot record to {self.path}: check that the folder is writable and the name "
                               "ends in .mp4")
        self._writer, self._size = writer, size

    def write(self, image: np.ndarray) -> None:
        """Append one BGR frame."""
        if self._writer is None:
            self._open((image.shape[1], image.shape[0]))
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        self._writer.write(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("recorded %d frames to %s", self.frames, self.path)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
