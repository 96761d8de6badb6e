"""The ``pygame`` output: ``pygame.mixer.music`` on this machine's SDL audio device.

``music`` streams from disk a buffer at a time (a four-minute MP3 costs kilobytes and no load time on
a Pi; ``Sound`` would decode it whole, ~40 MB, blocking). The price is one stream at a time, so a mood
change fades out, then in; a true crossfade would need two ``Sound`` objects and their memory.

A device that goes away (USB DAC unplugged, HDMI screen off) does not stop SDL's clock: SDL keeps
mixing into nothing and ``get_pos`` keeps counting. What changes is the device's status, which SDL
sets to stopped when a write fails; ``alive`` reads it (``SDL_GetAudioDeviceStatus`` through
ctypes on the SDL library pygame loaded). Where that library can't be found, ``alive`` is True.

Device names. SDL's ``devicename`` takes only names from SDL's own list, and says "No such device."
for any ALSA name (``default``, ``default:CARD=vc4hdmi0``, ``hdmi:CARD=vc4hdmi0,DEV=0``, a PCM the ALSA
config defines). With the ALSA driver SDL opens ``$AUDIODEV`` when ``devicename`` is NULL (SDL 2.28's
``get_audio_device`` in SDL_alsa_audio.c), so an ALSA name (``is_alsa_name``) goes there. On a Pi's
vc4 HDMI the ``hw:`` device takes IEC958 frames only (SDL: "Unsupported audio format"), so the names
to use are ``default:CARD=<id>`` (``python -m edge audio-devices`` lists them), whose plugins convert.
A device that does not open raises ``OutputError`` with ALSA's own error and what to try next; the
deck logs that once and retries quietly with backoff.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from edge.music.config import MusicConfig  # noqa: E402
from edge.music.outputs.base import OutputError, SongError  # noqa: E402

log = logging.getLogger(__name__)

_SDL_AUDIO_STOPPED = 0
_MAX_DEVICE_ID = 32


def is_alsa_name(name: str) -> bool:
    """An ALSA PCM name rather than one of SDL's device descriptions: ``default``, ``x:ARGS``, or a bare
    identifier such as a PCM the ALSA config defines (SDL's names are descriptions with spaces)."""
    return ":" in name or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name) is not None


def open_hint(device: str | None) -> str:
    """What to try after ``device`` (None: the default) did not open."""
    hint = "try a name from `python -m edge audio-devices` in music.audio_device (default:CARD=<card>)"
    if device is None or device == "default" or "hdmi" in device.lower():
        hint += "; HDMI on a Raspberry Pi (vc4hdmi) plays only if the screen was on and connected at boot"
    return hint


class MixerOutput:
    name = "pygame"

    def __init__(self, config: MusicConfig) -> None:
        self.device = config.audio_device or None
        self.volume = config.volume
        self._open = False
        self._sdl = _sdl_library()
        self._device_id: int | None = None

    def open(self) -> None:
        sdl_name = self.device
        if self.device is not None and is_alsa_name(self.device):
            os.environ["AUDIODEV"] = self.device  # read by SDL's ALSA driver in init, on this (the player's) thread
            sdl_name = None
        try:
            pygame.mixer.init(frequency=44100, size=-16, channels=2, buffer=2048, devicename=sdl_name)
        except pygame.error as e:
            name = self.device or os.environ.get("AUDIODEV") or "default"
            log.debug("audio device %r did not open (%s)", name, e)  # every try; the deck warns once
            raise OutputError(f"audio device {name!r} did not open ({e}): {open_hint(self.device)}") from None
        self._open = True
        self._device_id = self._find_device()
        freq, size, channels = pygame.mixer.get_init()
        log.info("audio output open: %d Hz, %d-bit, %d channel(s)%s", freq, abs(size), channels,
                 f" on {self.device}" if self.device else "")

    def play(self, path: Path, fade_in_ms: int = 0) -> None:
        try:
            pygame.mixer.music.load(str(path))
            pygame.mixer.music.set_volume(self.volume)
            pygame.mixer.music.play(fade_ms=fade_in_ms)
        except (pygame.error, OSError) as e:
            if not self.alive():
                raise OutputError(str(e)) from None
            raise SongError(str(e)) from None

    def fade_out(self, ms: int) -> None:
        if ms > 0 and pygame.mixer.music.get_busy():
            pygame.mixer.music.fadeout(ms)
        else:
            pygame.mixer.music.stop()

    def stop(self) -> None:
        pygame.mixer.music.stop()

    def set_volume(self, volume: float) -> None:
        self.volume = volume
        pygame.mixer.music.set_volume(volume)

    def pause(self) -> None:
        pygame.mixer.music.pause()

    def resume(self) -> None:
        pygame.mixer.music.unpause()

    def busy(self) -> bool:
        return bool(pygame.mixer.music.get_busy())

    def position(self) -> float | None:
        ms = pygame.mixer.music.get_pos()
        return ms / 1000 if ms >= 0 else None

    def alive(self) -> bool:
        if not self._open:
            return False
        if self._sdl is None or self._device_id is None:
            return True
        return self._sdl.SDL_GetAudioDeviceStatus(self._device_id) != _SDL_AUDIO_STOPPED

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            pygame.mixer.music.stop()
            pygame.mixer.quit()
        except pygame.error as e:
            log.warning("closing the audio output failed: %s", e)

    def _find_device(self) -> int | None:
        """The SDL device id the mixer opened: the one not stopped (SDL_mixer unpauses it on open)."""
        if self._sdl is None:
            return None
        for device_id in range(1, _MAX_DEVICE_ID):
            if self._sdl.SDL_GetAudioDeviceStatus(device_id) != _SDL_AUDIO_STOPPED:
                return device_id
        return None


def _sdl_library() -> ctypes.CDLL | None:
    """The SDL2 library this process loaded for pygame (Linux: from /proc/self/maps), or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if re.search(r"/libSDL2[-.]", line)}
        for path in sorted(paths):
            if path.startswith("/"):
                sdl = ctypes.CDLL(path)
                sdl.SDL_GetAudioDeviceStatus.restype = ctypes.c_int
                sdl.SDL_GetAudioDeviceStatus.argtypes = [ctypes.c_uint32]
                return sdl
    except (OSError, AttributeError) as e:
        log.debug("SDL's device status is not available (%s): a lost audio device won't be noticed", e)
    return None
