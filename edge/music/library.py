"""The song library, and a picker over it.

A library is a folder in either form, mixed freely:

- a folder per mood: ``songs/happy/*.ogg|mp3|wav|flac`` (album subfolders too; the folder name is
  matched case-insensitively). Songs in any other folder (``songs/unsorted/``, ``songs/Some Artist/``)
  or directly in ``songs/`` carry no mood label: their mood comes from their sound (see
  ``edge.music.recommend``).
- a manifest, ``songs/songs.toml`` (``MANIFEST``), that maps songs (paths relative to the library,
  absolute paths, or glob patterns) to moods, with optional weights::

      [[song]]
      path = "albums/Blue/*.flac"
      mood = "sad"

      [[song]]
      path = "/media/usb/sunshine.mp3"
      moods = { happy = 1.0, surprise = 0.5 }   # several moods, each with a weight

      [[song]]
      path = "unsorted/track07.ogg"              # no mood: the features decide
      weight = 2.0                               # ranked higher than its peers

      [moods]                                    # the short form: mood = [paths]
      neutral = ["calm/*.ogg"]

  A manifest label wins over the folder a song sits in.

``Library.scan(root)`` finds the songs once at start-up (files are sniffed, not decoded, so a big
library scans fast); ``Picker`` chooses the next song for a mood. ``SongPicker`` is the seam a smarter
chooser (``edge.music.recommend.Recommender``) plugs into: the player only ever calls ``next`` and
``discard``.
"""

from __future__ import annotations

import glob
import logging
import random
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from edge.types import EMOTIONS

log = logging.getLogger(__name__)

#: File suffixes the player can play (SDL_mixer decodes them), matched case-insensitively.
AUDIO_SUFFIXES: tuple[str, ...] = (".ogg", ".mp3", ".wav", ".flac")

_MAKE_SONGS = "python songs/make_songs.py"

#: The manifest's file name, in the library's root folder.
MANIFEST = "songs.toml"

#: Where a song's mood comes from: a mood folder, the manifest, or (for songs without either) its
#: features, which ``edge.music.recommend`` works out.
SOURCES = ("folder", "manifest", "features")


