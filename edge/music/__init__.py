"""Music that fits the room's mood.

``library`` (the songs: mood folders, unlabelled folders, a ``songs.toml`` manifest; and ``Picker``, a
plain shuffle), ``features`` (tempo, loudness, brightness, mode, timbre from an excerpt of each song;
cached), ``recommend`` (``Recommender``: the next song for a mood from labels, features and feedback),
``feedback`` (likes and skips in the state folder), ``config`` (``MusicConfig``, the constants),
``player`` (decides songs at frame time, plays them on its own thread through ``deck``), ``outputs``
(pygame's mixer or MPD), ``idle`` (when nobody has been seen for a while), ``cli`` (``python -m edge
songs``). Import the submodules directly: only ``outputs.mixer`` pulls in pygame. See docs/music.md.
"""
