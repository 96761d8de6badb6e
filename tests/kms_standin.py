"""STAND-IN: pygame on SDL's kmsdrm video driver, as on a Raspberry Pi console with or without a screen.

The real part cannot exist here (no /dev/dri, no HDMI connector), so this covers exactly what
``edge.display.open_display`` and ``edge.overlay.Window`` call on ``pygame.display`` and ``pygame.mouse``,
behaving as SDL 2.26/2.28 does (src/video/kmsdrm/SDL_kmsdrmvideo.c, src/video/SDL_video.c):

- ``display.init()`` with ``SDL_VIDEODRIVER=kmsdrm``: the driver is only created when some
  ``/dev/dri/cardN`` has a connector with ``connection == DRM_MODE_CONNECTED`` and at least one mode
  (``check_modesetting`` / ``get_driindex``); otherwise SDL_VideoInit fails with ``"kmsdrm not available"``.
  Any other driver name: ``"<name> not available"`` (none of them exists on a Pi console).
- ``display.get_driver()``: ``"KMSDRM"`` (SDL 2.26's ``KMSDRM_DRIVER_NAME``; SDL 2.28 says ``"kmsdrm"``).
- ``display.set_mode((0, 0), FULLSCREEN)``: the connector's preferred mode, as a real pygame ``Surface``
  (so what is drawn can be read back); ``display.flip()`` counts the page flips.

Everything else (fonts, drawing, surfaces, events, ``error``) is the real pygame. It records what it
was asked: ``asked`` (``$SDL_VIDEODRIVER`` at each ``display.init``), ``modes`` (size, flags),
``mouse_visible``.
"""

from __future__ import annotations

import os

import pygame as real


class _Display:
    def __init__(self, owner: KmsStandIn) -> None:
        self._o = owner
        self._inited = False
        self._surface: real.Surface | None = None

    def init(self) -> None:
        name = os.environ.get("SDL_VIDEODRIVER", "")
        self._o.asked.append(name)
        if name.lower() != "kmsdrm" or self._o.screen is None:
            raise real.error(f"{name or 'kmsdrm'} not available")
        self._inited = True

    def quit(self) -> None:
        self._inited = False
        self._surface = None

    def get_init(self) -> bool:
        return self._inited

    def get_driver(self) -> str:
        if not self._inited:
            raise real.error("video system not initialized")
        return "KMSDRM"

    def set_mode(self, size=(0, 0), flags=0):
        if not self._inited:
            raise real.error("video system not initialized")
        if self._o.taken:
            raise real.error("Could not set videomode on CRTC.")
        screen = self._o.screen
        assert screen is not None
        w, h = size
        size = screen if (flags & real.FULLSCREEN) or (w, h) == (0, 0) else (w, h)
        self._o.modes.append((size, flags))
        self._surface = real.Surface(size)
        return self._surface

    def get_surface(self):
        return self._surface

    def set_caption(self, title: str) -> None:
        self._o.caption = title

    def flip(self) -> None:
        self._o.flips += 1

    def Info(self):  # noqa: N802 (pygame's name)
        class _Info:
            current_w, current_h = self._o.screen or (-1, -1)

        return _Info()


class _Mouse:
    def __init__(self, owner: KmsStandIn) -> None:
        self._o = owner

    def set_visible(self, visible: bool) -> bool:
        self._o.mouse_visible = bool(visible)
        return True


class KmsStandIn:
    """``pygame`` with the kmsdrm driver; ``screen``: the connected screen's preferred mode (w, h), or None
    for no screen connected (or one that was off when the kernel probed the connector)."""

    def __init__(self, screen: tuple[int, int] | None = (1920, 1080), taken: bool = False) -> None:
        self.screen = screen
        self.taken = taken
        self.asked: list[str] = []
        self.modes: list[tuple[tuple[int, int], int]] = []
        self.mouse_visible = True
        self.caption = ""
        self.flips = 0
        self.display = _Display(self)
        self.mouse = _Mouse(self)

    def __getattr__(self, name: str):
        return getattr(real, name)  # fonts, draw, Surface, event, key, error, FULLSCREEN: the real pygame


#: The video drivers of Debian bookworm's libSDL2 2.26.5 (Raspberry Pi OS bookworm ships the same version), as
#: SDL_GetVideoDriver lists them (read here from Debian's amd64 build; tests/test_display.py checks it).
PI_OS_SDL_DRIVERS = ("x11", "wayland", "kmsdrm", "offscreen", "dummy", "evdev")
