"""Synthesize moodplayer's default song library: two short pieces per emotion, as small OGG files.

    python songs/make_songs.py [--out songs] [--seconds 24]

Every piece is additive synthesis from a few parts (a chord pad, a bass line, a melody or arpeggio,
a noise drum kit) whose settings give each emotion its character: tempo, key and scale, waveform,
distortion, dissonance, accents. Output is deterministic: the same script writes the same notes.
Needs numpy and soundfile (which writes OGG Vorbis); the device itself needs neither to play them.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("make_songs")

SR = 22050  # mono, 22.05 kHz: plenty for these sounds, and small files
QUALITY = 0.75  # soundfile's compression_level for Vorbis: higher = smaller files

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
PHRYGIAN = (0, 1, 3, 5, 7, 8, 10)
LOCRIAN = (0, 1, 3, 5, 6, 8, 10)
LYDIAN = (0, 2, 4, 6, 7, 9, 11)
MIXOLYDIAN = (0, 2, 4, 5, 7, 9, 10)


@dataclass(frozen=True)
class Piece:
    """The settings of one piece; every part is optional (gain 0 turns it off)."""

    name: str
    bpm: float
    root: int  # MIDI note of the key's tonic (60 = middle C)
    scale: tuple[int, ...]
    chords: tuple[int, ...]  # one scale degree per bar (0 = tonic), looped
    seed: int
    beats: int = 4  # beats per bar
    pad: str = "sine"  # sine | saw | square
    pad_gain: float = 0.25
    bass: str = "sine"
    bass_gain: float = 0.35
    bass_steps: int = 1  # bass notes per beat (0 = one held note per bar)
    lead: str = "square"
    lead_gain: float = 0.2
    lead_steps: int = 2  # melody notes per beat
    lead_rest: float = 0.0  # chance a melody step is silent
    arpeggio: bool = False  # walk the chord up and down instead of a random tune
    lead_octave: int = 1
    kick: str = ""  # drum patterns, one character per melody step: x = hit, . = rest
    snare: str = ""
    hat: str = ""
    drum_gain: float = 0.5
    drive: float = 0.0  # tanh distortion
    cluster: bool = False  # add a minor second on top of every chord (dissonance)
    detune: float = 0.0  # semitones between the pad's two copies (beating, sourness)
    wobble: float = 0.0  # semitones of slow pitch drift on the lead
    drone: float = 0.0  # gain of a low tonic + tritone drone with a slow throb
    accents: float = 0.0  # chance per bar of a sudden loud stab
    jitter: float = 0.0  # random timing offset of melody notes, in steps
    loudness: float = 0.12  # target RMS of the mix


def hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Frequency in Hz of a MIDI note number (69 = A4 = 440 Hz); works on arrays too."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def osc(freq: float | np.ndarray, n: int, wave: str) -> np.ndarray:
    """n samples of a band-limited sine, saw or square wave (additive, so no aliasing)."""
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(freq, (n,))) / SR
    if wave == "sine":
        return np.sin(phase)
    top = float(np.max(freq))
    ks = range(1, 12) if wave == "saw" else range(1, 12, 2)
    return sum(np.sin(k * phase) / k for k in ks if k * top < SR / 2) * (0.6 if wave == "saw" else 0.9)


def envelope(n: int, attack: float, release: float) -> np.ndarray:
    """Linear attack, exponential-ish decay to the end of the note."""
    env = np.ones(n)
    a, r = min(n, int(attack * SR)), min(n, int(release * SR))
    env[:a] = np.linspace(0, 1, a, endpoint=False)
    if r:
        env[n - r :] *= np.linspace(1, 0, r) ** 2
    return env


def note(out: np.ndarray, start: float, dur: float, freq, wave: str, gain: float,
         attack: float = 0.01, release: float | None = None) -> None:
    """Mix one note into ``out`` at ``start`` seconds."""
    i, n = int(start * SR), int(dur * SR)
    n = min(n, len(out) - i)
    if n <= 0 or i < 0:
        return
    f = freq[:n] if isinstance(freq, np.ndarray) else freq
    out[i : i + n] += gain * osc(f, n, wave) * envelope(n, attack, dur * 0.6 if release is None else release)


def noise_hit(out: np.ndarray, start: float, dur: float, gain: float, rng, tone: float = 0.0) -> None:
    """A drum: noise burst (snare/hat) or, with ``tone``, a falling sine thump (kick)."""
    i, n = int(start * SR), min(int(dur * SR), len(out) - int(start * SR))
    if n <= 0:
        return
    t = np.arange(n) / SR
    if tone:
        sound = np.sin(2 * np.pi * np.cumsum(tone * (1 + 2 * np.exp(-t * 30))) / SR)
    else:
        sound = rng.standard_normal(n)
    out[i : i + n] += gain * sound * np.exp(-t * (8 if tone else 25))


def chord_notes(p: Piece, degree: int) -> list[int]:
    """Triad on a scale degree, as MIDI notes around the tonic."""
    def step(d: int) -> int:
        return p.root + 12 * (d // len(p.scale)) + p.scale[d % len(p.scale)]
    notes = [step(degree), step(degree + 2), step(degree + 4)]
    return notes + [notes[0] + 1] if p.cluster else notes


#: The drum kit: pattern field, tone of a kick's thump (0 = noise), gain, length in seconds.
DRUMS = (("kick", 55.0, 1.0, 0.3), ("snare", 0.0, 0.5, 0.18), ("hat", 0.0, 0.15, 0.05))


def render(p: Piece, seconds: float) -> np.ndarray:
    """The whole piece as float mono samples, normalised to ``p.loudness`` RMS."""
    rng = np.random.default_rng(p.seed)
    beat = 60.0 / p.bpm
    bar = beat * p.beats
    bars = max(1, math.ceil(seconds / bar))
    out = np.zeros(int(bars * bar * SR) + SR)
    steps, step_s = p.beats * p.lead_steps, beat / p.lead_steps
    for b in range(bars):
        t0 = b * bar
        chord = chord_notes(p, p.chords[b % len(p.chords)])
        pad_and_bass(out, p, t0, chord, beat)
        for s in range(steps):
            if p.lead_gain and rng.random() >= p.lead_rest:
                lead_note(out, p, t0, s, chord, step_s, rng)
            for field, tone, gain, dur in DRUMS:
                pattern = getattr(p, field)
                if pattern and pattern[s % len(pattern)] == "x":
                    noise_hit(out, t0 + s * step_s, dur, gain * p.drum_gain, rng, tone)
        if p.accents and rng.random() < p.accents:  # a sudden loud stab somewhere in the bar
            at = t0 + rng.integers(steps) * step_s
            for m in chord:
                note(out, at, 0.35, hz(m + 12), "saw", p.pad_gain * 2, attack=0.005, release=0.3)
            noise_hit(out, at, 0.3, 0.5, rng)
    if p.drone:  # low tonic + tritone, throbbing slowly: unease
        throb = 0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * np.arange(len(out)) / SR)
        low = osc(hz(p.root - 24), len(out), "saw") + 0.7 * osc(hz(p.root - 18) * 1.003, len(out), "sine")
        out += p.drone * throb * low
    return master(out[: int(bars * bar * SR)], p)


def pad_and_bass(out: np.ndarray, p: Piece, t0: float, chord: list[int], beat: float) -> None:
    """The chord held for the bar (two detuned copies), and the bass on its root two octaves down."""
    bar = beat * p.beats
    for m in chord:
        for d in (0.0, p.detune):
            note(out, t0, bar * 1.05, hz(m + d), p.pad, p.pad_gain / 2, attack=bar * 0.2, release=bar * 0.3)
    if not p.bass_steps:
        note(out, t0, bar, hz(chord[0] - 24), p.bass, p.bass_gain, attack=0.3, release=bar * 0.5)
        return
    step = beat / p.bass_steps
    for s in range(p.beats * p.bass_steps):
        fifth = 7 if s % 4 == 3 and p.bass_steps > 1 else 0  # a walk up to the fifth now and then
        note(out, t0 + s * step, step * 0.9, hz(chord[0] - 24 + fifth), p.bass, p.bass_gain)


def lead_note(out: np.ndarray, p: Piece, t0: float, s: int, chord: list[int], step_s: float, rng) -> None:
    """Melody step ``s`` of the bar: the arpeggio's next chord tone, or a random one."""
    if p.arpeggio:
        pitch = chord[(s if s % 8 < 4 else 7 - s % 8) % len(chord)]  # up four steps, down four
    else:
        pitch = rng.choice(chord)
    pitch += 12 * p.lead_octave
    start = t0 + (s + p.jitter * rng.uniform(-1, 1)) * step_s
    n = int(step_s * 1.5 * SR)
    bend = p.wobble * np.sin(2 * np.pi * 0.7 * np.arange(n) / SR + s) if p.wobble else 0.0
    note(out, start, step_s * 1.5, hz(pitch + bend), p.lead, p.lead_gain, release=step_s)


