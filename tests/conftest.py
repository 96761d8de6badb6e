"""Shared fixtures. Tests make their own tiny data; FER2013 tests skip with a reason where it's absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge results, not speed: on a loaded 2-core machine input generation can be slow, and
# that must not fail a run (Hypothesis's too_slow health check and its per-example deadline).
settings.register_profile("moodplayer", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("moodplayer")

ROOT = Path(__file__).resolve().parent.parent
FER2013 = Path(os.environ.get("FER2013_DIR", ROOT.parent / "shared" / "datasets" / "fer2013"))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# Once a converter test has loaded TensorFlow into this process, its LLVM symbols crash SDL's
# accelerated offscreen framebuffer (the device itself never loads TensorFlow).
os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")


@pytest.fixture(scope="session")
def fer2013() -> Path:
    """The FER2013 image folders (train/, val/), or a skip that says where they were looked for."""
    if not (FER2013 / "val").is_dir():
        pytest.skip(f"FER2013 (Kaggle's 48x48 face-emotion set: train/ and val/, a folder per emotion) not found "
                    f"at {FER2013}: put it at ../shared/datasets/fer2013 or set FER2013_DIR")
    return FER2013


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """Keep decoded-data caches out of the user's home."""
    monkeypatch.setenv("MOODPLAYER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def offscreen(monkeypatch):
    """A real SDL video driver that draws into memory (the overlay and now-playing tests read its pixels)."""
    import pygame

    pygame.display.quit()
    monkeypatch.setenv("SDL_VIDEODRIVER", "offscreen")
    yield pygame
    pygame.display.quit()
