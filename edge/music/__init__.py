"""Music that fits the room's mood.

``library`` (the songs: mood folders, unlabelled folders, a ``songs.toml`` manifest; and the files not
taken), ``features`` (tempo, loudness, brightness, mode, timbre from an excerpt of each song),
``analysis`` (the background analyser, its cache, which songs can be offered now), ``rank`` (pure
functions: pool, score, rotation), ``recommend`` (``Recommender``: the one chooser, composing those),
``feedback`` (likes and skips in the state folder), ``playlists`` (the MPD/Mopidy server's mood
playlists; songs known by URI), ``statefile`` (atomic writes, damaged files set aside), ``config``
(``MusicConfig``, the constants), ``player`` (decides songs at frame time, plays them on its own thread
through ``deck``), ``outputs`` (pygame's mixer or MPD), ``idle`` (when nobody has been seen for a while),
``cli`` (``python -m edge songs``). Import the submodules directly: only
``outputs.mixer`` pulls in pygame. See docs/music.md.
"""
