"""The song library: a folder with one subfolder of audio files per mood, and a picker over it.

``Library.scan(root)`` finds the songs once at start-up (files are sniffed, not decoded, so a big
library scans fast); ``Picker`` chooses the next song for a mood. ``SongPicker`` is the seam a smarter
chooser (a feature-based recommender) plugs into: the player only ever calls ``next`` and ``discard``.
"""

from __future__ import annotations

import logging
import random
import threading
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from edge.types import EMOTIONS

log = logging.getLogger(__name__)

#: File suffixes the player can play (SDL_mixer decodes them), matched case-insensitively.
AUDIO_SUFFIXES: tuple[str, ...] = (".ogg", ".mp3", ".wav", ".flac")

_MAKE_SONGS = "python songs/make_songs.py"


class LibraryError(ValueError):
    """The songs folder is missing or holds nothing playable; the message says what to do."""


def sniff(path: Path) -> str | None:
    """The audio container a file's first bytes announce (ogg, mp3, wav, flac), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


class Library:
    """Songs by mood. ``songs(mood)`` falls back to another mood's songs when a mood has none."""

    def __init__(self, root: str | Path, songs: Mapping[str, Sequence[Path]], fallback: str = "neutral"):
        self.root = Path(root)
        self.fallback = fallback
        self._songs = {mood: tuple(paths) for mood, paths in songs.items() if paths}
        self._warned: set[str] = set()

    @classmethod
    def scan(cls, root: str | Path, fallback: str = "neutral") -> Library:
        """Find ``root/<mood>/**/*.ogg|mp3|wav|flac``; raises ``LibraryError`` if there's nothing to play.

        Files with an audio suffix whose content isn't audio are skipped with a warning; other files
        (READMEs, cover art) are ignored. ``fallback`` is the mood whose songs stand in for a mood
        with none ("" = stay quiet).
        """
        root = Path(root)
        moods = ", ".join(EMOTIONS)
        if not root.is_dir():
            raise LibraryError(
                f"songs folder {root} not found: create it with one subfolder per mood "
                f"({root}/happy/, {root}/sad/, ...; moods: {moods}) or run {_MAKE_SONGS}"
            )
        songs: dict[str, list[Path]] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found = [p for p in sorted(folder.rglob("*")) if _is_song(p)]  # album subfolders too
            if not found:
                continue
            if folder.name not in EMOTIONS:
                log.warning("songs folder %s is not a mood (moods: %s): its songs play only if that name "
                            "is requested", folder, moods)
            songs[folder.name] = found
        loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
        if loose:
            log.warning("%d audio file(s) directly in %s are ignored: move them into %s/<mood>/",
                        len(loose), root, root)
        if not songs:
            raise LibraryError(
                f"songs folder {root} has no audio files: put .ogg/.mp3/.wav/.flac files in "
                f"{root}/<mood>/ (moods: {moods}) or run {_MAKE_SONGS}"
            )
        missing = [m for m in EMOTIONS if m not in songs]
        if missing:
            log.info("no songs for %s in %s", ", ".join(missing), root)
        library = cls(root, songs, fallback)
        log.info("song library %s: %d songs for %d moods", root, len(library), len(songs))
        return library

    def moods(self) -> tuple[str, ...]:
        """The moods that have songs of their own, sorted."""
        return tuple(sorted(self._songs))

    def songs(self, mood: str) -> list[Path]:
        """The mood's songs; the fallback mood's if it has none (logged once); else an empty list."""
        if mood in self._songs:
            return list(self._songs[mood])
        borrowed = self._songs.get(self.fallback, ()) if self.fallback else ()
        if mood not in self._warned:
            self._warned.add(mood)
            folder = self.root / mood
            if borrowed:
                log.warning("no songs for mood %r (add some to %s/): playing %r songs instead",
                            mood, folder, self.fallback)
            else:
                log.warning("no songs for mood %r (add some to %s/): staying quiet for it", mood, folder)
        return list(borrowed)

    def __len__(self) -> int:
        return sum(len(paths) for paths in self._songs.values())


def _is_song(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES or path.name.startswith("."):
        return False
    if sniff(path) is None:
        log.warning("skipping %s: not an audio file (its content is no OGG, MP3, WAV or FLAC); "
                    "replace or delete it", path)
        return False
    return True


class SongPicker(Protocol):
    """What the player needs from a song chooser; a recommender implements the same two methods."""

    def next(self, mood: str) -> Path | None:
        """The song to play next for ``mood``, or None when there is none."""
        ...

    def discard(self, path: Path) -> None:
        """Never offer ``path`` again (it would not play)."""
        ...


class Picker:
    """Shuffled rotation per mood: every song once before any repeats, never the same twice in a row.

    The one exception to "never twice in a row" is a mood with a single song, which then repeats.
    ``seed`` makes the order reproducible; None shuffles differently each run.
    """

    def __init__(self, library: Library, seed: int | None = None):
        self.library = library
        self._rng = random.Random(seed)
        self._queues: dict[str, list[Path]] = {}
        self._discarded: set[Path] = set()
        self._last: Path | None = None
        self._lock = threading.Lock()

    def next(self, mood: str) -> Path | None:
        """The next song for ``mood`` (see the class docstring for the rules), or None if it has none."""
        with self._lock:
            songs = [p for p in self.library.songs(mood) if p not in self._discarded]
            if not songs:
                return None
            queue = [p for p in self._queues.get(mood, []) if p in songs]
            if queue and queue[0] == self._last and len(queue) > 1:
                queue[0], queue[1] = queue[1], queue[0]
            if not queue or (queue[0] == self._last and len(songs) > 1):
                queue = self._shuffled(songs)
            self._last = queue.pop(0)
            self._queues[mood] = queue
            return self._last

    def discard(self, path: Path) -> None:
        """Drop ``path`` from every mood's rotation for the rest of the run."""
        with self._lock:
            self._discarded.add(path)

    def _shuffled(self, songs: list[Path]) -> list[Path]:
        order = list(songs)
        self._rng.shuffle(order)
        if len(order) > 1 and order[0] == self._last:
            order.append(order.pop(0))
        return order
