"""Constant folding: shape arithmetic on constants or static shapes is evaluated at convert time.

Keras exports often compute a RESHAPE's target shape at run time (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE)
even though every shape is static. TFLite's own converter and Vela evaluate such subgraphs once; so does
this pass, with numpy and TFLite's semantics, and the ops it evaluates leave the graph. An op is folded
when every input it reads is constant (SHAPE: when its input's shape is static), no output is a model
output, and it does not requantize (quantized data movement keeps one scale and zero point).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimconv.ir import Graph, Operator, Tensor

Folder = Callable[[Graph, Operator, list[np.ndarray]], np.ndarray]


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _shape(g: Graph, op: Operator, ins: list[np.ndarray]) -> np.ndarray:
    dtype = "int64" if op.options.get("out_type") == 4 else "int32"  # TensorType INT64 = 4, else INT32
    return np.asarray(g.tensors[op.inputs[0]].shape, dtype=dtype)


def strided_slice_index(shape: tuple[int, ...], begin: np.ndarray, end: np.ndarray, strides: np.ndarray,
                        options: dict) -> tuple[list[np.ndarray], list[int]]:
    """TFLite STRIDED_SLICE (begin/end masks, shrink_axis_mask, offset; no ellipsis or new-axis masks): the
    input indices taken along each axis, and the output's shape (shrunk axes left out)."""
    begin, end, strides = begin.ravel(), end.ravel(), strides.ravel()
    o = options
    bmask, emask, smask = o.get("begin_mask", 0), o.get("end_mask", 0), o.get("shrink_axis_mask", 0)
    index: list[np.ndarray] = []
    keep: list[int] = []
    for i, dim in enumerate(shape):
        if i >= len(begin):
            index.append(np.arange(dim))
            keep.append(dim)
            continue
        s = int(strides[i])
        lo, hi = (0, dim) if s > 0 else (-1, dim - 1)
        if bmask >> i & 1:
            start = 0 if s > 0 else dim - 1
        else:
            start = int(begin[i]) + (dim if begin[i] < 0 else 0)
            start = min(max(start, lo), hi)
        if smask >> i & 1:
            stop = start + 1
        elif emask >> i & 1:
            stop = dim if s > 0 else -1
        else:
            stop = int(end[i]) + (int(begin[i]) if o.get("offset") else 0)
            stop = min(max(stop + (dim if stop < 0 else 0), lo), hi)
        idx = np.arange(start, stop, s)
        index.append(idx)
        if not smask >> i & 1:
            keep.append(len(idx))
    return index, keep


def _strided_slice(g: Graph, op: Operator, ins: list[np.ndarray]) -> np.ndarray:
    x = ins[0]
    index, keep = strided_slice_index(x.shape, ins[1], ins[2], ins[3], op.options)
    return x[np.ix_(*index)].reshape(keep) if index else x.copy()


def _pack(g: Graph, op: Operator, ins: list[np.ndarray]) -> np.ndarray:
    return np.stack(ins, axis=_axis(op.options.get("axis", 0), ins[0].ndim + 1))


def _gather(g: Graph, op: Operator, ins: list[np.ndarray]) -> np.ndarray:
    params, idx = ins
    axis = _axis(op.options.get("axis", 0), params.ndim)
    batch = op.options.get("batch_dims", 0)
    if batch:
        raise NotImplementedError("GATHER batch_dims")
    if (idx < 0).any() or (idx >= params.shape[axis]).any():
        raise NotImplementedError("GATHER index out of range")
    return np.take(params, idx, axis=axis)


def _cast(g: Graph, op: Operator, ins: list[np.ndarray]) -> np.ndarray:
    return ins[0].astype(g.tensors[op.outputs[0]].dtype)


def _concatenation(g: Graph, op: Operator, ins: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(ins, axis=_axis(op.options.get("axis", 0), ins[0].ndim))


def _reshape(g: Graph, op: Operator, ins: list[np.ndarray]) -> np.ndarray:
    return ins[0].reshape(g.tensors[op.outputs[0]].shape)


FOLDERS: dict[str, Folder] = {
    "SHAPE": _shape,
    "STRIDED_SLICE": _strided_slice,
    "PACK": _pack,
    "GATHER": _gather,
    "CAST": _cast,
    "CONCATENATION": _concatenation,
    "RESHAPE": _reshape,
    "EXPAND_DIMS": _reshape,
    "SQUEEZE": _reshape,
}
# Ops that move quantized values without changing them: foldable when every input has the output's quantization.
_MOVES = {"STRIDED_SLICE", "PACK", "GATHER", "CONCATENATION", "RESHAPE", "EXPAND_DIMS", "SQUEEZE"}
_DATA_INPUTS = {"STRIDED_SLICE": 1, "GATHER": 1, "RESHAPE": 1, "EXPAND_DIMS": 1, "SQUEEZE": 1}


def _same_quant(a: Tensor, b: Tensor) -> bool:
    if a.quant is None or b.quant is None:
        return a.quant is None and b.quant is None
    return (np.array_equal(a.quant.scale, b.quant.scale) and np.array_equal(a.quant.zero_point, b.quant.zero_point))


def why_not_folded(g: Graph, op: Operator) -> str | None:
    """None when the op can be folded, else why not (for the unsupported-op message)."""
    if op.opcode not in FOLDERS:
        return "no kernel"
    if any(t in g.outputs for t in op.outputs) or len(op.outputs) != 1:
        return "produces a model output"
    ins = [t for t in op.inputs if t >= 0]
    if not ins:
        return "no inputs"
    if op.opcode == "SHAPE":
        return None
    if not all(g.tensors[t].is_const for t in ins):
        return "runs on a non-constant input"
    if op.opcode == "STRIDED_SLICE" and (op.options.get("ellipsis_mask") or op.options.get("new_axis_mask")):
        return "ellipsis or new-axis mask"
    out = g.tensors[op.outputs[0]]
    if out.quant is not None or any(g.tensors[t].quant is not None for t in ins):
        data = ins[: _DATA_INPUTS.get(op.opcode, len(ins))]
        if op.opcode not in _MOVES or not all(_same_quant(g.tensors[t], out) for t in data):
            return "would requantize"
    return None


def fold_constants(g: Graph) -> list[int]:
    """Evaluate every foldable op in graph order, store its output as a constant and drop the op.

    Returns the source indices of the folded ops."""
    folded: list[int] = []
    kept: list[Operator] = []
    for op in g.operators:
        if why_not_folded(g, op) is not None:
            kept.append(op)
            continue
        out = g.tensors[op.outputs[0]]
        try:
            value = FOLDERS[op.opcode](g, op, [g.tensors[t].data for t in op.inputs if t >= 0])
            value = np.asarray(value, dtype=out.dtype)  # TypeError: a damaged model's unknown output type
        except (NotImplementedError, ValueError, IndexError, TypeError):
            kept.append(op)  # left in the graph; reported as unsupported with the rest
            continue
        if out.shape and value.size == out.size:
            value = value.reshape(out.shape)
        elif tuple(value.shape) != tuple(out.shape):
            kept.append(op)
            continue
        out.data = value
        folded.append(op.index)
    g.operators = kept
    return folded
