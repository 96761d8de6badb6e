"""Little songs for the library and recommender tests: a beat, a chord progression and an arpeggio,
with a chosen tempo, mode (major/minor), brightness and level, written with soundfile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
MAJOR_TRIADS = ((0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7))  # I IV V I
MINOR_TRIADS = ((0, 3, 7), (5, 8, 12), (7, 10, 14), (0, 3, 7))  # i iv v i


def render(bpm: float, mode: str, bright: float, level: float, seconds: float = 6.0, root: int = 57,
           seed: int = 0) -> np.ndarray:
    """Mono float32 samples. ``bright`` 0..1 moves the chords up to two octaves higher and adds
    harmonics; ``level`` is the RMS; every beat has a drum hit, fast songs an arpeggio in eighths."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    beat = 60.0 / bpm
    triads = MAJOR_TRIADS if mode == "major" else MINOR_TRIADS
    octave = 12 * round(2 * bright)
    harmonics = 1 + int(round(7 * bright))
    t_all = np.arange(n) / SR

    def tone(start: float, dur: float, midi: float, gain: float) -> None:
        i, m = int(start * SR), int(dur * SR)
        m = min(m, n - i)
        if m <= 0:
            return
        t = t_all[:m]
        f = 440.0 * 2 ** ((midi - 69) / 12)
        wave = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, harmonics + 1) if k * f < SR / 2)
        env = np.minimum(1.0, t / 0.01) * np.exp(-t * 3.0 / dur)
        out[i : i + m] += gain * wave * env

    bar = 4 * beat
    b = 0
    while b * bar < seconds:
        chord = triads[b % len(triads)]
        for k, step in enumerate(chord):  # the chord, held for the bar, root doubled below
            tone(b * bar, bar, root + octave + step, 0.25 if k else 0.35)
        tone(b * bar, bar, root - 12 + chord[0], 0.3)
        for s in range(8 if bpm >= 110 else 0):  # arpeggio in eighths
            tone(b * bar + s * beat / 2, beat / 2, root + 12 + octave + chord[s % 3], 0.2)
        b += 1
    k = 0
    while k * beat < seconds:  # a drum on every beat: a noise burst
        i = int(k * beat * SR)
        m = min(int(0.08 * SR), n - i)
        out[i : i + m] += (0.8 if bright > 0.5 else 0.5) * rng.standard_normal(m) * np.exp(-np.arange(m) / (0.015 * SR))
        k += 1
    out *= level / (np.sqrt(np.mean(out**2)) + 1e-9)
    return np.clip(out, -0.99, 0.99).astype(np.float32)


#: Kinds of song, each with the mood its sound should imply: (bpm, mode, brightness, level).
KINDS: dict[str, tuple[float, str, float, float]] = {
    "bright": (150.0, "major", 1.0, 0.20),  # fast, major, bright, loud: happy
    "gloomy": (62.0, "minor", 0.0, 0.04),  # slow, minor, dark, quiet: sad
    "calm": (96.0, "major", 0.5, 0.08),  # middling everything, major: neutral
    "fierce": (160.0, "minor", 1.0, 0.30),  # fast, minor, bright, loud: angry (or fear, its neighbour)
}


def write_song(path: Path, kind: str, seconds: float = 6.0, seed: int = 0, root: int = 57) -> Path:
    """Write a ``KINDS[kind]`` song to ``path`` (format from the suffix: .wav, .flac, .ogg)."""
    bpm, mode, bright, level = KINDS[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".ogg": dict(format="OGG", subtype="VORBIS"), ".wav": {}, ".flac": {}}[path.suffix]
    sf.write(path, render(bpm, mode, bright, level, seconds, root=root, seed=seed), SR, **fmt)
    return path


HAPPY_HZ, SAD_HZ = 440.0, 1320.0  # the two tones the player tests tell apart in SDL's output


def tone(path: Path, freq: float, seconds: float) -> Path:
    """A sine tone file; the format follows the suffix (.ogg, .wav, .flac)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    fmt = {".ogg": dict(format="OGG", subtype="VORBIS"), ".wav": {}, ".flac": {}}[path.suffix]
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR, **fmt)
    return path


def analyse(raw: Path, mixer: list, window_s: float = 0.02) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window RMS and the energy near the happy and the sad tone, from SDL's disk output."""
    freq, size, channels = mixer
    assert size == -16, f"expected signed 16-bit output, got {size}"
    samples = np.fromfile(raw, dtype="<i2").astype(np.float64) / 32768.0
    mono = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    n = int(window_s * freq)
    frames = mono[: len(mono) // n * n].reshape(-1, n)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
    bins = np.fft.rfftfreq(n, 1 / freq)

    def band(f: float) -> np.ndarray:
        return spectrum[:, np.abs(bins - f) < 80].sum(axis=1)

    return np.sqrt((frames**2).mean(axis=1)), band(HAPPY_HZ), band(SAD_HZ)
