"""A song's sound in a few numbers: tempo, loudness, onset activity, brightness, major/minor, timbre.

Decoding is libsndfile's (through ``soundfile``: OGG Vorbis, FLAC, WAV and, from libsndfile 1.1 on,
MP3), the analysis plain numpy: one excerpt of each song (``EXCERPT_S`` seconds from 40 % into it,
past most intros), mixed to mono and decimated to about 11 kHz, then two short-time Fourier
transforms. On a desktop core that is ~30-60 ms per song, most of it decoding; see docs/music.md
for the measurements and why not librosa (numba + llvmlite + scipy + scikit-learn, ~370 MB and
seconds of import and JIT on a Pi, for the same few features).

``analyse(path)`` gives a ``Features`` (``edge.music.analysis`` runs it in the background and caches
the results). Decoding reads the excerpt in blocks of at most ``BLOCK_BYTES`` and mixes each block
to mono at once, so a huge file with many channels costs the mono excerpt's memory, not every channel
of it as float32.

What each number is (all over the excerpt):

- ``tempo`` (beats per minute, 0 when there is no pulse) and ``pulse`` (0..1, how clear the beat
  is): the autocorrelation of the onset envelope (positive log-mel flux) between 40 and 220 bpm,
  weighted by a log-normal prior around 120 bpm (one octave wide, as librosa's) so that the beat, not the bar or the eighth note,
  wins; the peak's height over the zero lag's is ``pulse``.
- ``loudness`` (dBFS): the RMS level of the excerpt.
- ``activity`` (dB): the mean positive change of the log-mel spectrum per frame, per band: how
  busy the sound is (drums, fast notes), independent of the level.
- ``brightness`` (Hz): the spectral centroid, weighted by frame energy.
- ``mode`` (-1 minor .. +1 major) and ``key`` (0 = C .. 11 = B, the tonic): the chroma vector
  (80-2000 Hz, per-frame normalised) correlated with the 24 rotated Krumhansl-Kessler key profiles;
  ``mode`` is the best major key's correlation minus the best minor key's, scaled by 2 and clipped.
- ``mfcc``: the means of 13 mel-frequency cepstral coefficients (40 mel bands, DCT-II): a compact
  timbre summary, used for "more like these".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.errors import MoodplayerError

log = logging.getLogger(__name__)

#: Bump when the analysis changes: cached features of another version are recomputed.
VERSION = 1
SR = 11025  # analysis rate: detail up to 5.5 kHz, a quarter of the work of 44.1 kHz
EXCERPT_S = 45.0  # seconds analysed per song
START_AT = 0.4  # where the excerpt starts, as a fraction of the part of the song that is left over
N_MELS, N_MFCC = 40, 13
FFT, HOP = 1024, 256  # ~93 ms windows every ~23 ms: onsets, loudness, brightness, timbre
CHROMA_FFT, CHROMA_HOP = 4096, 2048  # 2.7 Hz bins: semitones apart down to ~80 Hz
TEMPO_RANGE = (40.0, 220.0)
TEMPO_PRIOR = (120.0, 1.0)  # centre (bpm) and spread (octaves) of the tempo prior
BLOCK_BYTES = 1 << 20  # decoded float32 samples (all channels) held at once while reading an excerpt

# Krumhansl & Kessler (1982) key profiles, C major and C minor.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


class DecodeError(MoodplayerError):
    """The file can't be decoded (corrupt, truncated, or a format libsndfile lacks)."""

    def __init__(self, message: str, unsupported: bool = False):
        super().__init__(message)
        self.unsupported = unsupported  # the format, not the file, is the problem (e.g. MP3 on old libsndfile)


