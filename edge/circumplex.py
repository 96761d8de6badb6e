"""Where each emotion sits on the valence/arousal plane: a table, no imports, so the companion and the
music ranking can use it without the camera side's numpy."""

from __future__ import annotations

#: Each emotion's place in Russell's circumplex: (valence, arousal), both in [-1, 1].
#: Source: the pleasure (P) and arousal (A) factor scores of Russell & Mehrabian (1977), "Evidence
#: for a three-factor theory of emotions", J. Research in Personality 11, 273-294 (PAD scores of 151
#: emotion terms); their P x A plane is the circumplex of Russell (1980). Dominance is dropped. The
#: terms used: angry (-.51, .59), disgust (-.60, .35), fearful (-.64, .60), happy (.81, .51),
#: sad (-.63, -.27), surprised (.40, .67). "neutral" is not a term there: it is the origin of the
#: bipolar scales by construction (neither pleasant nor unpleasant, neither aroused nor sleepy).
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "angry": (-0.51, 0.59),
    "disgust": (-0.60, 0.35),
    "fear": (-0.64, 0.60),
    "happy": (0.81, 0.51),
    "neutral": (0.00, 0.00),
    "sad": (-0.63, -0.27),
    "surprise": (0.40, 0.67),
}
