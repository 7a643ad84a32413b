"""The multiply-accumulate core of every host model of a CiM op: one kernel family, named backends.

A CiM op is gather (im2col), multiply-accumulate, finish. The gather and the finish are shared; the
backends differ only in how they multiply-accumulate and which finish they use:

| backend | accumulate | finish | used by |
|---|---|---|---|
| `tiles` | tile by tile as the mapping cut the matrix, int64, partial sums added across row tiles | `requant` (TFLM integer arithmetic) | the reference the others are checked against |
| `fast` | the whole matrix at once through the machine's BLAS in float32 (float64, int64) where `exactness` proves the sums exact; depthwise in int32 fused with its requantization (`fused`) | `requant` | the golden model (`cimsdk.golden`), `run`, `compare`, `explore` references |
| `noisy` | the same dense and depthwise kernels on each simulated chip's effective (perturbed) weights | `noisy.finish` (noise, float scale, clip) | `cimsdk.sim` (`simulate`, `explore`) |

Modules: `geometry` (padding and window gather), `exactness` (when float sums of int8 products are exact),
`accumulate` (the dense and depthwise kernels), `requant` (bias + requantization to int8), `fused` (the fast
backend's compiled im2col and its one-pass depthwise + requantization in int32), `noisy` (the noise pool, the
noisy finish and the one-pass noisy depthwise). `tests/test_mac_backends.py` runs every backend on the same cases.
"""

from __future__ import annotations

BACKENDS = ("tiles", "fast", "noisy")

__all__ = ["BACKENDS"]
