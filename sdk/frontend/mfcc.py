"""MLPerf Tiny KWS MFCC front end in numpy, so running a model never needs TensorFlow.

It reproduces the `feature_type="mfcc"` path of the MLPerf Tiny keyword-spotting training code
(`tf.signal.stft` -> magnitude -> `linear_to_mel_weight_matrix` -> log -> `mfccs_from_log_mel_spectrograms`)
operation by operation, in float32 where TensorFlow works in float32, so the quantized features agree with
TensorFlow's on almost every value (see docs/frontends.md for the measured agreement).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
FRAME_LENGTH = 480
FRAME_STEP = 320
FFT_LENGTH = 512
NUM_MEL_BINS = 40
LOWER_HZ = 20.0
UPPER_HZ = 4000.0
NUM_MFCC = 10
NUM_FRAMES = 1 + (CLIP_SAMPLES - FRAME_LENGTH) // FRAME_STEP  # 49

KWS_LABELS = ("Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown")


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """HTK mel scale, as TensorFlow's `linear_to_mel_weight_matrix` uses it."""
    return np.float32(1127.0) * np.log1p(hz / np.float32(700.0))


@lru_cache(maxsize=4)
def mel_matrix(
    num_mel_bins: int = NUM_MEL_BINS,
    num_spectrogram_bins: int = FFT_LENGTH // 2 + 1,
    sample_rate: int = SAMPLE_RATE,
    lower_hz: float = LOWER_HZ,
    upper_hz: float = UPPER_HZ,
) -> np.ndarray:
    """[num_spectrogram_bins, num_mel_bins] triangle weights, TensorFlow's convention (DC row is zero)."""
    nyquist = sample_rate / 2.0
    linear_hz = np.linspace(0.0, nyquist, num_spectrogram_bins, dtype=np.float32)[1:]
    spec_mel = _hz_to_mel(linear_hz)[:, None]
    edges = np.linspace(
        _hz_to_mel(np.float32(lower_hz)), _hz_to_mel(np.float32(upper_hz)), num_mel_bins + 2, dtype=np.float32
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lower_slopes = (spec_mel - lower) / (center - lower)
    upper_slopes = (upper - spec_mel) / (upper - center)
    weights = np.maximum(np.float32(0.0), np.minimum(lower_slopes, upper_slopes)).astype(np.float32)
    out = np.zeros((num_spectrogram_bins, num_mel_bins), dtype=np.float32)
    out[1:] = weights
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4)
def _hann(length: int = FRAME_LENGTH) -> np.ndarray:
    """Periodic Hann window (tf.signal.hann_window default)."""
    n = np.arange(length, dtype=np.float64)
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)).astype(np.float32)
    w.setflags(write=False)
    return w


@lru_cache(maxsize=4)
def _dct_matrix(num_mel_bins: int = NUM_MEL_BINS, num_coeffs: int = NUM_MFCC) -> np.ndarray:
    """[num_mel_bins, num_coeffs] DCT-II scaled like `mfccs_from_log_mel_spectrograms`.

    TensorFlow computes the unnormalised DCT-II (2 * sum x_n cos(pi k (2n+1) / 2N)) and multiplies
    every coefficient by rsqrt(2N); k = 0 is *not* given the extra 1/sqrt(2) of a true orthonormal DCT.
    """
    n = np.arange(num_mel_bins, dtype=np.float64)[:, None]
    k = np.arange(num_coeffs, dtype=np.float64)[None, :]
    m = 2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * num_mel_bins)) / np.sqrt(2.0 * num_mel_bins)
    m = m.astype(np.float32)
    m.setflags(write=False)
    return m


def prepare_audio(audio: np.ndarray) -> np.ndarray:
    """Peak-normalise each clip and pad/cut it to 16000 samples: [batch, 16000] float32.

    Accepts int16 (or any integer) samples or floats, one clip [n] or a batch [b, n].
    """
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"audio must be [samples] or [batch, samples], got shape {a.shape}")
    x = a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        x = x / np.float32(32768.0)  # decode_wav's scaling; cancelled by the peak normalisation anyway
    peak = np.max(np.abs(x), axis=1, keepdims=True)
    x = x / np.where(peak > 0, peak, np.float32(1.0))
    n = x.shape[1]
    if n >= CLIP_SAMPLES:
        return np.ascontiguousarray(x[:, :CLIP_SAMPLES])
    return np.pad(x, ((0, 0), (0, CLIP_SAMPLES - n)))


def mfcc_float(audio: np.ndarray) -> np.ndarray:
    """Float MFCC features [batch, 49, 10] for a clip [n] or a batch of clips [b, n]."""
    x = prepare_audio(audio)
    idx = np.arange(NUM_FRAMES)[:, None] * FRAME_STEP + np.arange(FRAME_LENGTH)[None, :]
    frames = x[:, idx] * _hann()  # [b, 49, 480]
    spec = np.abs(np.fft.rfft(frames, n=FFT_LENGTH, axis=-1)).astype(np.float32)  # [b, 49, 257]
    mel = spec @ mel_matrix()
    log_mel = np.log(mel + np.float32(1e-6))
    return (log_mel @ _dct_matrix()).astype(np.float32)


def quantize(features: np.ndarray, scale: float, zero_point: int, dtype: str = "int8") -> np.ndarray:
    """Affine-quantize like TFLite's QUANTIZE op: round half away from zero, add zero point, saturate."""
    info = np.iinfo(np.dtype(dtype))
    scaled = np.asarray(features, dtype=np.float64) / float(scale)
    q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + int(zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def mfcc_features(
    audio: np.ndarray, scale: float = 0.5847029, zero_point: int = 83, dtype: str = "int8"
) -> np.ndarray:
    """Model-ready quantized MFCC input [batch, 49, 10, 1] (defaults: the MLPerf KWS reference model)."""
    return quantize(mfcc_float(audio), scale, zero_point, dtype)[..., None]
