"""BF16 numbers as a floating-point CiM macro stores and reads them (docs/targets.md, "Floating-point targets").

A float32 value becomes BF16 by rounding to nearest, ties to even (the top 16 bits of the float32 after adding
0x7FFF plus the lowest kept bit): what the converter does to weights and the macro's input path to
activations. The macro reads a BF16 word as a sign, an 8-bit biased exponent E and a 7-bit fraction f: its
value is (-1)^sign x (128 + f) x 2^(E - 134) when E > 0; E = 0 (zero and subnormals) reads as zero (flushed).
`fields` gives the signed 9-bit mantissa integer +-(128 + f) and E, the operands of the exponent pre-alignment.
"""

from __future__ import annotations

import numpy as np

MANTISSA_BITS = 8  # hidden bit + 7 fraction bits
EXP_BIAS = 127
#: value = mantissa x 2^(E - VALUE_SHIFT) for the signed mantissa integer of `fields`
VALUE_SHIFT = EXP_BIAS + MANTISSA_BITS - 1


def to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 values -> BF16 words (uint16), round to nearest even. NaN is refused by the callers (models are
    finite); an overflow past the largest BF16 rounds to infinity as IEEE rounding does."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def from_bf16(b: np.ndarray) -> np.ndarray:
    """BF16 words -> the float32 values they hold exactly (subnormals kept: for reports, not the macro)."""
    return (np.asarray(b, dtype=np.uint32) << 16).view(np.float32)


def fields(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BF16 words -> (signed mantissa integer in [-255, 255], biased exponent E); E = 0 gives mantissa 0."""
    b = np.asarray(b, dtype=np.int32)
    exp = (b >> 7) & 0xFF
    mag = np.where(exp > 0, 128 + (b & 0x7F), 0)
    mant = np.where(b & 0x8000, -mag, mag)
    return mant.astype(np.int32), exp.astype(np.int32)
