"""Music settings' constants (placeholder in branch m2: M1's edge/music/config.py, with MusicConfig, replaces
this file; only the one copy of ``STRATEGIES`` is needed here)."""

#: How the recommender picks for a mood: "match" the room, or "uplift" sad/angry/fear towards brighter songs.
STRATEGIES = ("match", "uplift")
