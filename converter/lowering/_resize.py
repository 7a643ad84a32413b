"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR: the output size (constant input 1) is the output's shape, and
the two flags choose TFLM's source-position rule; only the flags are kept."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8, _int8_or_int16, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import const_ints, fail, int8, int8_or_int16, tensor


def lower_resize(graph: Graph, op: Operator, int16: bool = False) -> dict[str, int]:
    """`int16`: the op also takes TFLM's 16x8 int16 tensors (RESIZE_NEAREST_NEIGHBOR copies values; TFLM's
    RESIZE_BILINEAR has no int16 output)."""
    x, y = tensor(graph, op, 0), tensor(graph, op, 0, output=True)
    if int16:
        int8_or_int16(op, x, y)
    else:
        int8(op, x, y)
    if len(x.shape) != 4:
        raise fail(op, f"input {list(x.shape)}: a 4-D (NHWC) input is supported")
    size = [int(v) for v in const_ints(graph, op, 1, "size")]
    if len(size) != 2 or min(size) < 1 or tuple(y.shape) != (x.shape[0], *size, x.shape[3]):
        raise fail(op, f"size {size} does not give output {list(y.shape)} from input {list(x.shape)}")
    align, half = bool(op.options.get("align_corners")), bool(op.options.get("half_pixel_centers"))
    if align and half:
        raise fail(op, "align_corners and half_pixel_centers together are not a TFLite resize")
    return {"align_corners": int(align), "half_pixel_centers": int(half)}


def check_resize(img: Image, op: OpRec, at: str, int16: bool = False) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    if int16:
        _int8_or_int16(at, x, y)
    else:
        _int8(at, x, y)
    p = op.params
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[::3] != y.shape[::3]:
        raise _fail(at, f"input {list(x.shape)} and output {list(y.shape)} are not 4-D images of one batch and depth")
    if p["align_corners"] not in (0, 1) or p["half_pixel_centers"] not in (0, 1) \
            or p["align_corners"] + p["half_pixel_centers"] == 2:
        raise _fail(at, f"align_corners {p['align_corners']}, half_pixel_centers {p['half_pixel_centers']}")
