"""Shared checks and TFLM Prepare arithmetic for the CPU ops' lowering."""

from __future__ import annotations

import numpy as np

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator, Tensor
from cimconv.qmath import QuantRangeError, activation_range


def fail(op: Operator, what: str) -> ModelError:
    """A ModelError naming the op and its index (the caller raises it)."""
    return ModelError(f"{op.opcode} at operator {op.index}: {what}")


def tensor(graph: Graph, op: Operator, pos: int, output: bool = False) -> Tensor:
    ids = op.outputs if output else op.inputs
    if pos >= len(ids) or ids[pos] < 0:
        raise fail(op, f"missing {'output' if output else 'input'} {pos}")
    return graph.tensors[ids[pos]]


def int8(op: Operator, *tensors: Tensor) -> None:
    """Every tensor must be int8 with per-tensor quantization."""
    for t in tensors:
        if t.dtype != "int8":
            raise fail(op, f"tensor {t.label} is {t.dtype}; only int8 is supported on the CPU "
                           "(quantize the model to int8)")
        if t.quant is None:
            raise fail(op, f"tensor {t.label} has no quantization parameters")
        if t.quant.per_channel:
            raise fail(op, f"tensor {t.label} is per-channel quantized; this op takes per-tensor scales")


def int8_or_int16(op: Operator, *tensors: Tensor) -> str:
    """Every tensor int8 (as `int8`), or every one int16 with per-tensor quantization and zero point 0 (TFLM's
    16x8 mode, whose int16 kernels take no offsets); returns the dtype."""
    if any(t.dtype != "int16" for t in tensors):
        int8(op, *tensors)
        return "int8"
    for t in tensors:
        if t.quant is None or t.quant.per_channel:
            raise fail(op, f"tensor {t.label} needs one scale (per-tensor quantization)")
        if t.quant.zp != 0:
            raise fail(op, f"int16 tensor {t.label} has zero point {t.quant.zp}; TFLM's int16 kernels take zero "
                           "point 0 (quantize with TFLite's 16x8 mode)")
    return "int16"


def f32(x: float) -> float:
    """A scale as TFLM holds it (float32), widened to double as TFLM's Prepare does."""
    return float(np.float32(x))


def const_ints(graph: Graph, op: Operator, pos: int, what: str) -> np.ndarray:
    t = tensor(graph, op, pos)
    if t.data is None:
        raise fail(op, f"{what} (input {pos}) is not a constant tensor; only constant {what} is supported")
    return np.asarray(t.data).astype(np.int64).reshape(-1)


def fused_range(op: Operator, out: Tensor) -> tuple[int, int]:
    act = op.options.get("fused_activation_function", "NONE") or "NONE"
    try:
        if out.dtype == "int16":
            return activation_range(act, out.quant.s, out.quant.zp, -32768, 32767)
        return activation_range(act, out.quant.s, out.quant.zp)
    except QuantRangeError:
        raise  # a degenerate output scale: lower_op names the op
    except ValueError:
        raise fail(op, f"fused activation {act} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1)") from None


def batch_axis_ok(op: Operator, t: Tensor, axis: int, what: str) -> None:
    """Dim 0 is the batch the host model runs over; ops may not mix data across it."""
    if axis == 0 and len(t.shape) > 0:
        raise fail(op, f"{what} along dimension 0 (the batch dimension) is not supported")


def broadcast_ok(op: Operator, a: Tensor, b: Tensor, y: Tensor) -> None:
    """The output of a binary op must have the broadcast shape of its inputs, batch included."""
    try:
        want = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise fail(op, f"inputs {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    if tuple(want) != tuple(y.shape):
        raise fail(op, f"output {list(y.shape)} is not the broadcast shape {list(want)} of the inputs")


def compute_out_and_pad(padding: str, in_size: int, filt: int, stride: int, dilation: int = 1
                        ) -> tuple[int, int]:
    """TFLM ComputeOutSize + ComputePaddingWithOffset: (output size, padding before)."""
    eff = (filt - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size + stride - eff) // stride
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, total // 2
