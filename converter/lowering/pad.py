"""PAD lowering: constant paddings folded into params (4-D, right-aligned as TFLM extends shapes); int8 or int16."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import const_ints, fail, int8_or_int16, tensor

PARAM_INPUTS: tuple[int, ...] = (1,)


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    int8_or_int16(op, x, y)
    rank = len(x.shape)
    if rank > 4 or rank < 1:
        raise fail(op, f"input {x.shape}: only 1-D to 4-D tensors are supported")
    pads = const_ints(graph, op, 1, "paddings")
    if pads.size != 2 * rank:
        raise fail(op, f"paddings hold {pads.size} values, expected {2 * rank} for a {rank}-D input")
    pads = pads.reshape(rank, 2)
    if (pads < 0).any():
        raise fail(op, f"negative paddings {pads.tolist()} are not supported")
    if pads[0].any():
        raise fail(op, "padding along dimension 0 (the batch dimension) is not supported")
    want = tuple(int(d + b + a) for d, (b, a) in zip(x.shape, pads, strict=True))
    if want != tuple(y.shape):
        raise fail(op, f"output {y.shape} does not match input {x.shape} padded by {pads.tolist()}")
    before = [0] * (4 - rank) + [int(p) for p in pads[:, 0]]
    after = [0] * (4 - rank) + [int(p) for p in pads[:, 1]]
    params = {f"before{i}": before[i] for i in range(4)}
    params.update({f"after{i}": after[i] for i in range(4)})
    params["pad_value"] = y.quant.zp  # PAD (not PADV2): TFLM pads with the output zero point
    return params
