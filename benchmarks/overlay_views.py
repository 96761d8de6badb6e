"""What the overlay's two views cost the camera loop per frame, on SDL's offscreen driver (no GPU, no
screen: the drawing and the copy to the window, not the scan-out).

    python -m benchmarks.overlay_views [--frames 60]

For each screen size it prints: the now-playing view through a whole song change (one ``FADE_S`` of
frames at 30 FPS: total ms, and how many frames were redrawn), the now-playing view when nothing changes
(ms/frame), and the camera view (a 640x480 frame drawn and scaled to the screen, ms/frame).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overlay_views", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per measurement (default 60)")
    args = parser.parse_args(argv)
    os.environ["SDL_VIDEODRIVER"] = "offscreen"
    os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
    import pygame

    from edge.nowplaying import FADE_S
    from edge.overlay import OverlayConfig, Window, draw
    from edge.types import Mood

    happy = Mood("happy", 0.8, 0.0, 1, valence=0.5, arousal=0.3)
    sad = Mood("sad", 0.8, 0.0, 1, valence=-0.5, arousal=-0.3)
    image = np.full((480, 640, 3), 60, np.uint8)
    print(f"pygame {pygame.version.ver}, SDL {'.'.join(map(str, pygame.get_sdl_version()))}, offscreen driver")
    for size in ((1280, 720), (1920, 1080), (3840, 2160), (1080, 1920)):
        window = Window(OverlayConfig(width=size[0], height=size[1], view="now-playing"))
        window.show_now_playing(0.0, happy, "Song One", "Artist One")
        flips = pygame.display.flip
        count = [0]

        def counted(count: list[int] = count, flips=flips) -> None:
            count[0] += 1
            flips()

        pygame.display.flip = counted
        n = int(FADE_S * 30) + 1
        t = time.perf_counter()
        for i in range(n):  # a song change at frame time 1 s, then a fade's worth of frames at 30 FPS
            window.show_now_playing(1.0 + i / 30, sad, "Song Two", "Artist Two")
        fade_ms = 1000 * (time.perf_counter() - t)
        redraws = count[0]
        t = time.perf_counter()
        for i in range(args.frames):
            window.show_now_playing(5.0 + i / 30, sad, "Song Two", "Artist Two")
        steady_ms = 1000 * (time.perf_counter() - t) / args.frames
        pygame.display.flip = flips
        window.close()
        window = Window(OverlayConfig(width=size[0], height=size[1]))
        t = time.perf_counter()
        for _ in range(args.frames):
            window.show(draw(image, [], [], happy, "song.ogg", 30.0))
        camera_ms = 1000 * (time.perf_counter() - t) / args.frames
        window.close()
        print(f"{size[0]}x{size[1]}: now-playing song change {fade_ms:.0f} ms over {n} frames ({redraws} redrawn), "
              f"steady {steady_ms:.3f} ms/frame; camera view {camera_ms:.1f} ms/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
