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
library scans fast), and lists every other file it did not take, with why and what to do
(``Library.skipped``: a ``.m4a`` to convert, a ``.mp3`` that holds text, a ``notes.txt``), logged once.
Folders are walked without following links to folders (a link loop can't multiply songs or hang the
scan); a song reached twice (a link to a file) counts once, by its real path; a manifest glob stops
at ``MAX_MATCHES`` files with a warning. Choosing songs is ``edge.music.recommend.Recommender``'s job;
``edge.music.player.SongPicker`` is what the player needs of it.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import MoodplayerError
from edge.types import EMOTIONS

log = logging.getLogger(__name__)

#: File suffixes the player can play (SDL_mixer decodes them), matched case-insensitively.
AUDIO_SUFFIXES: tuple[str, ...] = (".ogg", ".mp3", ".wav", ".flac")

_MAKE_SONGS = "python songs/make_songs.py"

#: Sound formats the player does not play: listed as not taken, with the command that converts them.
OTHER_AUDIO: tuple[str, ...] = (".m4a", ".aac", ".opus", ".wma", ".alac", ".aif", ".aiff", ".ape", ".mp4",
                                ".mka", ".webm", ".ac3", ".wv", ".oga", ".mp2", ".amr")

#: The manifest's file name, in the library's root folder.
MANIFEST = "songs.toml"

#: The most files one manifest glob may match; more are left out with a warning.
MAX_MATCHES = 10_000


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


@dataclass(frozen=True)
class Skipped:
    """A file in the songs folder that is not taken as a song: ``why`` and what to do (``fix``)."""

    path: Path
    why: str
    fix: str

    def to_dict(self) -> dict:
        return {"path": str(self.path), "why": self.why, "fix": self.fix}

    def __str__(self) -> str:
        return f"{self.path}: {self.why}; {self.fix}"


def classify(path: Path) -> Skipped | None:
    """None if ``path`` is a song the player can take (by suffix and first bytes), else why not."""
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        if sniff(path) is not None:
            return None
        return Skipped(path, "not an audio file (its content is no OGG, MP3, WAV or FLAC)", "replace or delete it")
    if suffix in OTHER_AUDIO:
        return Skipped(path, f"{suffix[1:]}: not decodable here (the player takes {', '.join(AUDIO_SUFFIXES)})",
                       f"convert it: ffmpeg -i '{path.name}' '{path.stem}.ogg'")
    return Skipped(path, f"{suffix or 'no suffix'}: not audio", "nothing to do: it is ignored")


def walk(top: Path, depth: int | None = None) -> Iterator[Path]:
    """Every file under ``top`` (sorted, hidden names left out), without following links to folders
    (a link to a file is a file); ``depth`` = how many folder levels below ``top`` (None: all)."""
    for folder, dirs, files in os.walk(top, followlinks=False):
        here = Path(folder)
        level = len(here.relative_to(top).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (depth is None or level < depth))
        for name in sorted(files):
            if not name.startswith("."):
                yield here / name


def glob_files(pattern: Path, limit: int = MAX_MATCHES) -> tuple[list[Path], bool]:
    """The files ``pattern`` (absolute; ``*``, ``?``, ``[...]``, ``**`` for any folders) matches, sorted,
    found by ``walk`` (no folder links followed); at most ``limit`` (True as the second value when cut)."""
    parts = pattern.parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base, rest = Path(*parts[:fixed]), parts[fixed:]
    found: list[Path] = []
    if not base.is_dir():
        return found, False
    depth = None if "**" in rest else len(rest) - 1
    for path in walk(base, depth):
        if _match(path.relative_to(base).parts, rest):
            if len(found) >= limit:
                return found, True
            found.append(path)
    return found, False


