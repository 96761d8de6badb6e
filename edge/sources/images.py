"""Still images: one image file (once, or repeated with ``loop``), or a folder of them in name order."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np

from edge.sources.base import Source, SourceConfig, SourceError, as_bgr8, is_camera_spec
from edge.types import Frame

log = logging.getLogger(__name__)

#: File endings read as images (anything else is tried as a video).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")


def read_image(path: Path | str) -> np.ndarray | None:
    """An image file as HxWx3 uint8 BGR (gray, 16-bit and alpha converted, EXIF rotation applied), or
    None if it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # always 8-bit, 3 channels
    return None if image is None else as_bgr8(image)


#: What to ask about an image file that does not decode.
IMAGE_HINT = "is it a JPEG/PNG/BMP/TIFF/WebP file?"


def list_images(folder: Path | str) -> list[Path]:
    """The image files of ``folder`` (by ending, not recursive) in natural name order; ``SourceError``
    when there are none."""
    folder = Path(folder)
    paths = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural)
    if not paths:
        raise SourceError(f"no images in folder {folder} (looked for {' '.join(IMAGE_SUFFIXES)}): "
                          "pass a folder of images, a video or a camera")
    return paths


def still_paths(spec: str) -> list[Path] | None:
    """The photos a source spec names, as ``open_source`` reads it: ``[file]`` for an image file, a
    folder's images (``list_images``); None for anything else (a camera, a video, a missing path)."""
    spec = spec.strip()
    if is_camera_spec(spec):  # as open_source reads it: a camera, even if a file is so named
        return None
    path = Path(spec).expanduser()
    if path.is_dir():
        return list_images(path)
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return [path]
    return None


def _natural(path: Path) -> list:
    """Sort key: frame2.png before frame10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageSource(Source):
    """One image: yielded once, or again and again with ``loop`` (``t = index / fps``)."""

    def __init__(self, path: Path | str, cfg: SourceConfig) -> None:
        super().__init__(cfg.realtime)
        self.path = Path(path)
        self.name = str(self.path)
        self.fps = cfg.fps
        self._loop = cfg.loop
        self._image = read_image(self.path)
        if self._image is None:
            raise SourceError(f"cannot read image {self.path}: {IMAGE_HINT}")
        self._index = 0

    def read(self) -> Frame | None:
        if self._closed or (self._index > 0 and not self._loop):
            return None
        frame = Frame(self._image, self._index / self.fps, self._index)
        self._index += 1
        return frame


class FolderSource(Source):
    """The images of a folder in natural name order, ``t = index / fps``; unreadable files are skipped."""

    def __init__(self, folder: Path | str, cfg: SourceConfig) -> None:
        super().__init__(cfg.realtime)
        self.folder = Path(folder)
        self.name = str(self.folder)
        self.fps = cfg.fps
        self._loop = cfg.loop
        self.paths = list_images(self.folder)
        self._pos = 0  # next path
        self._index = 0  # next frame
        self._misses = 0  # unreadable files in a row

    def read(self) -> Frame | None:
        while not self._closed:
            if self._pos >= len(self.paths):
                if not self._loop or self._index == 0:
                    return None
                self._pos = 0
            path = self.paths[self._pos]
            self._pos += 1
            image = read_image(path)
            if image is None:
                log.warning("skipping %s: not a readable image", path)
                self._misses += 1
                if self._misses > len(self.paths):
                    return None
                continue
            self._misses = 0
            frame = Frame(image, self._index / self.fps, self._index)
            self._index += 1
            return frame
        return None
