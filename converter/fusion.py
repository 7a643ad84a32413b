"""Operator fusion that removes intermediate buffers: a PAD whose only reader is a CiM convolution.

A CiM CONV_2D / DEPTHWISE_CONV_2D reads its input zero point at every tap outside the input (the zero point
is folded into the bias, docs/image-format.md). A PAD that pads height and width with that same value,
feeding only that convolution, is therefore the convolution's own padding: the convolution reads the PAD's
input with the PAD's leading rows and columns added to its `pad_top` / `pad_left`, and the padded copy
(often the largest buffer of the model: mithan_vww's 42x42x48 one) is never made. Bit-exact by
construction: every tap reads the same value as before. The fused padding need not be TFLite's SAME or
VALID, so image readers accept any leading padding below the window's extent (`image_check._window`,
`window_ok` in the firmware runtime).
"""

from __future__ import annotations

from dataclasses import replace

from cimconv.ir import Graph
from cimconv.lowering import Lowered

CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _readers(ops: list[Lowered]) -> dict[int, list[int]]:
    readers: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            readers.setdefault(t, []).append(i)
    return readers


def _fits(size: int, out: int, k: int, stride: int, dil: int, pad: int) -> bool:
    """The padding the readers accept: leading below the window's extent, trailing no more than that."""
    eff = (k - 1) * dil + 1
    after = (out - 1) * stride + eff - size - pad
    return 0 <= pad <= eff - 1 and -(stride - 1) <= after <= eff - 1


def fuse_pads(graph: Graph, ops: list[Lowered], outputs: list[int], enabled: bool = True) -> list[Lowered]:
    """The program with each fusable PAD folded into the convolution that reads it (see the module doc)."""
    if not enabled:
        return ops
    readers = _readers(ops)
    fused: dict[int, Lowered] = {}  # conv index -> conv reading the PAD's input
    dropped: set[int] = set()
    for i, pad in enumerate(ops):
        if pad.opcode != "PAD" or pad.outputs[0] in outputs or len(readers.get(pad.outputs[0], [])) != 1:
            continue
        j = readers[pad.outputs[0]][0]
        conv = ops[j]
        if not conv.cim or conv.opcode not in CONVS or conv.inputs[0] != pad.outputs[0]:
            continue
        p, q = pad.params, conv.params
        x, y = graph.tensors[pad.inputs[0]], graph.tensors[conv.outputs[0]]
        if len(x.shape) != 4 or p["before0"] or p["after0"] or p["before3"] or p["after3"]:
            continue
        if p["pad_value"] != q["in_zp"]:
            continue
        top, left = q["pad_top"] + p["before1"], q["pad_left"] + p["before2"]
        if not (_fits(x.shape[1], y.shape[1], q["kernel_h"], q["stride_h"], q["dil_h"], top)
                and _fits(x.shape[2], y.shape[2], q["kernel_w"], q["stride_w"], q["dil_w"], left)):
            continue
        fused[j] = replace(conv, inputs=[pad.inputs[0], *conv.inputs[1:]],
                           params={**q, "pad_top": top, "pad_left": left}, fused=(*conv.fused, "PAD"))
        dropped.add(i)
    return [fused.get(i, op) for i, op in enumerate(ops) if i not in dropped]
