"""The floating-point CiM macro's arithmetic (BF16), exactly: the golden model of `sram-fpcim`-class targets.

Published floating-point SRAM CiM macros (BF16, ISSCC 2022 15.5 and ISSCC 2023 7.2; docs/targets.md) do not
multiply floats in the array. They align the mantissas of a group of rows to the group's largest exponent,
feed the aligned integer mantissas bit-serially into an integer adder tree, and normalize the integer sum back
to floating point. This module is that arithmetic, step by step (docs/targets.md, "Floating-point targets"):

1. inputs: float32 activations rounded to BF16 (nearest, ties to even), read as signed 9-bit mantissa
   integers m = +-(128 + f) and biased exponents E (E = 0: zero);
2. pre-alignment: the rows of a matrix column are cut into groups of `group` consecutive rows (`rows_active`,
   one adder-tree pass); in each group, per input vector, every input mantissa is shifted right by
   (group max E - its E), truncating the magnitude (toward zero); the weights are aligned the same way per
   group and column once, when they are written;
3. integer accumulation: the group's sum of aligned input mantissa x aligned weight mantissa, exact
   (|sum| <= group x 255^2 < 2^22);
4. normalization: the group sum times 2^(Ex + Ew - 2 x 134) as a float32 (exact: the sum has fewer than 24
   significant bits; only results below float32's normal range round, to nearest even);
5. the groups' float32 results added in group order in float32, then the float32 bias, then the fused
   activation's clamp (float32 bounds): the float32 output.

Every step is integer or a correctly rounded float32 operation in a fixed order, so the result is
deterministic: the emulated coprocessor runs this code, and `cimsdk compare` measures its distance from float.
"""

from __future__ import annotations

import numpy as np

from cimconv.bf16 import VALUE_SHIFT, fields, to_bf16


def encode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 activations -> (signed mantissa, exponent) int32 arrays of their BF16 values."""
    return fields(to_bf16(np.asarray(x, dtype=np.float32)))


def align(mant: np.ndarray, exp: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre-align one group along `axis`: mantissas shifted to the group's largest exponent, magnitudes
    truncated. Returns (aligned mantissas, the group's exponent with `axis` removed)."""
    top = exp.max(axis=axis)
    shift = np.minimum(np.expand_dims(top, axis) - exp, 31)
    mag = np.abs(mant) >> shift
    return np.where(mant < 0, -mag, mag), top


def grouped(a: np.ndarray, axis: int, group: int) -> np.ndarray:
    """`a` with `axis` (length K) zero-padded to whole groups and split into (K / group, group) there."""
    k = a.shape[axis]
    n = -(-k // group)
    if n * group != k:
        pad = [(0, 0)] * a.ndim
        pad[axis] = (0, n * group - k)
        a = np.pad(a, pad)
    return a.reshape(*a.shape[:axis], n, group, *a.shape[axis + 1 :])


def aligned_weights(words: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    """BF16 weights (N, K) -> aligned mantissas (N, groups, group) and group exponents (N, groups)."""
    m, e = fields(words)
    return align(grouped(m, 1, group), grouped(e, 1, group), axis=2)


def normalize(acc: np.ndarray, exp: np.ndarray) -> np.ndarray:
    """Integer group sums x 2^(exp - 2 x VALUE_SHIFT) as float32 (exact unless below the normal range)."""
    return np.ldexp(acc.astype(np.float64), (exp - 2 * VALUE_SHIFT).astype(np.int32)).astype(np.float32)


def finish(parts: list[np.ndarray], bias: np.ndarray, lo: np.float32, hi: np.float32) -> np.ndarray:
    """Group results added in order in float32, then the bias, then the activation clamp."""
    y = parts[0].copy()
    for p in parts[1:]:
        y += p
    y += bias.astype(np.float32)
    return np.minimum(np.maximum(y, lo), hi)


def dense(xm: np.ndarray, xe: np.ndarray, w: tuple[np.ndarray, np.ndarray], group: int, bias: np.ndarray,
          lo: np.float32, hi: np.float32) -> np.ndarray:
    """Input rows (M, K) as (mantissa, exponent), aligned weights of `aligned_weights` -> float32 (M, N)."""
    wa, we = w
    xa, xt = align(grouped(xm, 1, group), grouped(xe, 1, group), axis=2)  # (M, G, group), (M, G)
    xa = xa.astype(np.float64)
    wa64 = wa.astype(np.float64)
    parts = []
    for g in range(wa.shape[1]):
        acc = xa[:, g, :] @ wa64[:, g, :].T  # integers below 2^22: exact in float64
        parts.append(normalize(acc, xt[:, g, None] + we[None, :, g]))
    return finish(parts, bias, lo, hi)


def depthwise(xm: np.ndarray, xe: np.ndarray, w: tuple[np.ndarray, np.ndarray], group: int, bias: np.ndarray,
              lo: np.float32, hi: np.float32) -> np.ndarray:
    """Windows (M, K, N) as (mantissa, exponent), one column per channel -> float32 (M, N)."""
    wa, we = w  # (N, G, group), (N, G)
    xa, xt = align(grouped(xm, 1, group), grouped(xe, 1, group), axis=2)  # (M, G, group, N), (M, G, N)
    parts = []
    for g in range(wa.shape[1]):
        acc = np.einsum("mjn,nj->mn", xa[:, g].astype(np.int64), wa[:, g].astype(np.int64))
        parts.append(normalize(acc, xt[:, g] + we[None, :, g]))
    return finish(parts, bias, lo, hi)


def bf16_round_trip(x: np.ndarray) -> np.ndarray:
    """float32 values as the macro's input path holds them (BF16, subnormals flushed), for reports."""
    m, e = encode(x)
    return np.ldexp(m.astype(np.float64), e - VALUE_SHIFT).astype(np.float32)


__all__ = ["aligned_weights", "bf16_round_trip", "dense", "depthwise", "encode"]