@dataclass(frozen=True)
class Features:
    """One song's numbers (see the module docstring); ``seconds`` is how much was analysed."""

    tempo: float
    pulse: float
    loudness: float
    activity: float
    brightness: float
    mode: float
    key: int
    mfcc: tuple[float, ...]
    seconds: float

    #: The scalar features in the order ``vector`` puts them, before the MFCCs.
    SCALARS = ("tempo", "pulse", "loudness", "activity", "brightness", "mode")

    def vector(self) -> np.ndarray:
        """The features as one float vector: the scalars (tempo as log2, brightness as log2), then
        MFCCs 1-12 (MFCC 0 is the level, already in ``loudness``)."""
        head = [math.log2(max(self.tempo, 1.0)), self.pulse, self.loudness, self.activity,
                math.log2(max(self.brightness, 1.0)), self.mode]
        return np.array(head + list(self.mfcc[1:]), np.float64)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mfcc"] = [round(float(v), 4) for v in self.mfcc]
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping) -> Features:
        return cls(tempo=float(d["tempo"]), pulse=float(d["pulse"]), loudness=float(d["loudness"]),
                   activity=float(d["activity"]), brightness=float(d["brightness"]), mode=float(d["mode"]),
                   key=int(d["key"]), mfcc=tuple(float(v) for v in d["mfcc"]), seconds=float(d["seconds"]))


# -- decoding ----------------------------------------------------------------------------------------


def decode(path: str | Path, sr: int = SR, seconds: float = EXCERPT_S) -> tuple[np.ndarray, float]:
    """An excerpt of ``path`` as mono float32 at about ``sr`` Hz (an integer fraction of the file's
    rate), and that rate. Raises ``DecodeError`` for a file libsndfile can't read."""
    try:
        import soundfile as sf
    except ImportError:  # songs then play by their labels only
        raise DecodeError("the soundfile package is not installed (pip install soundfile)", unsupported=True) from None
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            q = max(1, int(round(rate / sr)))
            decimator = Decimator(q)
            for block in _mono_blocks(f, int(seconds * rate)):
                decimator.push(block)
    except (getattr(sf, "LibsndfileError", RuntimeError), RuntimeError, ValueError, TypeError, OSError) as e:
        text = str(e)
        unsupported = "unknown format" in text.lower() or "not supported" in text.lower()
        if Path(path).suffix.lower() == ".mp3" and "MP3" not in sf.available_formats():
            unsupported = True
            text = f"libsndfile {sf.__libsndfile_version__} has no MP3 decoder (1.1 or newer has)"
        raise DecodeError(text, unsupported) from None
    if decimator.samples_in < rate // 2:
        raise DecodeError(f"only {decimator.samples_in / max(rate, 1):.2f} s of audio")
    if not decimator.finite:
        raise DecodeError("the decoded samples are not finite")
    return decimator.finish(), rate / q