def master(out: np.ndarray, p: Piece) -> np.ndarray:
    """Distortion (if any), loudness, a clean start and a 1 s fade at the end, and a soft limiter."""
    if p.drive:
        out = np.tanh(p.drive * out / (np.max(np.abs(out)) + 1e-9))
    out = out * p.loudness / (np.sqrt(np.mean(out**2)) + 1e-9)
    out *= envelope(len(out), 0.05, 1.0)
    return np.tanh(out * 1.1) * 0.8  # headroom for the encoder's overshoot on sharp transients


#: Two pieces per emotion. Kick/snare/hat patterns have one character per melody step.
PIECES: dict[str, tuple[Piece, ...]] = {
    "happy": (
        Piece("sunny_walk", 130, 60, MAJOR, (0, 4, 5, 3), seed=1, lead="square", lead_steps=2,
              kick="x...x...", snare="..x...x.", hat="xxxxxxxx", bass_steps=2, loudness=0.14),
        Piece("skip_along", 134, 67, MAJOR, (0, 3, 4, 0), seed=2, lead="saw", lead_steps=4, arpeggio=True,
              kick="x.......x.......", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.", bass_steps=2,
              lead_gain=0.14, loudness=0.14),
    ),
    "sad": (
        Piece("grey_window", 66, 57, MINOR, (0, 5, 2, 6), seed=3, lead="sine", lead_steps=1, lead_rest=0.35,
              bass_steps=0, pad="sine", pad_gain=0.35, lead_gain=0.3, loudness=0.08),
        Piece("long_letter", 60, 62, MINOR, (0, 3, 5, 4), seed=4, lead="sine", lead_steps=2, lead_rest=0.5,
              bass_steps=0, pad="saw", pad_gain=0.15, lead_gain=0.25, detune=0.05, loudness=0.07),
    ),
    "angry": (
        Piece("red_line", 160, 40, PHRYGIAN, (0, 0, 1, 0), seed=5, pad="saw", bass="saw", bass_steps=2,
              lead="saw", lead_steps=2, lead_octave=0, kick="x.x.x.x.", snare="..x...x.", hat="xxxxxxxx",
              drive=6.0, drum_gain=0.8, loudness=0.3),
        Piece("clenched", 172, 42, MINOR, (0, 5, 6, 0), seed=6, pad="square", bass="saw", bass_steps=2,
              lead="saw", lead_steps=2, lead_octave=0, kick="xx..x.x.", snare="....x..x", hat="x.x.x.x.",
              drive=8.0, drum_gain=0.9, cluster=True, loudness=0.3),
    ),
    "fear": (
        Piece("under_the_stairs", 50, 48, HARMONIC_MINOR, (0, 1, 0, 4), seed=7, pad="sine", pad_gain=0.12,
              bass_steps=0, bass_gain=0.1, lead="sine", lead_steps=2, lead_rest=0.75, lead_octave=2,
              cluster=True, drone=0.25, kick="x..x............", drum_gain=0.4, loudness=0.09),
        Piece("footsteps", 56, 45, LOCRIAN, (0, 4, 1, 0), seed=8, pad="saw", pad_gain=0.08, detune=0.3,
              bass_steps=0, bass_gain=0.1, lead="sine", lead_steps=1, lead_rest=0.6, lead_octave=2,
              wobble=0.4, drone=0.3, kick="x.x.....", drum_gain=0.35, loudness=0.09),
    ),
    "surprise": (
        Piece("pop_up", 120, 72, LYDIAN, (0, 1, 4, 0), seed=9, lead="square", lead_steps=4, arpeggio=True,
              lead_octave=1, accents=0.6, hat="x.x.x.x.x.x.x.x.", kick="x.......x.......", bass_steps=1,
              pad_gain=0.15, loudness=0.13),
        Piece("jack_in_the_box", 128, 69, MAJOR, (0, 5, 1, 4), seed=10, lead="sine", lead_steps=4,
              arpeggio=True, lead_octave=2, accents=0.7, snare="......x.........", hat="xxxxxxxxxxxxxxxx",
              bass_steps=2, pad_gain=0.15, loudness=0.13),
    ),
    "disgust": (
        Piece("sour_milk", 92, 50, LOCRIAN, (0, 4, 1, 5), seed=11, beats=7, pad="saw", pad_gain=0.15,
              detune=0.45, lead="saw", lead_steps=1, lead_octave=0, wobble=0.6, jitter=0.3, cluster=True,
              kick="x..x..x", snare="..x...x..x..xx", drum_gain=0.45, bass="square", loudness=0.11),
        Piece("wrong_turn", 84, 47, PHRYGIAN, (0, 1, 6, 1), seed=12, beats=5, pad="square", pad_gain=0.12,
              detune=0.6, lead="square", lead_steps=2, lead_octave=1, wobble=1.0, jitter=0.4, lead_rest=0.3,
              kick="x...x.x...", snare=".....x...x", drum_gain=0.4, bass="saw", loudness=0.11),
    ),
    "neutral": (
        Piece("tea_break", 96, 62, MAJOR, (0, 3, 5, 4), seed=13, pad="sine", lead="sine", lead_steps=2,
              arpeggio=True, lead_gain=0.18, hat="x.x.x.x.", kick="x.......", drum_gain=0.3, loudness=0.09),
        Piece("window_seat", 100, 65, MIXOLYDIAN, (0, 6, 3, 0), seed=14, pad="sine", lead="square",
              lead_steps=2, lead_rest=0.3, lead_gain=0.12, hat="..x...x.", kick="x...x...", drum_gain=0.25,
              loudness=0.09),
    ),
}


def write_all(out: Path, seconds: float = 24.0) -> list[Path]:
    """Render every piece into ``out/<emotion>/<name>.ogg``; returns the files written."""
    import soundfile as sf  # only this script needs it, not the device

    written = []
    for emotion, pieces in PIECES.items():
        (out / emotion).mkdir(parents=True, exist_ok=True)
        for piece in pieces:
            path = out / emotion / f"{piece.name}.ogg"
            sf.write(path, render(piece, seconds).astype(np.float32), SR, format="OGG", subtype="VORBIS",
                     compression_level=QUALITY)
            log.info("wrote %s (%.0f KB)", path, path.stat().st_size / 1024)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write <emotion>/<name>.ogg into (default: this script's folder)")
    parser.add_argument("--seconds", type=float, default=24.0, help="approximate length of each piece")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = write_all(args.out, args.seconds)
    log.info("%d songs, %.0f KB in all", len(files), sum(f.stat().st_size for f in files) / 1024)
    return 0


if __name__ == "__main__":
    sys.exit(main())
