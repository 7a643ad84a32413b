"""AVERAGE_POOL_2D / MAX_POOL_2D share TFLM's pooling Prepare (padding, output size, activation)."""

from __future__ import annotations

from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import compute_out_and_pad, fail, fused_range, int8, int8_or_int16, tensor


def lower_pool(graph: Graph, op: Operator, int16: bool = False) -> dict[str, int]:
    """`int16`: the op also takes TFLM's 16x8 int16 tensors (MAX_POOL_2D)."""
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    if int16:
        int8_or_int16(op, x, y)
    else:
        int8(op, x, y)
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(op, f"input {x.shape} / output {y.shape}: only 4-D NHWC tensors are supported")
    o = op.options
    fh, fw = int(o.get("filter_height", 1)), int(o.get("filter_width", 1))
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    padding = o.get("padding", "VALID")
    if padding not in ("SAME", "VALID"):
        raise fail(op, f"{padding}; TFLite pads SAME or VALID")
    if min(fh, fw, sh, sw) < 1:
        raise fail(op, f"filter {fh}x{fw}, stride {sh}x{sw}: must be positive")
    oh, pt = compute_out_and_pad(padding, x.shape[1], fh, sh)
    ow, pl = compute_out_and_pad(padding, x.shape[2], fw, sw)
    if (oh, ow) != tuple(y.shape[1:3]) or y.shape[3] != x.shape[3] or y.shape[0] != x.shape[0]:
        raise fail(op, f"output shape {y.shape} does not follow from input {x.shape}, filter {fh}x{fw}, "
                       f"stride {sh}x{sw}, padding {padding}")
    lo, hi = fused_range(op, y)
    return {"filter_h": fh, "filter_w": fw, "stride_h": sh, "stride_w": sw, "pad_top": pt, "pad_left": pl,
            "act_min": lo, "act_max": hi}
