"""Float models on a floating-point target (`number_format = "bf16"`, e.g. sram-fpcim): no int8 quantization.

The CiM layers (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) become BF16 matrices: float32 weights rounded
to BF16 (nearest, ties to even), or, for TFLite's hybrid layers (int8 weights with per-channel scales and
float activations), the dequantized weights float32(scale x q) rounded the same way; the float32 bias bit for
bit in the matrix's quant records with the exponent-alignment group (the target's `rows_active`) in the
multiplier's place; the fused activation's float32 bounds (bit for bit) in `act_min` /
`act_max`. The macro runs them with the arithmetic of `cimsdk.mac.fpcim` (float32 tensors in and out).
The rest of the graph (AVERAGE_POOL_2D, RESHAPE, SOFTMAX) runs in float32 on the MCU, with the image's
parameters: pools and activations take float32 bounds, SOFTMAX beta 1 (docs/targets.md).

The model's inputs and outputs are its float32 tensors: the host sends float32 values and reads float32.
"""

from __future__ import annotations

import numpy as np

from cimconv.bf16 import to_bf16
from cimconv.errors import ModelError
from cimconv.image import MATRIX_DENSE, MATRIX_DEPTHWISE
from cimconv.ir import Graph, Operator, Tensor
from cimconv.lowering import Lowered, MatrixSpec, lower_ops
from cimconv.lowering._conv_common import window_params
from cimconv.lowering._cpu_common import compute_out_and_pad, fail
from cimconv.passes import Edge, Prepared

CIM_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
CPU_OPS = ("AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX")
ACTIVATIONS = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def float_bits(v: float) -> int:
    """A float32 value as the int32 parameter that holds its bits."""
    return int(np.array([v], np.float32).view(np.int32)[0])


def _activation(op: Operator) -> dict[str, int]:
    act = op.options.get("fused_activation_function", "NONE") or "NONE"
    if act not in ACTIVATIONS:
        raise fail(op, f"fused activation {act} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1)")
    lo, hi = ACTIVATIONS[act]
    return {"act_min": float_bits(lo), "act_max": float_bits(hi)}


def _float(op: Operator, *ts: Tensor) -> None:
    for t in ts:
        if t.dtype != "float32":
            raise fail(op, f"tensor {t.label} is {t.dtype}; a floating-point target runs float32 models "
                           "(convert an int8 model for an integer target: sram-dcim, nor-acim, ...)")


def _weights(op: Operator, w: Tensor, axis: int) -> np.ndarray:
    """The filter as float32: as stored, or a hybrid layer's int8 weights times their per-channel scales."""
    if w.data is None:
        raise fail(op, f"weights {w.label} are not constant")
    if w.dtype == "float32":
        data = w.data.astype(np.float32)
    elif w.dtype == "int8" and w.quant is not None:
        scale = w.quant.scale.astype(np.float32)
        shape = [1] * len(w.shape)
        if scale.size > 1:
            shape[w.quant.axis] = scale.size
        data = (w.data.astype(np.float32) - w.quant.zero_point.reshape(shape).astype(np.float32)) * scale.reshape(shape)
    else:
        raise fail(op, f"weights {w.label} are {w.dtype}; float32, or int8 with scales (a hybrid layer)")
    if not np.all(np.isfinite(data)):
        raise fail(op, f"weights {w.label} hold a value that is not finite")
    return data


def _bias(graph: Graph, op: Operator, n: int) -> np.ndarray:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return np.zeros(n, np.int32)
    b = graph.tensors[op.inputs[2]]
    if b.data is None or b.dtype != "float32" or b.data.size != n:
        raise fail(op, f"bias {b.label} must be {n} constant float32 values")
    return np.ascontiguousarray(b.data.reshape(-1), dtype=np.float32).view(np.int32).copy()


def _matrix_op(graph: Graph, op: Operator, weights: np.ndarray, kind: int, params: dict[str, int], group: int,
               kernel: tuple[int, int] = (1, 1)) -> Lowered:
    n = weights.shape[0]
    spec = MatrixSpec(kind, to_bf16(weights), _bias(graph, op, n), np.full(n, group, np.int32), np.zeros(n, np.int32),
                      kernel)
    params = {"matrix": -1, **params, "in_zp": 0, "out_zp": 0, **_activation(op)}
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, spec, op.index)


