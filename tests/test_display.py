"""Which screen the overlay opens (edge.display): SDL's video drivers read from the real libraries, a
plain error (exit 2) by hand without a screen, one journal line and headless under systemd, the
installer's screen check, and the Pi console's kmsdrm path on a labelled stand-in (tests/kms_standin.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge import display
from edge.display import (
    Tried,
    library_video_drivers,
    plan,
    sdl_library,
    sdl_video_drivers,
)
from edge.nowplaying import MOOD_RGB
from edge.overlay import NoDisplayError as OverlayNoDisplay
from edge.overlay import OverlayConfig, Window
from edge.types import Mood
from tests.kms_standin import PI_OS_SDL_DRIVERS, KmsStandIn

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PYGAME = Path("/usr/lib/python3/dist-packages/pygame")  # apt: python3-pygame (system SDL, with kmsdrm)
PHOTO = ROOT / "docs" / "web.png"


def no_screen_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env.update(PYGAME_HIDE_SUPPORT_PROMPT="1", SDL_AUDIODRIVER="dummy", **extra)
    return env


# -- the plan -------------------------------------------------------------------------------------

def test_plan_tries_only_what_can_show_something(tmp_path):
    wheel = ["x11", "wayland", "offscreen", "dummy", "evdev"]
    steps = plan({}, wheel, tmp_path, arm=False)
    assert [t.driver for t in steps] == ["x11", "wayland", "kmsdrm"]  # never offscreen or dummy unasked
    assert steps[0].why == "DISPLAY is not set" and steps[1].why == "WAYLAND_DISPLAY is not set"
    assert steps[2].why == "this pygame's SDL was built without it"
    on_pi = plan({}, wheel, tmp_path, arm=True)[2].why
    assert "sudo apt install python3-pygame" in on_pi and "pip uninstall -y pygame" in on_pi
    assert plan({}, PI_OS_SDL_DRIVERS, tmp_path)[2].why.startswith(f"no {tmp_path}/card*")
    (tmp_path / "card1").touch()
    assert plan({}, PI_OS_SDL_DRIVERS, tmp_path)[2] == Tried("kmsdrm")
    assert plan({"DISPLAY": ":0"}, wheel, tmp_path)[0] == Tried("x11")
    assert plan({"SDL_VIDEODRIVER": "KMSDRM"}, PI_OS_SDL_DRIVERS, tmp_path) == [Tried("kmsdrm")]  # only that one
    assert plan({"SDL_VIDEODRIVER": "offscreen"}, wheel, tmp_path) == [Tried("offscreen")]
    assert display.summary(steps).startswith("x11: DISPLAY is not set; wayland: WAYLAND_DISPLAY is not set; kmsdrm:")


# -- SDL's driver lists, from the real libraries ----------------------------------------------------

def test_the_loaded_sdl_lists_its_drivers_and_its_bytes_agree():
    import pygame

    drivers = sdl_video_drivers()
    assert {"x11", "offscreen", "dummy"} <= set(drivers), drivers
    library = sdl_library()
    assert library and pygame.get_sdl_version()[0] == 2
    assert set(library_video_drivers(Path(library).read_bytes())) == set(drivers) - {"evdev"}


def test_the_pypi_wheel_has_no_kmsdrm_yet(tmp_path):
    """The tripwire: PyPI's pygame bundles its own SDL, built without kmsdrm (2.6.1: SDL 2.28.4, x86_64
    and aarch64 alike). When a release gains it, this fails: then the Pi can use the wheel, and
    docs/raspberry-pi.md §6 and edge.display.KMSDRM_FIX should say so."""
    import pygame

    libs = Path(pygame.__file__).parent.parent / "pygame.libs"
    if not libs.is_dir():
        pytest.skip(f"pygame {pygame.version.ver} here is not PyPI's wheel (no {libs})")
    found = sorted(libs.glob("libSDL2-2*"))
    assert len(found) == 1, found
    wheel = tmp_path / "pygame.whl"  # the same bytes inside a wheel-shaped zip: the --wheel path
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(found[0], f"pygame.libs/{found[0].name}")
        z.writestr("pygame.libs/libSDL2_mixer-2-x.so", b"not the video library")
    assert display.wheel_video_drivers(wheel) == {f"pygame.libs/{found[0].name}": library_video_drivers(
        found[0].read_bytes())}
    assert "kmsdrm" not in sdl_video_drivers(), (
        f"pygame {pygame.version.ver}'s wheel now bundles an SDL with kmsdrm: the Pi console can use the wheel; "
        "update docs/raspberry-pi.md §6 and edge.display.KMSDRM_FIX")


def debian_site(tmp_path: Path) -> Path:
    """A folder holding only Debian's pygame (python3-pygame, linked to the system's libSDL2), to put
    first on PYTHONPATH."""
    if not (DEBIAN_PYGAME / "__init__.py").is_file():
        pytest.skip("Debian's python3-pygame is not installed (apt install python3-pygame)")
    site = tmp_path / "site"
    site.mkdir()
    (site / "pygame").symlink_to(DEBIAN_PYGAME)
    return site


def test_debian_pygame_has_kmsdrm_and_real_sdl_says_why_it_cannot_open(tmp_path):
    """Real SDL with kmsdrm built in (Debian's 2.26.5, as Raspberry Pi OS ships), on a machine with no
    KMS screen: the driver list has it, and SDL's own refusal reaches the user with what to check."""
    script = tmp_path / "probe.py"
    (tmp_path / "dri").mkdir()
    (tmp_path / "dri" / "card0").touch()  # let the plan through to SDL, which looks at /dev/dri itself
    script.write_text(f"""
import os, pygame
from pathlib import Path
from edge import display
print("drivers", ",".join(display.sdl_video_drivers()))
print("library", display.sdl_library())
os.environ["SDL_VIDEODRIVER"] = "kmsdrm"
try:
    display.open_display(pygame, dri=Path({str(tmp_path / "dri")!r}))
except display.NoDisplayError as e:
    print("error", e)
""")
    env = no_screen_env(PYTHONPATH=f"{debian_site(tmp_path)}:{ROOT}")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=env).stdout
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert tuple(lines["drivers"].split(",")) == PI_OS_SDL_DRIVERS, out
    assert lines["library"].startswith("/usr/lib/") and "pygame.libs" not in lines["library"]
    assert "kmsdrm" in library_video_drivers(Path(lines["library"]).read_bytes())  # --wheel would notice it
    assert lines["error"].startswith("no display found (tried kmsdrm: kmsdrm not available (SDL found no "
                                     "/dev/dri/card* with a screen connected and turned on"), out


# -- the Pi console, on the stand-in ----------------------------------------------------------------

def test_kmsdrm_full_screen_now_playing_on_the_stand_in(monkeypatch, tmp_path):
    """STAND-IN (tests/kms_standin.py) for SDL's kmsdrm driver on a Pi with a 1920x1080 screen on HDMI:
    the service's environment asks for kmsdrm, gets the screen's own mode full screen, no mouse pointer."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "kmsdrm")  # as systemd/moodplayer.service sets it
    (tmp_path / "card1").touch()
    pg = KmsStandIn((1920, 1080))
    window = Window(OverlayConfig(fullscreen=True, view="now-playing"), pg=pg, compiled=PI_OS_SDL_DRIVERS,
                    dri=tmp_path)
    assert pg.asked == ["kmsdrm"] and window.driver == "KMSDRM"
    assert pg.modes == [((1920, 1080), pg.FULLSCREEN)] and not pg.mouse_visible  # opened at start, full screen
    window.show_now_playing(0.0, Mood("sad", 0.8, 0.0, 1, valence=-0.5, arousal=-0.3), "Grey Sky", "Synths")
    window.show_now_playing(0.1, Mood("sad", 0.8, 0.0, 1, valence=-0.5, arousal=-0.3), "Grey Sky", "Synths")
    assert pg.flips == 1  # the same picture is not flipped again
    import pygame

    shown = pygame.surfarray.array3d(pg.display.get_surface())
    assert shown.shape[:2] == (1920, 1080) and (shown == MOOD_RGB["sad"]).all(axis=2).sum() > 5000
    window.close()


def test_no_screen_at_boot_on_the_stand_in(monkeypatch, tmp_path):
    """STAND-IN: kmsdrm with no connected screen (unplugged, or off when the kernel probed HDMI)."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "kmsdrm")
    (tmp_path / "card0").touch()
    pg = KmsStandIn(screen=None)
    with pytest.raises(OverlayNoDisplay) as e:
        Window(OverlayConfig(fullscreen=True), pg=pg, compiled=PI_OS_SDL_DRIVERS, dri=tmp_path)
    assert pg.asked == ["kmsdrm"] and pg.modes == []
    assert e.value.tried == (Tried("kmsdrm", e.value.tried[0].why),)
    assert str(e.value).startswith("no display found (tried kmsdrm: kmsdrm not available (SDL found no")
    assert os.environ["SDL_VIDEODRIVER"] == "kmsdrm"  # what the caller asked for is left as it was