def _match(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(parts[1:], pattern[1:])


class LibraryError(MoodplayerError, ValueError):
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
    """The songs of a folder. ``songs`` maps a mood to its labelled songs; ``entries`` (optional) lists
    every song, the unlabelled ones too, with where its labels came from (built from ``songs`` when not
    given); ``skipped`` the files not taken. ``fallback`` is the mood whose songs a chooser plays for a
    mood with none ("" = stay quiet)."""

    def __init__(self, root: str | Path, songs: Mapping[str, Sequence[Path]], fallback: str = "neutral",
                 entries: Sequence[Song] | None = None, skipped: Sequence[Skipped] = ()):
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
        self.skipped = tuple(skipped)

    @classmethod
    def scan(cls, root: str | Path, fallback: str = "neutral", *, elsewhere: str = "") -> Library:
        """Find the songs under ``root`` (mood folders, other folders, ``songs.toml``) and what is not
        taken (logged once); raises ``LibraryError`` if there's nothing to play. ``elsewhere``: where
        other songs come from (the music server's mood playlists): a missing or empty folder is then
        only logged."""
        root = Path(root)
        moods = ", ".join(EMOTIONS)
        if elsewhere and not root.is_dir():
            log.info("no songs folder %s: playing %s", root, elsewhere)
            return cls(root, {}, fallback, entries=[])
        if not root.is_dir():
            raise LibraryError(
                f"songs folder {root} not found: create it with one subfolder per mood "
                f"({root}/happy/, {root}/sad/, ...; moods: {moods}) or run {_MAKE_SONGS}"
            )
        found = _Found()
        unlabelled_dirs: list[str] = []
        for top in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
            if top.is_dir():
                mood = top.name.lower()
                labels = {mood: 1.0} if mood in EMOTIONS else {}
                if found.add_all(walk(top), labels, "folder" if labels else "") and not labels:
                    unlabelled_dirs.append(top.name)
            elif top.name != MANIFEST:
                found.add_all([top], {}, "")
        if unlabelled_dirs:
            log.info("songs in %s/{%s} have no mood folder: their mood comes from their sound "
                     "(mood folders: %s)", root, ",".join(unlabelled_dirs), moods)
        manifest = root / MANIFEST
        if manifest.is_file():
            _apply_manifest(manifest, root, found)
        entries = sorted(found.entries.values(), key=lambda e: e.path)
        _log_skipped(root, found.skipped)
        if not entries and elsewhere:
            log.info("songs folder %s holds no songs: playing %s", root, elsewhere)
        elif not entries:
            raise LibraryError(
                f"songs folder {root} has no audio files: put .ogg/.mp3/.wav/.flac files in "
                f"{root}/<mood>/ (moods: {moods}) or run {_MAKE_SONGS}"
            )
        songs: dict[str, list[Path]] = {}
        for entry in entries:
            for mood in entry.moods:
                songs.setdefault(mood, []).append(entry.path)
        missing = [m for m in EMOTIONS if m not in songs]
        if missing:
            log.info("no labelled songs for %s in %s", ", ".join(missing), root)
        log.info("song library %s: %d songs, %d labelled for %d moods", root, len(entries),
                 sum(bool(e.moods) for e in entries), len(songs))
        return cls(root, songs, fallback, entries=entries, skipped=found.skipped)

    def entries(self) -> tuple[Song, ...]:
        """Every song, labelled or not, sorted by path."""
        return self._entries

    def moods(self) -> tuple[str, ...]:
        """The moods that have labelled songs, sorted."""
        return tuple(sorted(self._songs))

    def songs(self, mood: str) -> list[Path]:
        """The songs labelled with ``mood`` (no fallback: that is the chooser's)."""
        return list(self._songs.get(mood, ()))

    def __len__(self) -> int:
        """How many labelled songs (a song labelled with two moods counts twice)."""
        return sum(len(paths) for paths in self._songs.values())


class _Found:
    """The songs and skipped files of one scan, each file once by its real path."""

    def __init__(self) -> None:
        self.entries: dict[Path, Song] = {}
        self.skipped: list[Skipped] = []
        self._real: dict[str, Song | None] = {}

    def add_all(self, paths: Iterator[Path] | Sequence[Path], moods: dict[str, float], source: str) -> bool:
        """Take the songs among ``paths``; True if there was at least one."""
        took = False
        for p in paths:
            took |= self.add(p, moods, source) is not None
        return took

    def add(self, path: Path, moods: dict[str, float], source: str) -> Song | None:
        """The song at ``path`` (added if new and playable; None, and listed as skipped, if not)."""
        if path in self.entries:
            return self.entries[path]
        real = os.path.realpath(path)
        if real in self._real:
            return self._real[real]  # the same file reached again (a link): it counts once
        problem = classify(path)
        if problem is not None:
            self.skipped.append(problem)
            song = None
        else:
            song = self.entries[path] = Song(path, dict(moods), source)
        self._real[real] = song
        return song


def _log_skipped(root: Path, skipped: Sequence[Skipped]) -> None:
    """One warning for the sound files not taken, one info line for the rest (the manifest's missing
    files were warned about as it was read)."""
    audio = [s for s in skipped if not s.why.endswith("not audio") and not s.why.startswith("named in")]
    if audio:
        shown = "\n  ".join(str(s) for s in audio[:20])
        more = f"\n  ... and {len(audio) - 20} more" if len(audio) > 20 else ""
        log.warning("songs folder %s: %d file%s not taken (python -m edge songs scan lists them all):\n  %s%s",
                    root, len(audio), "" if len(audio) == 1 else "s", shown, more)
    other = [s.path.name for s in skipped if s.why.endswith("not audio")]
    if other:
        log.info("songs folder %s: %d file%s that are not audio ignored (%s)", root, len(other),
                 "" if len(other) == 1 else "s", ", ".join(other)[:200])


def _apply_manifest(manifest: Path, root: Path, found: _Found) -> None:
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
            paths, cut = glob_files(pattern, MAX_MATCHES)
            paths = [p for p in paths if p.suffix.lower() in AUDIO_SUFFIXES]
            if cut:
                log.warning("%s: %s (%s) matches more than %d files: only the first %d are taken; narrow "
                            "the pattern", manifest, where, item["path"], MAX_MATCHES, MAX_MATCHES)
        else:
            paths = [pattern]
        if not paths:
            log.warning("%s: %s (%s) matches no audio file", manifest, where, item["path"])
        for p in paths:
            if p not in found.entries and not p.is_file():
                log.warning("%s: %s: %s does not exist", manifest, where, p)
                found.skipped.append(Skipped(p, f"named in {MANIFEST} but does not exist",
                                             f"fix its path in {manifest}"))
                continue
            song = found.add(p, {}, "")
            if song is None:
                continue
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
