"""The recommender: which song next for a mood, from the listener's labels, the songs' sound and feedback.

``Recommender`` is the player's ``SongPicker`` (``next(mood, point)``, ``discard(path)``) and the
one chooser there is: it works from the moment it is built (labelled songs rank by their labels'
circumplex positions, with or without features) and gets better as the background analysis
(``edge.music.analysis.Analyser``, ``start``) learns the songs' sound. It composes the parts:
``Library`` (the songs), ``Analyser`` (features, and which songs can be offered now), ``FeedbackStore``
(likes and skips) and ``edge.music.rank`` (pool, score and rotation: the rules are documented there).
With the MPD output, a ``PlaylistWatcher`` (``edge.music.playlists``) adds the server's mood playlists
to the library while it runs. A pick is a ``Path`` (a file here) or a ``Uri`` (a song only the server
reaches). ``next`` reads no disk: the analysis thread keeps what it needs fresh.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from pathlib import Path

from edge.logonce import once
from edge.music import features as feats
from edge.music import rank
from edge.music.analysis import Analyser, Clock, FeatureCache, ScanReport, cache_path
from edge.music.config import STRATEGIES
from edge.music.feedback import FeedbackStore, state_dir
from edge.music.library import Library
from edge.music.playlists import PlaylistWatcher, SongRef, Uri, describe
from edge.music.rank import Point, Ranked

log = logging.getLogger(__name__)


class Recommender:
    """Picks songs for moods; thread-safe (the player, the web companion's commands and the analysis
    thread all call in).

    ``library``: the songs. ``strategy``: one of ``STRATEGIES`` (``set_strategy`` changes it at run
    time). ``store``: likes and skips (in memory if None). ``cache``: the feature cache (none if
    None). ``features``: analyse the songs' sound (False: labels only). ``seed``: for the ``explore``
    noise that varies near ties. ``analyse`` and ``clock`` go to the ``Analyser``. ``playlists``:
    the music server's mood playlists, read on their own thread from ``start`` on (None: none).
    """

    def __init__(self, library: Library, *, strategy: str = "match", store: FeedbackStore | None = None,
                 cache: FeatureCache | None = None, seed: int | None = None, explore: float = 0.05,
                 analyse: Callable[[Path], feats.Features] = feats.analyse, features: bool = True,
                 clock: Clock | None = None, playlists: PlaylistWatcher | None = None):
        self.library = library
        self.strategy = _checked(strategy)
        self.store = store if store is not None else FeedbackStore(None)
        self.explore = explore
        self.features_enabled = features
        self.playlists = playlists
        kw = {"clock": clock} if clock is not None else {}
        self.analysis = Analyser(library, cache, analyse=analyse, features=features, upkeep=self.store.refresh,
                                 **kw)
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._rotation = rank.Rotation()
        self._warned: set[str] = set()

    @classmethod
    def from_config(cls, config, *, root: str | Path | None = None, seed: int | None = None,
                    read_only: bool = False) -> Recommender:
        """The recommender a ``MusicConfig`` describes: its songs folder (or ``root``), strategy,
        feature cache, feedback store (``read_only``: never written) and, with the MPD output, the
        server's mood playlists. Raises ``LibraryError``."""
        watch = config.output == "mpd" and config.playlists
        elsewhere = f"the mood playlists of MPD at {config.mpd_host or 'localhost'}" if watch else ""
        library = Library.scan(root if root is not None else config.songs, fallback=config.fallback,
                               elsewhere=elsewhere)
        state = state_dir(config.state_dir)
        cache = FeatureCache(cache_path(library.root, state)) if config.features and library.root.is_dir() else None
        return cls(library, strategy=config.strategy, store=FeedbackStore(state / "feedback.json", read_only=read_only),
                   cache=cache, seed=seed, features=config.features,
                   playlists=PlaylistWatcher.from_config(config) if watch else None)

    # -- run time ------------------------------------------------------------------------------------

    def start(self, shutdown: threading.Event | None = None) -> None:
        """Start the background analysis (it analyses only when features are on, and keeps the trouble
        and the likes fresh in any case) and the playlists' reading; returns at once."""
        self.analysis.start(shutdown)
        if self.playlists is not None:
            self.playlists.start(self.analysis.take_playlists, shutdown)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the background threads (what was analysed stays cached)."""
        if self.playlists is not None:
            self.playlists.stop(timeout)
        self.analysis.stop(timeout)

    def scan(self, progress: Callable[[int, int, Path], None] | None = None) -> ScanReport:
        """Analyse the songs without features now, on this thread (``Analyser.scan``)."""
        return self.analysis.scan(progress)

    def set_strategy(self, name: str) -> None:
        """Switch to strategy ``name`` (one of ``STRATEGIES``; ValueError otherwise) from the next pick on."""
        name = _checked(name)
        with self._lock:
            if name != self.strategy:
                log.info("song strategy: %s -> %s", self.strategy, name)
            self.strategy = name

    # -- choosing -----------------------------------------------------------------------------------

    def rank(self, mood: str, point: Point | None = None) -> list[Ranked]:
        """Every candidate song for ``mood``, best first (no noise, nothing marked as played)."""
        with self._lock:
            return self._ranked(mood, point, self._rotation.step(mood))

    def next(self, mood: str, point: Point | None = None) -> SongRef | None:
        """The song to play next for ``mood`` (``point``: the room's valence and arousal), or None."""
        with self._lock:
            try:
                pick = self._rotation.choose(mood, self._ranked(mood, point, self._rotation.step(mood)),
                                             self.explore, self._rng)
                return pick.path if pick is not None else None
            except Exception:  # never let a ranking bug stop the music: fall back to the mood's songs
                once(log, self._warned, "choose-failed", "ranking songs failed; playing the mood's songs in order",
                           exc_info=True)
                songs = [s.path for s in self.analysis.songs_for(mood) if s.path != self._rotation.last]
                self._rotation.last = songs[0] if songs else self._rotation.last
                return songs[0] if songs else None

    def plan(self, mood: str, n: int, point: Point | None = None) -> list[Ranked]:
        """The next ``n`` songs ``next`` would pick for ``mood`` from now, without the noise and
        without changing anything (the CLI's ``songs recommend``)."""
        with self._lock:
            rotation, picks = self._rotation.copy(), []
            for _ in range(n):
                pick = rotation.choose(mood, self._ranked(mood, point, rotation.step(mood)), 0.0, self._rng)
                if pick is None:
                    break
                picks.append(pick)
            return picks

    def _ranked(self, mood: str, point: Point | None, step: int) -> list[Ranked]:
        songs = self.analysis.playable()
        pool, found_as = rank.pool(songs, mood, self.strategy, self.library.fallback)
        if not pool and rank.pool(self.analysis.states(), mood, self.strategy, self.library.fallback)[0]:
            once(log, self._warned, f"away:{mood}", "the songs for mood %r can't be read now (see above): quiet "
                 "until they come back", mood)
        elif found_as != mood or not pool:
            once(log, self._warned, f"nothing:{mood}", "no songs for mood %r (add some to %s/): %s", mood,
                       self.library.root / mood, f"playing {found_as!r} songs instead" if pool
                       else "staying quiet for it")
        if not pool:
            return []
        aim = rank.target(mood, point, step, self.strategy)
        return rank.rank(pool, [s for s in songs if s.vector is not None], mood, found_as, aim,
                         self.store.snapshot())

    def describe(self, song: SongRef) -> tuple[str | None, str | None]:
        """(title, artist) of ``song`` from what is known in memory: the server's tags for a URI, the
        file's tags the analysis thread read; (None, None) when none are known. No disk."""
        if isinstance(song, Uri):
            return describe(song)
        state = self.analysis.state(song)
        tags = state.tags if state is not None else {}
        return tags.get("title") or None, tags.get("artist") or None

    def discard(self, path: SongRef) -> None:
        """``path`` would not play: leave it out for a while when the file is missing or unreadable
        (a USB stick remounting) or it is a URI the server could not play now, or until it changes when
        it does not decode (``Analyser.trouble``)."""
        self.analysis.trouble(path if isinstance(path, Uri) else Path(path))

    # -- feedback ---------------------------------------------------------------------------------

    def feedback(self, kind: str, mood: str, path: SongRef) -> None:
        """Record a like or a skip (the player's ``on_feedback`` signature); it shifts later picks. A
        ``Uri`` is kept under its URI."""
        self.store.record(kind, path, mood)
        log.info("%s %s (%s)", "liked" if kind == "like" else "skipped", path.name, mood)

def _checked(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(f"music.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    return strategy