def _mono_blocks(f, want: int):
    """Up to ``want`` frames of the open ``soundfile.SoundFile`` ``f`` from ``START_AT`` into it, mixed
    to mono, a block (``BLOCK_BYTES`` of decoded samples) at a time."""
    if f.seekable() and f.frames > want:
        f.seek(int((f.frames - want) * START_AT))
    block = max(1024, BLOCK_BYTES // (4 * max(f.channels, 1)))
    left = f.frames - f.tell() if f.seekable() and f.frames > 0 else want
    left = max(0, min(want, left))
    while left > 0:
        data = f.read(min(block, left), dtype="float32", always_2d=True)
        if not len(data):
            break
        left -= len(data)
        yield data.mean(axis=1, dtype=np.float32)


class Decimator:
    """Low-pass (windowed sinc, cut-off at 0.45 of the new rate) and keep every ``q``-th sample, fed a
    block at a time (``push``), so that the excerpt at the file's rate is never held whole (8 MB for
    45 s at 44.1 kHz): only a block and the filter's reach (``taps // 2`` samples each side).

    Polyphase: ``y[j] = sum_k h[k] * x[j*q + k - taps//2]``, only the kept samples computed, one vector
    operation per tap, the terms added in ``k`` order for every ``j``, with zeros outside the signal:
    the same float32 result whatever the blocks."""

    def __init__(self, q: int) -> None:
        self.q = q
        self.taps = 8 * q + 1
        n = np.arange(self.taps) - (self.taps - 1) / 2
        h = np.sinc(0.9 * n / q) * np.hamming(self.taps)
        self.h = (h / h.sum()).astype(np.float32)
        self.half = self.taps // 2
        self.samples_in = 0
        self.finite = True
        self._buf = np.zeros(self.half if q > 1 else 0, np.float32)  # x from index _base on (zeros before 0)
        self._base = -self.half if q > 1 else 0
        self._next = 0  # the next output index j
        self._out: list[np.ndarray] = []

    def push(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        self.samples_in += len(x)
        self.finite = self.finite and bool(np.isfinite(x).all())
        if self.q == 1:
            self._out.append(x)
            return
        self._buf = np.concatenate([self._buf, x])
        end = self._base + len(self._buf)  # x is known below this index
        self._emit((end - 1 - self.half) // self.q + 1)  # every j whose last tap is known

    def finish(self) -> np.ndarray:
        """The decimated signal: ``ceil(samples_in / q)`` samples."""
        if self.q > 1:
            self._buf = np.concatenate([self._buf, np.zeros(self.half + self.q, np.float32)])
            self._emit((self.samples_in + self.q - 1) // self.q)
        out = np.concatenate(self._out) if self._out else np.zeros(0, np.float32)
        self._out = []
        return out

    def _emit(self, stop: int) -> None:
        """Compute y[_next:stop] from the buffer, then drop the samples no later j needs."""
        count = stop - self._next
        if count <= 0:
            return
        offset = self._next * self.q - self.half - self._base  # x[j*q - half] for j = _next, in the buffer
        y = np.zeros(count, np.float32)
        for k in range(self.taps):
            y += self.h[k] * self._buf[offset + k :: self.q][:count]
        self._out.append(y)
        self._next = stop
        keep = self._next * self.q - self.half - self._base
        self._buf, self._base = self._buf[keep:], self._base + keep


def _decimate(x: np.ndarray, q: int) -> np.ndarray:
    """``x`` through a ``Decimator`` in one piece."""
    d = Decimator(q)
    d.push(x)
    return d.finish()


# -- analysis ----------------------------------------------------------------------------------------


def analyse(path: str | Path, seconds: float = EXCERPT_S) -> Features:
    """Decode an excerpt of ``path`` and compute its ``Features``; raises ``DecodeError``."""
    y, sr = decode(path, seconds=seconds)
    return analyse_signal(y, sr)


def analyse_signal(y: np.ndarray, sr: float) -> Features:
    """``Features`` of a mono signal at ``sr`` Hz (any rate from 8 kHz up works)."""
    y = np.asarray(y, np.float32)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    loudness = 20 * math.log10(max(rms, 1e-6))
    if len(y) < FFT:
        y = np.pad(y, (0, FFT - len(y)))
    power = _stft_power(y, FFT, HOP)  # frames x bins
    freqs = np.fft.rfftfreq(FFT, 1 / sr)

    frame_energy = power.sum(axis=1)
    weight = frame_energy / max(float(frame_energy.sum()), 1e-12)
    mel = _dot(power, _mel_filters(sr, FFT, N_MELS))  # frames x mels
    mag = np.sqrt(power, out=power)  # in place: power is not needed after the mel bands
    centroids = _dot(mag, freqs.astype(np.float32)) / np.maximum(mag.sum(axis=1), 1e-12)
    brightness = float(np.sum(centroids * weight))

    log_mel = 10 * np.log10(np.maximum(mel, 1e-10))
    log_mel = np.maximum(log_mel, log_mel.max() - 80.0)
    mfcc = _dot(log_mel.astype(np.float32), _dct_matrix(N_MELS, N_MFCC)).mean(axis=0)

    flux = np.maximum(np.diff(log_mel, axis=0), 0.0).mean(axis=1)  # the onset envelope
    activity = float(flux.mean()) if len(flux) else 0.0
    tempo, pulse = _tempo(flux, sr / HOP)

    mode, key = _mode_and_key(y, sr)
    return Features(tempo=tempo, pulse=pulse, loudness=loudness, activity=activity, brightness=brightness,
                    mode=mode, key=key, mfcc=tuple(float(v) for v in mfcc), seconds=len(y) / sr)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` (or ``a @ b`` for a vector ``b``) without BLAS: ``einsum`` runs on the calling
    thread, where OpenBLAS would wake its worker threads, which compete with the camera loop's
    inference threads (on a loaded machine a 1000 x 500 matrix-vector product took 15 ms that way,
    0.05 ms this way)."""
    return np.einsum("ij,j->i", a, b) if b.ndim == 1 else np.einsum("ij,kj->ik", a, b)


STFT_CHUNK_SAMPLES = 1 << 16  # window samples transformed at once (64 frames at FFT, 16 at CHROMA_FFT)


def _stft_power(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|rfft|^2 of Hann-windowed frames, frames x bins, float32, a chunk of frames
    (``STFT_CHUNK_SAMPLES``) at a time. The whole excerpt at once held the windowed frames, the
    complex spectrum, numpy's FFT buffers and two real copies (peaks of 25-50 MB for a 45 s excerpt,
    the largest share of the process's peak memory); the rows are the same either way."""
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    window = np.hanning(n_fft).astype(np.float32)
    power = np.empty((len(frames), n_fft // 2 + 1), np.float32)
    chunk = max(1, STFT_CHUNK_SAMPLES // n_fft)
    for i in range(0, len(frames), chunk):
        spec = np.fft.rfft(frames[i : i + chunk] * window, axis=1)
        power[i : i + chunk] = spec.real**2 + spec.imag**2
    return power


_FILTERS: dict[tuple, np.ndarray] = {}


def _mel_filters(sr: float, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), n_mels x (n_fft // 2 + 1)."""
    key = ("mel", sr, n_fft, n_mels)
    if key not in _FILTERS:
        def mel(f):
            return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

        def hz(m):
            return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

        edges = hz(np.linspace(mel(30.0), mel(sr / 2), n_mels + 2))
        freqs = np.fft.rfftfreq(n_fft, 1 / sr)
        lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        _FILTERS[key] = np.maximum(0.0, np.minimum(up, down)).astype(np.float32)
    return _FILTERS[key]


def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II rows (n_out x n_in)."""
    key = ("dct", n_in, n_out)
    if key not in _FILTERS:
        k = np.arange(n_out)[:, None]
        n = np.arange(n_in)[None, :]
        m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
        m[0] /= math.sqrt(2.0)
        _FILTERS[key] = m.astype(np.float32)
    return _FILTERS[key]


def _tempo(onset: np.ndarray, fps: float) -> tuple[float, float]:
    """(bpm, pulse clarity 0..1) from the onset envelope's autocorrelation; (0, 0) without a pulse."""
    if len(onset) < 4 * fps:
        return 0.0, 0.0
    width = max(1, int(fps))  # remove the slow trend (a 1 s moving average)
    o = onset - np.convolve(onset, np.ones(width) / width, mode="same")
    o = np.maximum(o, 0.0)
    o = np.convolve(o, [0.25, 0.5, 1.0, 0.5, 0.25], mode="same")  # a beat falls between frames
    o = o - o.mean()
    n = len(o)
    spec = np.fft.rfft(o, 2 * n)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2)[:n]
    if ac[0] <= 1e-12:
        return 0.0, 0.0
    ac = ac / ac[0]
    lo = max(1, int(math.floor(60.0 * fps / TEMPO_RANGE[1])))
    hi = min(n - 2, int(math.ceil(60.0 * fps / TEMPO_RANGE[0])))
    if hi <= lo:
        return 0.0, 0.0
    lags = np.arange(lo, hi + 1)
    bpm = 60.0 * fps / lags
    centre, spread = TEMPO_PRIOR
    prior = np.exp(-0.5 * (np.log2(bpm / centre) / spread) ** 2)
    scored = np.maximum(ac[lo : hi + 1], 0.0) * prior
    i = int(np.argmax(scored))
    lag = float(lags[i])
    if 0 < i < len(lags) - 1:  # parabolic refinement of the peak
        a, b, c = ac[lags[i] - 1], ac[lags[i]], ac[lags[i] + 1]
        denom = a - 2 * b + c
        if denom < 0:
            lag += float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    pulse = float(np.clip(ac[lags[i]], 0.0, 1.0))
    if pulse < 0.05:
        return 0.0, pulse
    return 60.0 * fps / lag, pulse


def _mode_and_key(y: np.ndarray, sr: float) -> tuple[float, int]:
    """(mode -1..1, tonic pitch class) from a chroma vector and the Krumhansl-Kessler profiles."""
    if len(y) < CHROMA_FFT:
        y = np.pad(y, (0, CHROMA_FFT - len(y)))
    power = _stft_power(y, CHROMA_FFT, CHROMA_HOP)
    chroma = _dot(power, _chroma_map(sr, CHROMA_FFT))  # frames x 12
    chroma = np.sqrt(chroma)
    chroma /= np.maximum(chroma.max(axis=1, keepdims=True), 1e-9)  # every frame counts alike
    active = power.sum(axis=1) > 1e-3 * max(float(power.sum(axis=1).max()), 1e-12)
    profile = chroma[active].mean(axis=0) if active.any() else chroma.mean(axis=0)
    if float(profile.std()) < 1e-9:
        return 0.0, 0
    major = np.array([_corr(profile, np.roll(MAJOR_PROFILE, k)) for k in range(12)])
    minor = np.array([_corr(profile, np.roll(MINOR_PROFILE, k)) for k in range(12)])
    mode = float(np.clip(2.0 * (major.max() - minor.max()), -1.0, 1.0))
    key = int(np.argmax(major)) if major.max() >= minor.max() else int(np.argmax(minor))
    return mode, key


def _chroma_map(sr: float, n_fft: int) -> np.ndarray:
    """12 x bins: each bin from 80 to 2000 Hz to its nearest pitch class."""
    key = ("chroma", sr, n_fft)
    if key not in _FILTERS:
        freqs = np.fft.rfftfreq(n_fft, 1 / sr)
        m = np.zeros((12, len(freqs)), np.float32)
        use = (freqs >= 80.0) & (freqs <= 2000.0)
        pc = np.round(69 + 12 * np.log2(freqs[use] / 440.0)).astype(int) % 12
        m[pc, np.flatnonzero(use)] = 1.0
        _FILTERS[key] = m
    return _FILTERS[key]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(np.sum(a * b) / (np.sqrt(np.sum(a * a) * np.sum(b * b)) + 1e-12))


# -- tags --------------------------------------------------------------------------------------------


def read_tags(path: Path) -> dict:
    """Title, artist and duration (s) from the file's tags via mutagen; what it can't find is absent."""
    try:
        import mutagen
    except ImportError:
        return {}
    try:
        f = mutagen.File(str(path), easy=True)
    except Exception as e:  # mutagen raises many kinds on a damaged file
        log.debug("no tags from %s: %s", path, e)
        return {}
    if f is None:
        return {}
    tags: dict = {}
    for name in ("title", "artist"):
        try:
            value = (f.tags or {}).get(name)
        except Exception:
            value = None
        if value:
            tags[name] = str(value[0] if isinstance(value, list) else value)
    length = getattr(getattr(f, "info", None), "length", None)
    if length:
        tags["duration"] = round(float(length), 2)
    return tags