def _conv(graph: Graph, op: Operator, group: int) -> Lowered:
    x, w, y = (graph.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    _float(op, x, y)
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise fail(op, "expected 4-D input, filter and output")
    data = _weights(op, w, 0)
    if op.opcode == "CONV_2D":
        cout, kh, kw, cin = w.shape
        if x.shape[3] != cin or y.shape[3] != cout:
            raise fail(op, f"filter {list(w.shape)} does not fit input {list(x.shape)} / output {list(y.shape)}")
        return _matrix_op(graph, op, data.reshape(cout, kh * kw * cin), MATRIX_DENSE,
                          window_params(op, x, y, kh, kw), group, (kh, kw))
    one, kh, kw, cout = w.shape
    mult = cout // max(1, x.shape[3])
    if one != 1 or cout != x.shape[3] * mult or y.shape[3] != cout:
        raise fail(op, f"filter {list(w.shape)} does not fit input {list(x.shape)} / output {list(y.shape)}")
    return _matrix_op(graph, op, data.reshape(kh * kw, cout).T.copy(), MATRIX_DEPTHWISE,
                      {**window_params(op, x, y, kh, kw), "depth_mult": mult}, group, (kh, kw))


def _fully_connected(graph: Graph, op: Operator, group: int) -> Lowered:
    x, w, y = (graph.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    _float(op, x, y)
    if len(w.shape) != 2 or op.options.get("weights_format", 0) != 0:
        raise fail(op, f"weights {w.label} must be 2-D [units, depth] in the default format")
    n, k = w.shape
    if len(x.shape) < 2 or x.size % k or y.shape[-1] != n or y.size != x.size // k * n or x.shape[0] != y.shape[0]:
        raise fail(op, f"input {list(x.shape)} -> output {list(y.shape)} does not fit [{n}, {k}] weights per batch item")
    return _matrix_op(graph, op, _weights(op, w, 0), MATRIX_DENSE, {}, group)


def _average_pool(graph: Graph, op: Operator) -> Lowered:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    _float(op, x, y)
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise fail(op, "only 4-D NHWC tensors are supported")
    o = op.options
    fh, fw = int(o.get("filter_height", 1)), int(o.get("filter_width", 1))
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    padding = o.get("padding", "VALID")
    if padding not in ("SAME", "VALID") or min(fh, fw, sh, sw) < 1:
        raise fail(op, f"filter {fh}x{fw}, stride {sh}x{sw}, padding {padding}")
    oh, pt = compute_out_and_pad(padding, x.shape[1], fh, sh)
    ow, pl = compute_out_and_pad(padding, x.shape[2], fw, sw)
    if (oh, ow) != tuple(y.shape[1:3]) or y.shape[3] != x.shape[3] or y.shape[0] != x.shape[0]:
        raise fail(op, f"output shape {list(y.shape)} does not follow from input {list(x.shape)}")
    params = {"filter_h": fh, "filter_w": fw, "stride_h": sh, "stride_w": sw, "pad_top": pt, "pad_left": pl,
              **_activation(op)}
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), params, None, op.index)


def _softmax(graph: Graph, op: Operator) -> Lowered:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    _float(op, x, y)
    if float(op.options.get("beta", 1.0)) != 1.0:
        raise fail(op, f"beta {op.options.get('beta')}; the float SOFTMAX kernel takes beta 1")
    if x.shape != y.shape:
        raise fail(op, f"input {list(x.shape)} and output {list(y.shape)} differ")
    return Lowered(op.opcode, [op.inputs[0]], list(op.outputs), {"input_mult": 0, "input_left_shift": 0, "diff_min": 0},
                   None, op.index)


def prepare_float(g: Graph) -> Prepared:
    """The float graph as it runs: every op one of CIM_OPS / CPU_OPS, float32 inputs and outputs."""
    if not g.operators:
        raise ModelError(f"{g.name}: the model has no operators")
    bad = [op for op in g.operators if op.opcode not in CIM_OPS + CPU_OPS]
    if bad:
        named = ", ".join(f"{op.opcode} at operator {op.index}" for op in bad[:5])
        raise ModelError(f"{g.name}: {len(bad)} ops a floating-point target does not run ({named}); it runs "
                         f"{', '.join(CIM_OPS + CPU_OPS)}")
    for t in list(g.inputs) + list(g.outputs):
        if g.tensors[t].dtype != "float32":
            raise ModelError(f"{g.name}: model input/output {g.tensors[t].label} is {g.tensors[t].dtype}; a "
                             "floating-point target takes float32 models (an int8 model goes to sram-dcim or nor-acim)")
    # scale 1, zero point 0: the values pass as they are (no QUANTIZE at the edge)
    edges = [Edge(t, "float32", 1.0, 0) for t in g.inputs], [Edge(t, "float32", 1.0, 0) for t in g.outputs]
    return Prepared(g, list(g.operators), *edges)


def lower_float(graph: Graph, op: Operator, group: int) -> list[Lowered]:
    """The program op of one float op (RESHAPE through its own lowering: it only moves bytes); `group`: the
    macro's exponent-alignment group in rows."""
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return [_conv(graph, op, group)]
    if op.opcode == "FULLY_CONNECTED":
        return [_fully_connected(graph, op, group)]
    if op.opcode == "AVERAGE_POOL_2D":
        return [_average_pool(graph, op)]
    if op.opcode == "SOFTMAX":
        return [_softmax(graph, op)]
    return lower_ops(graph, op)
