"""Host kernels of the CPU ops, bit-exact with TFLM's reference kernels, vectorized over a batch.

Each module exports `run(op, inputs, in_recs, out_rec) -> ndarray`; arrays carry a leading batch axis in
place of the tensor's dim 0 (constant operands come unbatched, in the model's shape). The opcode -> kernel
table `KERNELS` is generated from the op specification (contracts/ops.py) into `registry.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimconv.image import OpRec, TensorRec
from cimsdk.golden.kernels.registry import KERNELS

Kernel = Callable[[OpRec, list[np.ndarray], list[TensorRec], TensorRec], np.ndarray]

__all__ = ["KERNELS", "Kernel"]
