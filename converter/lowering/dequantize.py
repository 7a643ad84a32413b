"""DEQUANTIZE lowering: only as the model's output edge; the device passes int8 on, the host converts."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail, int8, tensor

PARAM_INPUTS: tuple[int, ...] = ()


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    int8(op, x)
    if x.shape != y.shape:
        raise fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have the same shape")
    if y.dtype != "float32":
        raise fail(op, f"output is {y.dtype}; only int8 -> float32 DEQUANTIZE is supported")
    if op.outputs[0] not in graph.outputs:
        raise fail(op, "DEQUANTIZE inside the graph is not supported, only at the model output")
    return {}
