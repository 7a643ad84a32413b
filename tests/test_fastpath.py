"""The compiled fast path computes what the tile-by-tile model computes, element for element."""

from __future__ import annotations

import numpy as np
import pytest
from paths import INT8_MODELS, MODELS

from cimconv.pipeline import convert
from cimsdk.golden import Executor, fastpath
from cimsdk.golden.cim_ops import CimModel


class TileByTile(CimModel):
    """The same ideal arithmetic, forced through the per-tile hooks (as non-ideal models run)."""

    def tile_matvec(self, mi, tile, x):
        return super().tile_matvec(mi, tile, x)

    def tile_depthwise(self, mi, tile, x):
        return super().tile_depthwise(mi, tile, x)


@pytest.mark.skipif(not fastpath.ENABLED, reason="numba not installed")
@pytest.mark.parametrize("name", INT8_MODELS)
def test_fast_path_equals_tile_by_tile(name):
    conv = convert(MODELS / f"{name}.tflite", "nor-acim")
    fast = Executor(conv.image_bytes)
    slow = Executor(conv.image_bytes, cim=TileByTile(fast.image))
    rec = fast.image.tensors[fast.image.input_tensor]
    xs = np.random.default_rng(3).integers(-128, 128, size=(12, *rec.shape[1:])).astype(np.int8)
    _, a = fast.run(xs, capture=True)
    _, b = slow.run(xs, capture=True)
    for t in a:
        assert np.array_equal(a[t], b[t]), t