def test_a_screen_held_by_a_desktop_is_no_screen_on_the_stand_in(monkeypatch, tmp_path):
    """STAND-IN: kmsdrm starts but the mode cannot be set (another program is DRM master): that is no
    screen too, so a service runs headless instead of failing and restarting."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "kmsdrm")
    (tmp_path / "card1").touch()
    pg = KmsStandIn(taken=True)
    with pytest.raises(OverlayNoDisplay) as e:
        Window(OverlayConfig(fullscreen=True), pg=pg, compiled=PI_OS_SDL_DRIVERS, dri=tmp_path)
    assert str(e.value).startswith("no display found (tried kmsdrm: opened, but not full screen: cannot open a "
                                   "full-screen window (Could not set videomode on CRTC.)")
    assert not pg.display.get_init()


# -- python -m edge --display without a screen ------------------------------------------------------

def test_display_by_hand_without_a_screen_is_one_plain_error():
    done = subprocess.run([sys.executable, "-m", "edge", "--source", str(PHOTO), "--loop", "--display",
                           "--max-frames", "3"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=no_screen_env())
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("error: no display found (tried x11: DISPLAY is not set; wayland: WAYLAND_DISPLAY "
                                "is not set; kmsdrm: ")
    assert "run without --display" in errors[0]
    for noise in ("XDG_RUNTIME_DIR", "offscreen", "Traceback"):
        assert noise not in done.stderr


def test_display_under_systemd_without_a_screen_runs_headless_with_one_journal_line(tmp_path):
    sock_path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        done = subprocess.run([sys.executable, "-m", "edge", "--source", str(PHOTO), "--loop", "--display",
                               "--fullscreen", "--max-frames", "5", "--music-enabled", "false"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env=no_screen_env(NOTIFY_SOCKET=str(sock_path), SDL_VIDEODRIVER="kmsdrm",
                                                JOURNAL_STREAM="8:1"))
        sock.settimeout(5)
        assert b"READY=1" in sock.recv(4096)  # it ran, under "systemd"
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "screen" in line or "display" in line]
    assert len(said) == 1, done.stderr
    assert said[0].startswith("WARNING edge.loop: no screen for the overlay (tried kmsdrm: ")
    assert "running headless" in said[0] and "systemctl restart moodplayer" in said[0]
    assert "processed 5 frames" in done.stderr


# -- the installer --------------------------------------------------------------------------------

def test_install_display_writes_the_overlay_into_the_unit_and_checks_the_screen(tmp_path, capsys):
    from edge.install import main as install_main

    venv = Path(sys.prefix)
    assert install_main(["--root", str(tmp_path), "--display", "--venv", str(venv), "--no-start"]) == 0
    unit = (tmp_path / "etc/systemd/system/moodplayer.service").read_text()
    assert f"ExecStart={venv}/bin/python -m edge --display --fullscreen --config" in unit
    assert "\nview = \"now-playing\"\n" in (tmp_path / "etc/moodplayer/config.toml").read_text()
    err = capsys.readouterr().err
    if "pygame.libs" in (sdl_library() or ""):  # PyPI's wheel here: the fix is named
        assert "its SDL has no kmsdrm" in err and "sudo apt install python3-pygame" in err
        assert f"{venv}/bin/pip uninstall -y pygame" in err


def test_install_check_verdicts(tmp_path):
    verdict, said = display.install_check(Path(sys.executable), ROOT)
    if "pygame.libs" in (sdl_library() or ""):
        assert verdict == "no-kmsdrm", said
    python = tmp_path / "venv" / "bin" / "python"  # the service's python, with Debian's pygame (kmsdrm built in)
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\nPYTHONPATH={debian_site(tmp_path)} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    verdict, said = display.install_check(python, ROOT)
    assert verdict == "no-screen", said
    assert said.startswith("no screen opened now (kmsdrm: ") and "runs headless" in said
