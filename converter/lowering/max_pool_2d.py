"""MAX_POOL_2D lowering: TFLM pooling Prepare (window maxima clamped to the activation range); int8 or int16."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._pool import lower_pool

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    return lower_pool(graph, op, int16=True)
