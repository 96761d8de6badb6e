"""The now-playing view (``overlay.view = "now-playing"``): what a room reads from the sofa, three metres
from a TV. It is never given the camera image, so none of it can reach the screen.

It shows the room's mood as a word on a dark tint of the mood's colour, "uncertain" or "nobody here"
under it when that is the state, the song's title and artist from its tags, and a small dot on the
valence/arousal plane (right: pleasant, up: aroused) in the bottom right corner.

Sizes, for a W x H screen and a margin m = 5% of min(W, H): the mood word's line is 0.22 H tall, shrunk
to fit W - 2m (its letters stay above H / 10 on a portrait screen too); the status line 0.06 H, the title
0.085 H, the artist 0.06 H (never above the title's), each shrunk to fit, down to half its size, then
cut with "...". The lines are stacked, 0.03 H under the word and 0.01 H apart, and centred on 0.42 H; the dot's square is 0.16 min(W, H) in the bottom right corner, inside m.

A new song or a new mood word fades on frame time (``fade``): the old scene's text fades out over the
first half of ``FADE_S``, the new one's in over the second half, and the tint crosses over the whole,
in 2 x ``FADE_LEVELS`` steps: the screen is redrawn that often for a fade (copying a 4K screen to the
display costs tens of ms), and never for a frame that would look the same.

``layout`` and ``fade`` are pure (``layout`` measures text with the ``measure`` it is given: pygame's
font); ``NowPlayingView`` draws on a pygame surface and only when something visible changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.types import UNCERTAIN, Mood

FADE_S = 1.0  # seconds of frame time for a change of song or mood word
FADE_LEVELS = 4  # steps per half of a fade: 2 x 4 redraws, not one per camera frame
MARGIN = 0.05  # of min(W, H)
WORD_H, STATUS_H, TITLE_H, ARTIST_H = 0.22, 0.06, 0.085, 0.06  # line heights, of H
GAP = 0.03  # of H: under the mood word (a third of it between the other lines)
CENTRE = 0.42  # the stack's centre, of H
DOT_BOX = 0.16  # the valence/arousal square's side, of min(W, H)
MIN_SHARE = 0.5  # a title or artist may shrink to half its size before it is cut
NOBODY = "nobody here"

#: RGB per mood (the camera view's colours, edge.overlay.COLORS, in RGB order); others are gray.
MOOD_RGB: dict[str, tuple[int, int, int]] = {
    "angry": (230, 40, 40), "disgust": (40, 140, 40), "fear": (150, 60, 170), "happy": (255, 210, 0),
    "neutral": (200, 200, 200), "sad": (40, 120, 200), "surprise": (255, 140, 0), UNCERTAIN: (150, 150, 150),
}
GRAY = (160, 160, 160)
WHITE = (240, 240, 240)
TINT = 0.16  # the background: the mood's colour at this brightness

Measure = Callable[[str, int], tuple[int, int]]  # (text, font size) -> rendered (w, h)
Rect = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Scene:
    """What the view shows. ``word``: the mood (or, before any, the state); ``status``: "uncertain",
    "nobody here" or ""; ``color``: RGB."""

    word: str
    color: tuple[int, int, int]
    status: str = ""
    title: str = ""
    artist: str = ""
    valence: float = 0.0
    arousal: float = 0.0


def scene_for(mood: Mood | None, held: str, title: str, artist: str) -> Scene:
    """The scene for the room's ``mood``; ``held`` is the last certain mood ("" before any), which stays
    the word while the room reads uncertain (the music keeps following it)."""
    if mood is None:
        return Scene(UNCERTAIN, MOOD_RGB[UNCERTAIN], "", title, artist)
    status = NOBODY if mood.faces == 0 else (UNCERTAIN if mood.label == UNCERTAIN else "")
    word = mood.label if mood.label != UNCERTAIN else (held or status or UNCERTAIN)
    return Scene(word, MOOD_RGB.get(word, GRAY), "" if status == word else status, title, artist,
                 mood.valence, mood.arousal)


@dataclass(frozen=True)
class Block:
    """A line of text as laid out: the text (perhaps cut), its font size and its rectangle."""

    text: str
    size: int
    rect: Rect


@dataclass(frozen=True)
class Layout:
    word: Block
    lines: tuple[Block, ...]  # status, title, artist: those that are not empty
    dot_box: Rect  # the valence/arousal square


def fit(text: str, line_h: float, max_w: int, measure: Measure, min_share: float = 0.0) -> tuple[str, int]:
    """The font size whose line is about ``line_h`` px tall and at most ``max_w`` wide, but not below
    ``min_share`` of the first; text still too wide at that is cut with "...". Returns (text, size)."""
    w100, h100 = measure(text, 100)
    want = max(1, int(100 * line_h / max(1, h100)))
    floor = max(1, int(want * min_share))
    size = want
    if measure(text, size)[0] > max_w:
        size = max(floor, min(want, int(100 * max_w / max(1, w100))))
        while size > floor and measure(text, size)[0] > max_w:
            size -= 1
    cut = text
    while measure(cut, size)[0] > max_w and len(cut) > 1:
        cut = cut[:-4].rstrip() + "..." if len(cut) > 4 else cut[:-1]
    return cut, size


def layout(size: tuple[int, int], scene: Scene, measure: Measure) -> Layout:
    """Where the text and the dot's square go on a ``size`` (W, H) screen; all of it inside the screen."""
    W, H = size
    m = int(MARGIN * min(W, H))
    max_w = W - 2 * m
    sized = [fit(scene.word.capitalize(), WORD_H * H, max_w, measure)]
    for text, share in ((scene.status, STATUS_H), (scene.title, TITLE_H), (scene.artist, ARTIST_H)):
        if text:
            sized.append(fit(text, share * H, max_w, measure, MIN_SHARE))
    if scene.title and scene.artist and sized[-1][1] > sized[-2][1]:  # the artist never above the title's size
        sized[-1] = fit(scene.artist, measure(scene.title, sized[-2][1])[1], max_w, measure, MIN_SHARE)
    dims = [measure(text, s) for text, s in sized]
    gaps = ([int(GAP * H)] + [int(GAP * H / 3)] * len(sized))[:len(sized) - 1] + [0]
    total = sum(h for _, h in dims) + sum(gaps)
    y = min(max(m, int(CENTRE * H - total / 2)), max(m, H - m - total))
    blocks = []
    for (text, s), (w, h), gap in zip(sized, dims, gaps):
        blocks.append(Block(text, s, ((W - w) // 2, y, w, h)))
        y += h + gap
    side = int(DOT_BOX * min(W, H))
    return Layout(blocks[0], tuple(blocks[1:]), (W - m - side, H - m - side, side, side))


def dot_at(box: Rect, valence: float, arousal: float) -> tuple[tuple[int, int], int]:
    """The valence/arousal dot's centre and radius in its square (each axis clipped to [-1, 1])."""
    x, y, side, _ = box
    r = max(2, side // 14)
    half = side // 2 - r
    cx = x + side // 2 + int(round(max(-1.0, min(1.0, valence)) * half))
    cy = y + side // 2 - int(round(max(-1.0, min(1.0, arousal)) * half))
    return (cx, cy), r


def fade(t: float, t0: float | None, duration: float = FADE_S) -> tuple[float, float, float]:
    """(old text's opacity, new text's opacity, tint mix towards the new) at frame time ``t`` for a
    change at ``t0`` (None: no change yet)::

        p = (t - t0) / duration;  old = max(0, 1 - 2p);  new = min(1, max(0, 2p - 1));  mix = min(1, p)
    """
    if t0 is None or duration <= 0:
        return 0.0, 1.0, 1.0
    p = max(0.0, (t - t0) / duration)
    return max(0.0, 1.0 - 2.0 * p), min(1.0, max(0.0, 2.0 * p - 1.0)), min(1.0, p)


def _mix(a: tuple[int, ...], b: tuple[int, ...], k: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * k)) for x, y in zip(a, b))  # type: ignore[return-value]


def tint(color: tuple[int, int, int]) -> tuple[int, int, int]:
    return _mix((0, 0, 0), color, TINT)


def title_from_name(path: str | Path) -> str:
    """A title made from a song's file (or URI) name: ``red_line.ogg`` -> "red line"."""
    return Path(str(path)).stem.replace("_", " ").replace("-", " ")


class NowPlayingView:
    """Draws ``Scene``s on a pygame surface, fading between songs and mood words on frame time."""

    def __init__(self, pg: Any) -> None:
        self._pg = pg
        pg.font.init()
        self._fonts: dict[int, Any] = {}
        self._layouts: dict[tuple, Layout] = {}
        self._held = ""  # the last certain mood
        self._scene: Scene | None = None
        self._old: Scene | None = None
        self._t0: float | None = None
        self._drawn: tuple | None = None

    def font(self, size: int) -> Any:
        if size not in self._fonts:
            self._fonts[size] = self._pg.font.Font(None, size)
        return self._fonts[size]

    def measure(self, text: str, size: int) -> tuple[int, int]:
        return self.font(size).size(text)

    def update(self, t: float, mood: Mood | None, title: str, artist: str) -> Scene:
        """The room's state at frame time ``t``; a new word, title or artist starts a fade."""
        if mood is not None and mood.label != UNCERTAIN:
            self._held = mood.label
        scene = scene_for(mood, self._held, title, artist)
        old = self._scene
        if old is not None and (old.word, old.title, old.artist) != (scene.word, scene.title, scene.artist):
            self._old, self._t0 = old, t
        self._scene = scene
        return scene

    def layout(self, size: tuple[int, int], scene: Scene) -> Layout:
        """``layout`` for this view's font, remembered per size and texts (fonts load from disk once)."""
        key = (size, scene.word, scene.status, scene.title, scene.artist)
        if key not in self._layouts:
            if len(self._layouts) > 16:
                self._layouts.clear()
            self._layouts[key] = layout(size, scene, self.measure)
        return self._layouts[key]

    def draw(self, surface: Any, t: float) -> bool:
        """Draw the scene as of frame time ``t``; False (nothing drawn) when it would look the same."""
        scene = self._scene
        if scene is None:
            return False
        if self._t0 is not None:  # whole steps of the fade only, so the screen changes 2 x FADE_LEVELS times
            step = FADE_S / (2 * FADE_LEVELS)
            t = self._t0 + min(FADE_S, round(max(0.0, t - self._t0) / step) * step)
        old_a, new_a, mix = fade(t, self._t0)
        old = self._old if old_a > 0 or mix < 1 else None
        size = surface.get_size()
        lay = self.layout(size, scene)
        dot, r = dot_at(lay.dot_box, scene.valence, scene.arousal)
        bg = tint(scene.color) if old is None else _mix(tint(old.color), tint(scene.color), mix)
        key = (size, scene.word, scene.status, scene.title, scene.artist, dot, old, bg, old_a, new_a)
        if key == self._drawn:
            return False
        self._drawn = key
        surface.fill(bg)
        if old is not None and old_a > 0:
            self._text(surface, self.layout(size, old), old, old_a, bg)
        self._text(surface, lay, scene, new_a, bg)
        self._dot(surface, lay.dot_box, dot, r, scene.color)
        return True

    def _text(self, surface: Any, lay: Layout, scene: Scene, alpha: float, bg: tuple[int, int, int]) -> None:
        if alpha <= 0:
            return
        colors = [scene.color] + [GRAY if b.text == scene.status else WHITE for b in lay.lines]
        for block, color in zip((lay.word,) + lay.lines, colors):
            image = self.font(block.size).render(block.text, True, _mix(bg, color, alpha), bg)
            surface.blit(image, block.rect[:2])

    def _dot(self, surface: Any, box: Rect, dot: tuple[int, int], r: int, color: tuple[int, int, int]) -> None:
        pg = self._pg
        x, y, s, _ = box
        axis = (90, 90, 90)
        pg.draw.rect(surface, axis, (x, y, s, s), max(1, s // 80))
        pg.draw.line(surface, axis, (x, y + s // 2), (x + s - 1, y + s // 2), max(1, s // 80))
        pg.draw.line(surface, axis, (x + s // 2, y), (x + s // 2, y + s - 1), max(1, s // 80))
        pg.draw.circle(surface, color, dot, r)