@dataclass
class Song:
    """One song of the library. ``moods`` maps the listener's labels to weights (empty: unlabelled);
    ``source`` says where they came from ("folder", "manifest", or "" when there are none);
    ``weight`` scales the song in the ranking (a manifest's ``weight``, default 1)."""

    path: Path
    moods: dict[str, float] = field(default_factory=dict)
    source: str = ""
    weight: float = 1.0

    @property
    def labelled(self) -> bool:
        return bool(self.moods)


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
    """Songs by mood. ``songs(mood)`` falls back to another mood's songs when a mood has none.

    ``songs`` maps a mood to its labelled songs; ``entries`` (optional) lists every song, the
    unlabelled ones too, with where its labels came from (built from ``songs`` when not given).
    """

    def __init__(self, root: str | Path, songs: Mapping[str, Sequence[Path]], fallback: str = "neutral",
                 entries: Sequence[Song] | None = None):
        self.root = Path(root)
        self.fallback = fallback
        self._songs = {mood: tuple(paths) for mood, paths in songs.items() if paths}
        if entries is None:
            by_path: dict[Path, Song] = {}
            for mood, paths in self._songs.items():
                for p in paths:
                    by_path.setdefault(p, Song(p, {}, "folder")).moods[mood] = 1.0
            entries = list(by_path.values())
        self._entries = tuple(entries)
        self._warned: set[str] = set()

    @classmethod
    def scan(cls, root: str | Path, fallback: str = "neutral") -> Library:
        """Find the songs under ``root`` (mood folders, other folders, ``songs.toml``); raises
        ``LibraryError`` if there's nothing to play.

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
        entries: dict[Path, Song] = {}
        unlabelled_dirs: list[str] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found = [p for p in sorted(folder.rglob("*")) if _is_song(p)]  # album subfolders too
            if not found:
                continue
            mood = folder.name.lower()
            if mood in EMOTIONS:
                for p in found:
                    entries[p] = Song(p, {mood: 1.0}, "folder")
            else:
                unlabelled_dirs.append(folder.name)
                for p in found:
                    entries[p] = Song(p)
        for p in sorted(root.iterdir()):
            if p.is_file() and _is_song(p):
                entries[p] = Song(p)
        if unlabelled_dirs:
            log.info("songs in %s/{%s} have no mood folder: their mood comes from their sound "
                     "(mood folders: %s)", root, ",".join(unlabelled_dirs), moods)
        manifest = root / MANIFEST
        if manifest.is_file():
            _apply_manifest(manifest, root, entries)
        labelled = [e for e in entries.values() if e.moods]
        if not entries:
            raise LibraryError(
                f"songs folder {root} has no audio files: put .ogg/.mp3/.wav/.flac files in "
                f"{root}/<mood>/ (moods: {moods}) or run {_MAKE_SONGS}"
            )
        songs: dict[str, list[Path]] = {}
        for entry in sorted(labelled, key=lambda e: e.path):
            for mood in entry.moods:
                songs.setdefault(mood, []).append(entry.path)
        missing = [m for m in EMOTIONS if m not in songs]
        if missing:
            log.info("no labelled songs for %s in %s", ", ".join(missing), root)
        library = cls(root, songs, fallback, entries=sorted(entries.values(), key=lambda e: e.path))
        log.info("song library %s: %d songs, %d labelled for %d moods", root, len(entries), len(labelled),
                 len(songs))
        return library

    def entries(self) -> tuple[Song, ...]:
        """Every song, labelled or not, sorted by path."""
        return self._entries

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
        """How many labelled songs (a song labelled with two moods counts twice)."""
        return sum(len(paths) for paths in self._songs.values())


def _is_song(path: Path, check_suffix: bool = True) -> bool:
    if check_suffix and (not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES
                         or path.name.startswith(".")):
        return False
    if sniff(path) is None:
        log.warning("skipping %s: not an audio file (its content is no OGG, MP3, WAV or FLAC); "
                    "replace or delete it", path)
        return False
    return True


def _apply_manifest(manifest: Path, root: Path, entries: dict[Path, Song]) -> None:
    """Label (or add) the songs ``manifest`` names; every problem is a warning naming the entry."""
    try:
        data = tomllib.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        log.warning("%s is unreadable (%s): it is ignored, the mood folders still count", manifest, e)
        return
    items: list[tuple[str, dict]] = []
    for key, value in data.items():
        if key in ("song", "songs") and isinstance(value, list):
            items += [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        elif key == "moods" and isinstance(value, dict):
            for mood, paths in value.items():
                for i, p in enumerate(paths if isinstance(paths, list) else [paths]):
                    items.append((f"moods.{mood}[{i}]", {"path": p, "mood": mood}))
        else:
            log.warning("%s: unknown entry %r (use [[song]] tables or a [moods] table)", manifest, key)
    for where, item in items:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            log.warning("%s: %s needs a path = \"...\"", manifest, where)
            continue
        moods = _manifest_moods(item, manifest, where)
        if moods is None:
            continue
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            log.warning("%s: %s has weight %r: it must be a number above 0; using 1", manifest, where, weight)
            weight = 1.0
        pattern = Path(item["path"]).expanduser()
        pattern = pattern if pattern.is_absolute() else root / pattern
        if glob.has_magic(str(pattern)):
            paths = [Path(p) for p in sorted(glob.glob(str(pattern), recursive=True))]
            paths = [p for p in paths if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
        else:
            paths = [pattern]
        if not paths:
            log.warning("%s: %s (%s) matches no audio file", manifest, where, item["path"])
        for p in paths:
            if p not in entries:
                if not p.is_file():
                    log.warning("%s: %s: %s does not exist", manifest, where, p)
                    continue
                if not _is_song(p, check_suffix=False):
                    continue
                entries[p] = Song(p)
            song = entries[p]
            if moods:
                if song.source == "folder" and set(song.moods) != set(moods):
                    log.info("%s: %s labels %s %s (its folder says %s)", manifest, where, p.name,
                             "/".join(moods), "/".join(song.moods))
                if song.source != "manifest":
                    song.moods = {}
                song.moods.update(moods)
                song.source = "manifest"
            song.weight = float(weight)


def _manifest_moods(item: dict, manifest: Path, where: str) -> dict[str, float] | None:
    """The moods of one manifest entry ({} for none), or None (with a warning) if they are wrong."""
    raw = item.get("moods", item.get("mood"))
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        raw = {raw: 1.0}
    elif isinstance(raw, list):
        raw = {m: 1.0 for m in raw}
    if not isinstance(raw, dict):
        log.warning("%s: %s has mood(s) %r: give a mood name, a list, or a {mood = weight} table",
                    manifest, where, raw)
        return None
    moods: dict[str, float] = {}
    for mood, w in raw.items():
        name = str(mood).lower()
        if name not in EMOTIONS:
            log.warning("%s: %s names mood %r, which is none of %s; the entry is ignored", manifest, where,
                        mood, ", ".join(EMOTIONS))
            return None
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w <= 0:
            log.warning("%s: %s gives mood %s the weight %r: it must be a number above 0", manifest, where,
                        name, w)
            return None
        moods[name] = float(w)
    return moods


class SongPicker(Protocol):
    """What the player needs from a song chooser; a recommender implements the same two methods."""

    def next(self, mood: str, point: tuple[float, float] | None = None) -> Path | None:
        """The song to play next for ``mood``, or None when there is none. ``point`` is the room's
        (valence, arousal), which a chooser may use to rank the mood's songs."""
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

    def next(self, mood: str, point: tuple[float, float] | None = None) -> Path | None:
        """The next song for ``mood`` (see the class docstring for the rules), or None if it has none.
        ``point`` is accepted for the ``SongPicker`` protocol and not used."""
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
