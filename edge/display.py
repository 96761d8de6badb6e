"""Which screen the overlay opens, chosen here rather than left to SDL's guess.

Left alone, SDL tries every video driver it was built with and settles on whatever starts: on a
machine without a screen that is the ``offscreen`` driver, which draws into memory and shows nothing,
after libwayland printed ``error: XDG_RUNTIME_DIR is invalid`` to stderr. So ``open_display`` tries
only the drivers that can show something, and only where their screen can exist:

- ``x11`` when ``$DISPLAY`` is set, ``wayland`` when ``$WAYLAND_DISPLAY`` is set (a desktop);
- ``kmsdrm`` when ``/dev/dri/card*`` exists and this SDL was built with it (a Pi console, no desktop);
- ``$SDL_VIDEODRIVER`` when set: that driver only (the service sets ``kmsdrm``; tests ``offscreen``).

When none opens it raises ``NoDisplayError`` naming each driver and why it did not open; the caller
decides what that means (``edge.loop``: exit 2 by hand, headless with one journal line under systemd).

``sdl_video_drivers()`` lists the drivers compiled into the SDL that pygame loaded (``SDL_GetVideoDriver``
through ctypes); ``wheel_video_drivers(path)`` reads them out of a pygame wheel's bundled libSDL2 without
loading it (another CPU's wheel too). PyPI's pygame 2.6.1 wheels bundle SDL 2.28.4 without ``kmsdrm``;
Debian's and Raspberry Pi OS's ``python3-pygame`` use the system SDL, which has it (docs/raspberry-pi.md §6).

``python -m edge.display`` prints this SDL's drivers and opens the display the overlay would (``--driver
kmsdrm`` for the Pi console, as ``python -m edge install --display`` does); ``--wheel FILE`` inspects a wheel.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import MoodplayerError

#: The drivers that show something, in SDL's own order of preference, and what each needs.
SCREEN_DRIVERS = ("x11", "wayland", "kmsdrm")
#: Each video driver's description string in libSDL2 (its ``VideoBootStrap``), present only when built in.
BOOTSTRAP_STRINGS = {
    b"SDL X11 video driver": "x11",
    b"SDL Wayland video driver": "wayland",
    b"KMS/DRM Video Driver": "kmsdrm",
    b"SDL offscreen video driver": "offscreen",
    b"SDL dummy video driver": "dummy",
}
#: What to do when the SDL pygame loaded has no kmsdrm (the PyPI wheel's).
KMSDRM_FIX = ("use Raspberry Pi OS's pygame, which has it: sudo apt install python3-pygame, then "
              "<venv>/bin/pip uninstall -y pygame (the venv needs --system-site-packages; docs/raspberry-pi.md §6)")
WHAT_TO_DO = ("run without --display (headless; --record out.mp4 keeps the overlay in a file), start it from a "
              "desktop session, or on a Pi console connect a screen to HDMI 0 and turn it on before starting "
              "(docs/raspberry-pi.md §6)")


@dataclass(frozen=True)
class Tried:
    """One video driver considered: ``why`` it was not used, or "" when it opened (or is worth a try)."""

    driver: str
    why: str = ""


class NoDisplayError(MoodplayerError, RuntimeError):
    """No video driver that shows something could be opened; the message names each one tried and why,
    ``tried`` holds them."""

    def __init__(self, tried: Sequence[Tried]) -> None:
        super().__init__(no_display_message(tried))
        self.tried = tuple(tried)


def summary(tried: Sequence[Tried]) -> str:
    """``x11: DISPLAY is not set; wayland: ...; kmsdrm: ...``"""
    return "; ".join(f"{t.driver}: {t.why}" for t in tried)


def no_display_message(tried: Sequence[Tried]) -> str:
    return f"no display found (tried {summary(tried)}): {WHAT_TO_DO}"


def plan(environ: Mapping[str, str], compiled: Sequence[str], dri: Path = Path("/dev/dri"),
         arm: bool | None = None) -> list[Tried]:
    """The drivers to try in order, each with "" (try it) or why it is skipped without a try.

    ``compiled``: this SDL's video drivers (``sdl_video_drivers``); ``dri``: where KMS card nodes live;
    ``arm`` (default: this machine is one): a missing kmsdrm comes with the Raspberry Pi OS fix."""
    if arm is None:
        arm = platform.machine().lower().startswith(("aarch64", "arm"))
    have = {name.lower() for name in compiled}
    asked = environ.get("SDL_VIDEODRIVER", "").strip().lower()
    names = [asked] if asked else list(SCREEN_DRIVERS)
    out = []
    for name in names:
        if name not in have:
            why = "this pygame's SDL was built without it"
            if name == "kmsdrm" and arm:
                why += f": {KMSDRM_FIX}"
            out.append(Tried(name, why))
        elif name == "x11" and not environ.get("DISPLAY") and not asked:
            out.append(Tried(name, "DISPLAY is not set"))
        elif name == "wayland" and not environ.get("WAYLAND_DISPLAY") and not asked:
            out.append(Tried(name, "WAYLAND_DISPLAY is not set"))
        elif name == "kmsdrm" and not sorted(dri.glob("card*")):
            out.append(Tried(name, f"no {dri}/card* (no KMS graphics driver, or this process cannot see {dri})"))
        else:
            out.append(Tried(name))
    return out


def open_display(pg: Any, environ: Mapping[str, str] | None = None, dri: Path = Path("/dev/dri"),
                 compiled: Sequence[str] | None = None) -> tuple[str, tuple[Tried, ...]]:
    """Initialise ``pg.display`` (pygame's) on the first driver of ``plan`` that opens; returns its name
    and what was tried. Sets ``$SDL_VIDEODRIVER`` to it. Raises ``NoDisplayError`` when none opens."""
    env = os.environ if environ is None else environ
    steps = plan(env, sdl_video_drivers() if compiled is None else compiled, dri)
    before = os.environ.get("SDL_VIDEODRIVER")
    tried: list[Tried] = []
    for step in steps:
        if step.why:
            tried.append(step)
            continue
        os.environ["SDL_VIDEODRIVER"] = step.driver
        try:
            pg.display.init()
        except pg.error as e:
            pg.display.quit()
            why = str(e) or "SDL gave no reason"
            if step.driver == "kmsdrm":  # SDL takes only a /dev/dri/card* with a connected screen (and modes)
                why += (" (SDL found no /dev/dri/card* with a screen connected and turned on; or a desktop holds "
                        "the screen, or this user is not in the video and render groups)")
            tried.append(Tried(step.driver, why))
            continue
        tried.append(step)
        return pg.display.get_driver(), tuple(tried)
    if before is None:
        os.environ.pop("SDL_VIDEODRIVER", None)
    else:
        os.environ["SDL_VIDEODRIVER"] = before
    raise NoDisplayError(tried)


# -- which drivers an SDL has ----------------------------------------------------------------------

def sdl_library() -> str | None:
    """The path of the libSDL2 pygame loaded (the wheel's own copy, or the system's), from this process's
    memory map; None when pygame is not importable or the map is unreadable (not Linux)."""
    try:
        import pygame.base  # noqa: F401 (loads libSDL2)
    except ImportError:
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.split(maxsplit=5)[-1].strip()
                if re.search(r"/libSDL2-2[.-][^/]*$", path):
                    return path
    except OSError:
        return None
    return None


def sdl_video_drivers(library: str | None = None) -> list[str]:
    """The video drivers compiled into ``library`` (default: the libSDL2 pygame loaded), lower case, in
    SDL's order; [] when it cannot be found."""
    path = library or sdl_library()
    if not path:
        return []
    lib = ctypes.CDLL(path)
    lib.SDL_GetVideoDriver.restype = ctypes.c_char_p
    lib.SDL_GetVideoDriver.argtypes = [ctypes.c_int]
    return [lib.SDL_GetVideoDriver(i).decode().lower() for i in range(lib.SDL_GetNumVideoDrivers())]


def library_video_drivers(data: bytes) -> list[str]:
    """The video drivers built into a libSDL2 binary, from its bootstrap strings (any CPU, not loaded)."""
    return [name for text, name in BOOTSTRAP_STRINGS.items() if text + b"\0" in data]


def wheel_video_drivers(wheel: Path) -> dict[str, list[str]]:
    """``{member: drivers}`` for each libSDL2 (not the mixer/ttf/image ones) inside a pygame wheel."""
    out = {}
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if re.search(r"(^|/)libSDL2-2[.-][^/]*$", name):
                out[name] = library_video_drivers(z.read(name))
    return out


# -- python -m edge.display ------------------------------------------------------------------------

def check(driver: str | None = None, fullscreen: bool = False) -> tuple[int, str]:
    """Open the display as the overlay would (``driver``: only that one); (0, what opened) or (2, why not)."""
    if driver:
        os.environ["SDL_VIDEODRIVER"] = driver
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError as e:
        return 2, f"pygame is not importable ({e})"
    where = f"pygame {pygame.version.ver} from {Path(pygame.__file__).parent}, SDL {'.'.join(map(str, pygame.get_sdl_version()))} " \
            f"at {sdl_library() or '?'}; video drivers: {', '.join(sdl_video_drivers()) or '?'}"
    try:
        name, _ = open_display(pygame)
        if fullscreen:
            size = pygame.display.set_mode((0, 0), pygame.FULLSCREEN).get_size()
        else:
            info = pygame.display.Info()
            size = (info.current_w, info.current_h)
    except NoDisplayError as e:
        return 2, f"{summary(e.tried) if driver else e}\n{where}"
    except pygame.error as e:
        return 2, f"{e}\n{where}"
    finally:
        pygame.display.quit()
    return 0, f"display: {name} {size[0]}x{size[1]}\n{where}"


def install_check(python: Path, cwd: Path, timeout: float = 60.0) -> tuple[str, str]:
    """``python -m edge install --display``: open the Pi console's screen (kmsdrm, full screen) with the
    service's ``python`` in a child process. Returns (verdict, what to say): ``"ok"``; ``"no-kmsdrm"``
    when that pygame's SDL lacks kmsdrm (the overlay could never show: the installer stops); or
    ``"no-screen"`` for a screen that is off or absent (a warning: the service then runs headless with
    one line in the journal, until it starts with a screen on)."""
    env = dict(os.environ, SDL_VIDEODRIVER="kmsdrm", PYGAME_HIDE_SUPPORT_PROMPT="1")
    try:
        done = subprocess.run([str(python), "-m", "edge.display", "--driver", "kmsdrm", "--fullscreen"], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "no-screen", f"could not check the screen with {python}: {e}"
    lines = [line.removeprefix("error: ") for line in (done.stdout + done.stderr).strip().splitlines()] or [""]
    if done.returncode == 0:
        return "ok", f"the screen opened ({lines[0]}): the service shows the overlay full screen"
    if "built without it" in lines[0]:
        return "no-kmsdrm", (f"the service's pygame cannot draw on a Pi console, its SDL has no kmsdrm ({lines[-1]}): "
                             + KMSDRM_FIX.replace("<venv>", str(python.parent.parent)))
    return "no-screen", (f"no screen opened now ({lines[0] or f'exit {done.returncode}'}); installing with the overlay "
                         "anyway: the service runs headless, with one line in the journal, until it starts with a "
                         "screen on (docs/raspberry-pi.md §6)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.display", description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", help="try only this SDL video driver (kmsdrm: the Pi console)")
    parser.add_argument("--fullscreen", action="store_true", help="also set a full-screen mode, as the service does")
    parser.add_argument("--wheel", type=Path, metavar="FILE", help="list the video drivers in a pygame wheel's SDL")
    args = parser.parse_args(argv)
    if args.wheel:
        found = wheel_video_drivers(args.wheel)
        for member, drivers in found.items():
            print(f"{member}: {', '.join(drivers)}")
        if not found:
            print(f"error: no libSDL2 inside {args.wheel}", file=sys.stderr)
            return 2
        return 0
    code, text = check(args.driver, args.fullscreen)
    print(text if code == 0 else f"error: {text}", file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
