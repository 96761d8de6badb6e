"""ALSA device names on real alsa-lib and SDL (pygame 2.6.1 / SDL 2.28.4), and ``python -m edge audio-devices``.

The speaker: a PCM this test defines in its own ALSA config (``ALSA_CONFIG_PATH`` = the system's
alsa.conf + ours), ``pcm.x { type file; slave.pcm "null"; file FIFO; format "raw" }``: alsa-lib writes
what is played to x into a FIFO the test reads (never a plain file, so nothing piles up on disk).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from benchmarks import clips
from edge.music.devices import parse_cards
from edge.music.outputs.mixer import is_alsa_name, open_hint

ROOT = Path(__file__).resolve().parent.parent
SONGS = ROOT / "songs"
SONG = SONGS / "happy" / "skip_along.ogg"
SYSTEM_ALSA = Path("/usr/share/alsa/alsa.conf")

# /proc/asound/cards of a Raspberry Pi 4 (Raspberry Pi OS Bookworm) with a USB DAC, as the kernel prints it.
PI4_CARDS = """\
 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 2 [vc4hdmi1       ]: vc4-hdmi - vc4-hdmi-1
                      vc4-hdmi-1
 3 [Device         ]: USB-Audio - USB Audio Device
                      GeneralPlus USB Audio Device at usb-0000:01:00.0-1.3, full speed
"""


class Fifo:
    """Drains a FIFO on its own thread (a player blocked on a full FIFO could not close) and keeps
    what matters: how many 16-bit samples came, and the loudest."""

    def __init__(self, path: Path) -> None:
        # O_RDWR: opening never blocks and reads never see EOF, whenever the player opens or closes its end.
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.samples = 0
        self.loudest = 0
        self.loud = threading.Event()
        self._stop = threading.Event()
        self._odd = b""
        self._thread = threading.Thread(target=self._drain, name="fifo-drain", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            data = self._odd + os.read(self.fd, 1 << 16)
            cut = len(data) // 2 * 2
            data, self._odd = data[:cut], data[cut:]
            block = np.frombuffer(data, np.int16)
            self.samples += block.size
            self.loudest = max(self.loudest, int(np.abs(block.astype(np.int32)).max(initial=0)))
            if self.loudest > 1000:
                self.loud.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.fd)


@pytest.fixture
def speaker(tmp_path):
    """(env for a process that plays to ALSA PCM "x", the ``Fifo`` that hears it)."""
    if not SYSTEM_ALSA.is_file():
        pytest.skip(f"alsa-lib's {SYSTEM_ALSA} is missing (apt install libasound2)")
    fifo = tmp_path / "x.fifo"
    os.mkfifo(fifo)
    conf = tmp_path / "asound.conf"
    conf.write_text(f'pcm.x {{ type file; slave.pcm "null"; file "{fifo}"; format "raw" }}\n')
    heard = Fifo(fifo)
    env = {**os.environ, "SDL_AUDIODRIVER": "alsa", "ALSA_CONFIG_PATH": f"{SYSTEM_ALSA}:{conf}",
           "PYGAME_HIDE_SUPPORT_PROMPT": "1", "SDL_VIDEODRIVER": "dummy"}
    env.pop("AUDIODEV", None)
    yield env, heard
    heard.close()


PLAY = """\
import sys, pygame
from pathlib import Path
from edge.music.config import MusicConfig
from edge.music.outputs.mixer import MixerOutput
try:
    pygame.mixer.init(devicename="x")
    print("SDL-DEVICENAME opened", flush=True)
    pygame.mixer.quit()
except pygame.error as e:
    print("SDL-DEVICENAME", e, flush=True)
