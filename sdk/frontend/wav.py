"""Read and write WAV files with numpy only.

Python's `wave` module rejects IEEE-float WAVs (what many editors export), so a small RIFF reader handles
PCM 8/16/24/32-bit, float32/64 and WAVE_FORMAT_EXTENSIBLE; audio is mixed to mono and resampled to the
front end's 16 kHz, because that is what a user's recording most often needs.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from cimconv.errors import UserError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples [n] float32 in [-1, 1], sample rate); multi-channel audio is averaged to mono."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read WAV file {path}: {exc.strerror}; check the path") from exc
    return parse_wav(data, str(path))


def parse_wav(data: bytes, path: str = "<bytes>") -> tuple[np.ndarray, int]:
    """Like `read_wav` for WAV bytes (e.g. espeak-ng's --stdout, whose size fields are not filled in)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UserError(f"{path} is not a WAV file (no RIFF/WAVE header); give a .wav recording")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"data":
            size = min(size, len(data) - pos - 8)  # streamed WAVs carry a placeholder size
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise UserError(f"{path}: truncated 'fmt ' chunk; re-export the recording")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise UserError(f"{path}: WAV file without 'fmt ' or 'data' chunk; re-export the recording")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1:
        raise UserError(f"{path}: WAV header says {channels} channels at {rate} Hz; re-export the recording")
    if tag == _PCM and bits == 8:
        x = (np.frombuffer(pcm, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and bits == 16:
        x = np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2").astype(np.float32) / 32768.0
    elif tag == _PCM and bits == 24:
        b = np.frombuffer(pcm[: len(pcm) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    elif tag == _PCM and bits == 32:
        x = np.frombuffer(pcm[: len(pcm) // 4 * 4], "<i4").astype(np.float32) / float(1 << 31)
    elif tag == _FLOAT and bits in (32, 64):
        dt = "<f4" if bits == 32 else "<f8"
        x = np.frombuffer(pcm[: len(pcm) // (bits // 8) * (bits // 8)], dt).astype(np.float32)
    else:
        raise UserError(
            f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits); use PCM 16-bit or float32"
        )
    x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    return x.astype(np.float32), rate


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling by FFT (zero-padding/truncating the spectrum); exact length n*target/rate."""
    if rate == target or len(x) == 0:
        return np.asarray(x, dtype=np.float32)
    n_out = int(round(len(x) * target / rate))
    spec = np.fft.rfft(x.astype(np.float64))
    keep = min(len(spec), n_out // 2 + 1)
    out_spec = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out_spec[:keep] = spec[:keep]
    return (np.fft.irfft(out_spec, n=n_out) * (n_out / len(x))).astype(np.float32)


def read_wav_16k(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Mono int16 samples at `rate` Hz (what both audio front ends take)."""
    x, r = read_wav(path)
    x = resample(x, r, rate)
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def write_wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    """A mono 16-bit PCM WAV file as bytes (written with cimconv.atomic by the caller)."""
    s = np.asarray(samples)
    if s.dtype != np.int16:
        s = np.clip(np.round(s.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    pcm = s.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", _PCM, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(pcm))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )
