"""Host kernels of the CPU ops, bit-exact with TFLM's reference kernels, vectorized over a batch.

Each module exports `run(op, inputs, in_recs, out_rec) -> ndarray`; arrays carry a leading batch axis in
place of the tensor's dim 0 (constant operands come unbatched, in the model's shape).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.kernels import (
    add,
    average_pool_2d,
    concatenation,
    dequantize,
    logistic,
    max_pool_2d,
    mean,
    mul,
    pad,
    quantize,
    reshape,
    softmax,
    svdf,
)

Kernel = Callable[[OpRec, list[np.ndarray], list[TensorRec], TensorRec], np.ndarray]

KERNELS: dict[str, Kernel] = {
    "AVERAGE_POOL_2D": average_pool_2d.run,
    "MAX_POOL_2D": max_pool_2d.run,
    "ADD": add.run,
    "MUL": mul.run,
    "RESHAPE": reshape.run,
    "SOFTMAX": softmax.run,
    "PAD": pad.run,
    "CONCATENATION": concatenation.run,
    "MEAN": mean.run,
    "LOGISTIC": logistic.run,
    "QUANTIZE": quantize.run,
    "DEQUANTIZE": dequantize.run,
    "SVDF": svdf.run,
}