out = MixerOutput(MusicConfig(audio_device="x"))
out.open()
out.play(Path(sys.argv[1]))
print("PLAYING", flush=True)
sys.stdin.readline()
out.close()
"""


def test_an_alsa_name_plays_through_audiodev(speaker):
    env, heard = speaker
    proc = subprocess.Popen([sys.executable, "-c", PLAY, str(SONG)], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(60, proc.kill)  # a child that hangs before printing ends the reads below
    killer.start()
    try:
        first = proc.stdout.readline()
        playing = proc.stdout.readline()
        heard.loud.wait(20.0 if playing.startswith("PLAYING") else 0)
        out, err = proc.communicate("\n", timeout=30)
    finally:
        killer.cancel()
        proc.kill()
    # SDL itself refuses an ALSA name as devicename: why the name goes through AUDIODEV.
    assert first.strip() == "SDL-DEVICENAME No such device.", first + err
    assert playing.startswith("PLAYING"), playing + out + err
    assert proc.returncode == 0, err
    assert heard.samples > 44100 and heard.loudest > 1000, (heard.samples, heard.loudest)


def test_the_loop_plays_into_a_named_pcm_and_a_missing_one_warns_once(speaker, tmp_path, fer2013):
    env, heard = speaker
    clip = clips.make_clip(tmp_path / "happy.mp4", [("happy", 6.0)], fps=10, fer_dir=fer2013)
    base = [sys.executable, "-u", "-m", "edge", "--songs", str(SONGS), "--source", str(clip.path), "--realtime",
            "--music-state-dir", str(tmp_path), "--music-features", "false"]
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen([*base, "--music-audio-device", "x", "--events", str(events)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        heard.loud.wait(60.0)
        log, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, log[-3000:]
    songs = [e for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "song"]
    assert songs, log[-3000:]
    assert "audio output open" in log and "on x" in log, log[-3000:]
    assert heard.loudest > 1000, ("nothing loud reached pcm.x", heard.samples, heard.loudest)

    # A name ALSA does not know: the run goes on (every frame read), one warning with ALSA's error and
    # what to try, then quiet retries.
    quiet_events = tmp_path / "quiet.jsonl"
    done = subprocess.run([*base, "--music-audio-device", "nosuch", "-v", "--events", str(quiet_events),
                           "--events-frames"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line and "nosuch" in line]
    assert len(warnings) == 1, done.stderr[-3000:]
    assert "ALSA: Couldn't open audio device" in warnings[0] and "python -m edge audio-devices" in warnings[0]
    assert done.stderr.count("DEBUG edge.music.outputs.mixer: audio device 'nosuch' did not open") >= 2, \
        done.stderr[-3000:]  # retried (the player backs off from 3 s), not warned again
    frames = [e for e in map(json.loads, quiet_events.read_text().splitlines()) if e["type"] == "frame"]
    assert len(frames) == len(clip.labels), len(frames)  # every frame judged while the player retried


def test_audio_devices_lists_alsa_cards_by_id(tmp_path):
    cards = tmp_path / "cards"
    cards.write_text(PI4_CARDS)
    out = subprocess.run([sys.executable, "-m", "edge", "audio-devices", "--driver", "dummy", "--cards", str(cards)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.split()[:1] == ["default:CARD=Headphones"] and "bcm2835 Headphones" in line for line in lines)
    hdmi = [line for line in lines if line.strip().startswith("default:CARD=vc4hdmi")]
    assert len(hdmi) == 2 and all("screen must be on and connected at boot" in line for line in hdmi), lines
    assert any(line.strip().startswith("default:CARD=Device") and "GeneralPlus" in line for line in lines)
    assert "audio outputs (dummy driver)" in out.stdout  # SDL's own names follow
    (tmp_path / "none").write_text("--- no soundcards ---\n")
    out = subprocess.run([sys.executable, "-m", "edge", "audio-devices", "--driver", "dummy", "--cards",
                          str(tmp_path / "none")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "(none: is a speaker" in out.stdout and "default:CARD" not in out.stdout


def test_card_parsing_and_name_kinds():
    cards = parse_cards(PI4_CARDS)
    assert [(c.number, c.id, c.driver) for c in cards] == [(0, "Headphones", "bcm2835_headpho"),
                                                          (1, "vc4hdmi0", "vc4-hdmi"), (2, "vc4hdmi1", "vc4-hdmi"),
                                                          (3, "Device", "USB-Audio")]
    assert cards[3].long_name.startswith("GeneralPlus") and cards[1].alsa_name == "default:CARD=vc4hdmi0"
    for alsa in ("default", "x", "default:CARD=vc4hdmi0", "hdmi:CARD=vc4hdmi0,DEV=0", "plughw:1,0", "dmix"):
        assert is_alsa_name(alsa), alsa
    for sdl in ("bcm2835 Headphones, bcm2835 Headphones", "vc4-hdmi-0, MAI PCM i2s-hifi-0", "USB Audio Device"):
        assert not is_alsa_name(sdl), sdl
    assert "screen was on" in open_hint("default:CARD=vc4hdmi0") and "screen" not in open_hint("default:CARD=Device")
