"""What a parsed weight image must satisfy before anything runs it (docs/image-format.md, "Validation").

`cimconv.image.parse_image` reads the records with bounds checks; this module checks what the golden
model, the simulators and `inspect` later take for granted: tensors inside the arena or the const section,
every op's tensors, shapes and parameters as the converter writes them, matrices inside the cells and
quant sections, tiles that cover their matrix exactly once and lie inside the target's arrays without
overlapping, one to MAX_IO inputs and outputs, and the types of the META fields other code reads. An image
that passes cannot make the
host allocate more than its own size plus a few times its arena per input.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable

import numpy as np

from cimconv.image import (
    MATRIX_DENSE,
    MATRIX_DEPTHWISE,
    STORE_ARENA,
    STORE_CONST,
    TENSOR_STATE,
    Image,
    ImageError,
    MatrixRec,
    OpRec,
    TensorRec,
)

I8_MIN, I8_MAX = -128, 127
ARRAY_KEYS = ("rows", "weight_cols", "arrays_per_macro", "macros")  # META "arrays": the target's geometry
ZP_RANGE = {"int8": (I8_MIN, I8_MAX), "int16": (-32768, 32767), "int32": (-(1 << 31), (1 << 31) - 1)}
# edge dtypes per io direction: float32/uint8 converted on the host, int16 inputs read by the program's QUANTIZE,
# int16/int32 outputs written by its QUANTIZE (or SOFTMAX)
IO_EDGES = {0: ("int8", "float32", "uint8", "int16"), 1: ("int8", "float32", "uint8", "int16", "int32")}
SHIFT_MIN, SHIFT_MAX = -31, 30  # what QuantizeMultiplier produces, and what the kernels handle
MAX_IO = 8  # inputs, and outputs, of one program (the firmware's CIM_RT_MAX_IO)
EDGE_ZERO_POINTS = {"int8": (I8_MIN, I8_MAX), "float32": (I8_MIN, I8_MAX), "uint8": (0, 255), **ZP_RANGE}


def _fail(where: str, what: str) -> ImageError:
    return ImageError(f"{where}: {what}; the image is damaged, convert the model again")


def check_image(img: Image, where: str, max_arena: int) -> None:
    """Raise ImageError on the first inconsistency of a parsed image."""
    if img.arena_size > max_arena:
        raise _fail(where, f"arena of {img.arena_size:,} bytes, more than the {max_arena:,} an image may ask for")
    for i, t in enumerate(img.tensors):
        _check_tensor(img, i, t, where)
    _check_io(img, where)
    ready = {r.tensor for r in img.inputs} | set(img.state_tensors)
    used_matrices: set[int] = set()
    assigned: set[int] = set()
    if not img.ops:
        raise _fail(where, "the layer program is empty")
    for i, op in enumerate(img.ops):
        at = f"{where}: op {i} ({op.opcode})"
        for t in op.inputs:
            if img.tensors[t].storage == STORE_ARENA and t not in ready:
                raise _fail(at, f"reads tensor {t} before any op writes it")
        out = op.outputs[0]
        if op.opcode == "ASSIGN_VARIABLE" and img.tensors[out].state and out not in assigned:
            assigned.add(out)  # a streaming model's new state, written once
        elif img.tensors[out].storage != STORE_ARENA or out in ready or img.tensors[out].state:
            raise _fail(at, f"writes tensor {out}, a constant or a tensor already written")
        ready.add(out)
        check_for(op.opcode)(img, op, at)
        if op.cim:
            used_matrices.add(op.params["matrix"])
    for r in img.outputs:
        if r.tensor not in ready:
            raise _fail(where, f"no op writes the output tensor {r.tensor}")
    if used_matrices != set(range(len(img.matrices))):
        raise _fail(where, f"{len(img.matrices)} matrices but the CiM ops use {sorted(used_matrices)[:8]}")
    for mi, m in enumerate(img.matrices):
        _check_tiles(img, mi, m, where)
    _check_meta(img, where)
    _check_placement(img, where)


# --- records ---------------------------------------------------------------------------------------------
def _check_tensor(img: Image, i: int, t: TensorRec, where: str) -> None:
    at = f"{where}: tensor {i}"
    if any(d < 1 for d in t.shape):
        raise _fail(at, f"shape {list(t.shape)} has a dimension below 1")
    item = np.dtype(t.dtype).itemsize
    if math.prod(t.shape) * item != t.nbytes:
        raise _fail(at, f"shape {list(t.shape)} of {t.dtype} is not {t.nbytes} bytes")
    if t.storage == STORE_ARENA:
        if not t.shape:
            raise _fail(at, "an activation must have at least one dimension (the batch)")
        if t.offset % 4 or t.offset + t.nbytes > img.arena_size:
            raise _fail(at, f"bytes [{t.offset}, {t.offset + t.nbytes}) do not fit the {img.arena_size}-byte arena "
                            "4-byte aligned")
    elif t.storage == STORE_CONST:
        if t.offset % item or t.offset + t.nbytes > len(img.const):
            raise _fail(at, f"bytes [{t.offset}, {t.offset + t.nbytes}) do not fit the "
                            f"{len(img.const)}-byte const section aligned")
    else:
        raise _fail(at, f"storage {t.storage} is neither arena (0) nor const (1)")
    if t.flags & ~TENSOR_STATE or (t.state and t.storage != STORE_ARENA):
        raise _fail(at, f"flags {t.flags}: only bit 0 (state) is defined, and only for arena tensors")


def _check_io(img: Image, where: str) -> None:
    n_in, n_out = len(img.inputs), len(img.outputs)
    if not 1 <= n_in <= MAX_IO or not 1 <= n_out <= MAX_IO or n_in + n_out != len(img.io):
        raise _fail(where, f"{n_in} input and {n_out} output io records of {len(img.io)}; expected 1 to {MAX_IO} "
                           "inputs (direction 0) and outputs (direction 1)")
    for r in img.io:
        if r.tensor >= len(img.tensors):
            raise _fail(where, f"io record refers to tensor {r.tensor} of {len(img.tensors)}")
        t = img.tensors[r.tensor]
        want = r.edge_dtype if r.edge_dtype in ("int16", "int32") else "int8"  # the arena tensor's dtype
        if r.edge_dtype not in IO_EDGES[r.direction]:
            raise _fail(where, f"io edge dtype {r.edge_dtype}; expected one of {', '.join(IO_EDGES[r.direction])}")
        if t.storage != STORE_ARENA or t.dtype != want or t.state:
            raise _fail(where, f"io tensor {r.tensor} is a {t.dtype} {'constant' if t.storage else 'activation'}; "
                               f"expected a {want} activation")
        lo, hi = EDGE_ZERO_POINTS[r.edge_dtype]
        if not (math.isfinite(r.scale) and r.scale > 0) or not lo <= r.zero_point <= hi:
            raise _fail(where, f"io quantization scale {r.scale} / zero point {r.zero_point} out of range")
    tensors = [r.tensor for r in img.io]
    if len(set(tensors)) != len(tensors):
        raise _fail(where, "two io records name the same tensor")


def _check_meta(img: Image, where: str) -> None:
    meta = img.meta
    for key in ("model", "target", "converter", "model_sha256"):
        if key in meta and not isinstance(meta[key], str):
            raise _fail(where, f"META field '{key}' is not a string")
    for key, n in (("source_ops", len(img.ops)), ("source_tensors", len(img.tensors))):
        v = meta.get(key)
        if v is not None and not (isinstance(v, list) and len(v) == n
                                  and all(isinstance(e, int) and not isinstance(e, bool) for e in v)):
            raise _fail(where, f"META field '{key}' is not a list of {n} integers")
    labels = meta.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(e, str) for e in labels)):
        raise _fail(where, "META field 'labels' is not a list of strings")
    cal = meta.get("adc_calibration")
    if cal is not None and not isinstance(cal, dict):
        raise _fail(where, "META field 'adc_calibration' is not an object")
    arrays = meta.get("arrays")
    if arrays is not None and not (isinstance(arrays, dict) and set(arrays) == set(ARRAY_KEYS) and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1 << 20 for v in arrays.values())):
        raise _fail(where, f"META field 'arrays' is not an object of {', '.join(ARRAY_KEYS)} (positive integers)")


# --- ops --------------------------------------------------------------------------------------------------
def _recs(img: Image, op: OpRec, at: str, n_in: tuple[int, int]) -> tuple[list[TensorRec], TensorRec]:
    lo, hi = n_in
    if not lo <= len(op.inputs) <= hi or len(op.outputs) != 1:
        raise _fail(at, f"{len(op.inputs)} inputs, {len(op.outputs)} outputs")
    return [img.tensors[t] for t in op.inputs], img.tensors[op.outputs[0]]


def _int8(at: str, *recs: TensorRec) -> None:
    for r in recs:
        if r.dtype != "int8":
            raise _fail(at, f"a {r.dtype} tensor where the kernel takes int8")


def _in_range(at: str, p: dict, lo: int, hi: int, *names: str) -> None:
    for n in names:
        if not lo <= p[n] <= hi:
            raise _fail(at, f"parameter {n} = {p[n]} outside [{lo}, {hi}]")


def _requant(at: str, p: dict, mult: str, shift: str) -> None:
    _in_range(at, p, 0, (1 << 31) - 1, mult)
    _in_range(at, p, SHIFT_MIN, SHIFT_MAX, shift)


def _act(at: str, p: dict) -> None:
    _in_range(at, p, I8_MIN, I8_MAX, "act_min", "act_max")
    if p["act_min"] > p["act_max"]:
        raise _fail(at, f"act_min {p['act_min']} > act_max {p['act_max']}")


def _same_shape(at: str, x: TensorRec, y: TensorRec) -> None:
    if x.shape != y.shape:
        raise _fail(at, f"input {list(x.shape)} and output {list(y.shape)} differ")


def _window(at: str, size: int, out: int, k: int, stride: int, dil: int, pad: int) -> None:
    """Output size and padding must be TFLite's SAME or VALID ones (bounded padding, no empty output)."""
    eff = (k - 1) * dil + 1
    same_out = (size + stride - 1) // stride
    same_pad = max((same_out - 1) * stride + eff - size, 0) // 2
    valid_out = (size + stride - eff) // stride
    if (out, pad) not in ((same_out, same_pad), (valid_out, 0)):
        raise _fail(at, f"output size {out} with padding {pad} does not follow from size {size}, kernel {k}, "
                        f"stride {stride}, dilation {dil}")


def _matrix(img: Image, op: OpRec, at: str, kind: int) -> MatrixRec:
    mi = op.params["matrix"]
    if not 0 <= mi < len(img.matrices):
        raise _fail(at, f"matrix {mi} of {len(img.matrices)}")
    m = img.matrices[mi]
    if m.kind != kind:
        raise _fail(at, f"matrix {mi} is of kind {m.kind}, the op needs {kind}")
    return m


def _cim_common(img: Image, op: OpRec, at: str, kind: int) -> tuple[TensorRec, TensorRec, MatrixRec, dict]:
    if not op.cim:
        raise _fail(at, "a CiM op without the CiM flag")
    (x,), y = _recs(img, op, at, (1, 1))
    if x.storage != STORE_ARENA:
        raise _fail(at, "the input of a CiM op must be an activation")
    p = op.params
    if x.dtype == "int16":  # TFLM's 16x8 mode: int16 in and out, zero points 0, 64-bit requantization
        if y.dtype != "int16":
            raise _fail(at, f"an int16 input with a {y.dtype} output (16x8 ops write int16)")
        _in_range(at, p, 0, 0, "in_zp", "out_zp")
        _in_range(at, p, -32768, 32767, "act_min", "act_max")
        if p["act_min"] > p["act_max"]:
            raise _fail(at, f"act_min {p['act_min']} > act_max {p['act_max']}")
        m = _matrix(img, op, at, kind)
        if m.shift.size and int(m.shift.max()) >= 8:
            raise _fail(at, f"shift {int(m.shift.max())} out of the 16x8 requantization's range (< 8)")
        return x, y, m, p
    _int8(at, x)
    if y.dtype == "int16" and op.opcode == "FULLY_CONNECTED":  # the LSTM's int16 gate pre-activations
        _in_range(at, p, I8_MIN, I8_MAX, "in_zp")
        _in_range(at, p, 0, 0, "out_zp")
        _in_range(at, p, -32768, 32767, "act_min", "act_max")
        if p["act_min"] > p["act_max"]:
            raise _fail(at, f"act_min {p['act_min']} > act_max {p['act_max']}")
    else:
        _int8(at, y)
        _in_range(at, p, I8_MIN, I8_MAX, "in_zp", "out_zp")
        _act(at, p)
    return x, y, _matrix(img, op, at, kind), p


def _conv_like(img: Image, op: OpRec, at: str, kind: int) -> None:
    x, y, m, p = _cim_common(img, op, at, kind)
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != y.shape[0]:
        raise _fail(at, f"input {list(x.shape)} / output {list(y.shape)}: expected 4-D with the same batch")
    _in_range(at, p, 1, 1 << 16, "stride_h", "stride_w", "dil_h", "dil_w", "kernel_h", "kernel_w")
    _in_range(at, p, 0, 1 << 16, "pad_top", "pad_left")
    _window(at, x.shape[1], y.shape[1], p["kernel_h"], p["stride_h"], p["dil_h"], p["pad_top"])
    _window(at, x.shape[2], y.shape[2], p["kernel_w"], p["stride_w"], p["dil_w"], p["pad_left"])
    if y.shape[3] != m.cols:
        raise _fail(at, f"output has {y.shape[3]} channels, the matrix {m.cols} columns")
    kk = p["kernel_h"] * p["kernel_w"]
    if kind == MATRIX_DEPTHWISE:
        _in_range(at, p, 1, 1 << 16, "depth_mult")
        if m.rows != kk or y.shape[3] != x.shape[3] * p["depth_mult"]:
            raise _fail(at, f"matrix {m.rows}x{m.cols} does not fit a {p['kernel_h']}x{p['kernel_w']} window "
                            f"over {x.shape[3]} channels x {p['depth_mult']}")
    elif m.rows != kk * x.shape[3]:
        raise _fail(at, f"matrix rows {m.rows} != {p['kernel_h']}x{p['kernel_w']}x{x.shape[3]}")


def _conv(img: Image, op: OpRec, at: str) -> None:
    _conv_like(img, op, at, MATRIX_DENSE)


def _depthwise(img: Image, op: OpRec, at: str) -> None:
    _conv_like(img, op, at, MATRIX_DEPTHWISE)


def _fully_connected(img: Image, op: OpRec, at: str) -> None:
    x, y, m, _p = _cim_common(img, op, at, MATRIX_DENSE)
    per_x, per_y = math.prod(x.shape[1:]), math.prod(y.shape[1:])
    if per_x % m.rows or per_y != per_x // m.rows * m.cols:
        raise _fail(at, f"input {list(x.shape)} / output {list(y.shape)} do not fit a {m.rows}x{m.cols} matrix "
                        "per batch item")


def _pool(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    wide = op.opcode == "MAX_POOL_2D" and x.dtype == y.dtype == "int16"  # 16x8
    if not wide:
        _int8(at, x, y)
    p = op.params
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != y.shape[0] or x.shape[3] != y.shape[3]:
        raise _fail(at, f"input {list(x.shape)} / output {list(y.shape)}: expected 4-D, same batch and channels")
    _in_range(at, p, 1, 1 << 16, "filter_h", "filter_w", "stride_h", "stride_w")
    _in_range(at, p, 0, 1 << 16, "pad_top", "pad_left")
    _window(at, x.shape[1], y.shape[1], p["filter_h"], p["stride_h"], 1, p["pad_top"])
    _window(at, x.shape[2], y.shape[2], p["filter_w"], p["stride_w"], 1, p["pad_left"])
    if wide:
        _in_range(at, p, -32768, 32767, "act_min", "act_max")
        if p["act_min"] > p["act_max"]:
            raise _fail(at, f"act_min {p['act_min']} > act_max {p['act_max']}")
        return
    _act(at, p)


def binary_shapes(img: Image, op: OpRec, at: str, int16: bool = False) -> None:
    """A two-input int8 op (or all int16 with `int16`) with 4-D broadcasting: its output has the broadcast shape
    of its inputs."""
    (a, b), y = _recs(img, op, at, (2, 2))
    if not (int16 and a.dtype == b.dtype == y.dtype == "int16"):
        _int8(at, a, b, y)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise _fail(at, "more than 4 dimensions")
    try:
        want = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _fail(at, f"inputs {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    if tuple(want) != tuple(y.shape):
        raise _fail(at, f"output {list(y.shape)} is not the broadcast shape {list(want)}")


def _binary(img: Image, op: OpRec, at: str) -> None:
    binary_shapes(img, op, at, int16=True)
    p = op.params
    if img.tensors[op.outputs[0]].dtype == "int16":  # 16x8 ADD (left_shift 15) and MUL: offsets 0
        _in_range(at, p, 0, 0, "in1_offset", "in2_offset", "out_offset")
        _in_range(at, p, -32768, 32767, "act_min", "act_max")
        if op.opcode == "ADD":
            _in_range(at, p, 15, 15, "left_shift")
            for k in ("in1", "in2"):
                _requant(at, p, f"{k}_mult", f"{k}_shift")
        _requant(at, p, "out_mult", "out_shift")
        return
    _act(at, p)
    if op.opcode == "ADD":
        _in_range(at, p, -I8_MAX, -I8_MIN, "in1_offset", "in2_offset")
        _in_range(at, p, I8_MIN, I8_MAX, "out_offset")
        _in_range(at, p, 0, 20, "left_shift")
        for k in ("in1", "in2", "out"):
            _requant(at, p, f"{k}_mult", f"{k}_shift")
    else:
        _in_range(at, p, -I8_MAX, -I8_MIN, "in1_offset", "in2_offset")
        _in_range(at, p, I8_MIN, I8_MAX, "out_offset")
        _requant(at, p, "out_mult", "out_shift")


def _reshape(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    if x.dtype != y.dtype or x.nbytes != y.nbytes or x.shape[:1] != y.shape[:1]:
        raise _fail(at, f"{x.dtype} {list(x.shape)} -> {y.dtype} {list(y.shape)} is not a reshape keeping the batch")


def _softmax(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    _int8(at, x)
    if y.dtype not in ("int8", "int16"):
        raise _fail(at, f"a {y.dtype} output where the kernel writes int8 or int16")
    _same_shape(at, x, y)
    p = op.params
    _in_range(at, p, 0, (1 << 31) - 1, "input_mult")
    _in_range(at, p, 0, SHIFT_MAX, "input_left_shift")
    _in_range(at, p, -(1 << 31), 0, "diff_min")


def _pad(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    wide = x.dtype == y.dtype == "int16"
    if not wide:
        _int8(at, x, y)
    p = op.params
    rank = len(x.shape)
    if len(y.shape) != rank or rank > 4:
        raise _fail(at, f"input {list(x.shape)} / output {list(y.shape)}: ranks differ or exceed 4")
    _in_range(at, p, 0, 1 << 24, *(f"{s}{i}" for s in ("before", "after") for i in range(4)))
    _in_range(at, p, *((-32768, 32767) if wide else (I8_MIN, I8_MAX)), "pad_value")
    lead = 4 - rank
    if any(p[f"{s}{i}"] for s in ("before", "after") for i in range(lead + 1)):
        raise _fail(at, "padding along the batch dimension or beyond the tensor's rank")
    want = tuple(d + p[f"before{lead + i}"] + p[f"after{lead + i}"] for i, d in enumerate(x.shape))
    if want != y.shape:
        raise _fail(at, f"output {list(y.shape)} is not the input {list(x.shape)} padded")


def _concatenation(img: Image, op: OpRec, at: str) -> None:
    xs, y = _recs(img, op, at, (1, 10))
    if not all(r.dtype == "int16" for r in (y, *xs)):
        _int8(at, y, *xs)
    rank = len(y.shape)
    axis = op.params["axis"]
    if not 1 <= axis < rank or rank > 4:
        raise _fail(at, f"axis {axis} of a {rank}-D output")
    for x in xs:
        if len(x.shape) != rank or any(x.shape[d] != y.shape[d] for d in range(rank) if d != axis):
            raise _fail(at, f"input {list(x.shape)} does not fit output {list(y.shape)} along axis {axis}")
    if sum(x.shape[axis] for x in xs) != y.shape[axis]:
        raise _fail(at, f"inputs do not add up to output {list(y.shape)} along axis {axis}")


def _mean(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    _int8(at, x, y)
    p = op.params
    rank = len(x.shape)
    if not 1 <= rank <= 4 or not 0 <= p["axis_mask"] < (1 << rank) or p["keep_dims"] not in (0, 1):
        raise _fail(at, f"axis mask {p['axis_mask']} / keep_dims {p['keep_dims']} for a {rank}-D input")
    if p["axis_mask"] & 1 and (x.shape[0] != 1 or not p["keep_dims"]):
        raise _fail(at, "reduces the batch dimension")
    kept = math.prod(d for a, d in enumerate(x.shape) if a and not p["axis_mask"] >> a & 1)
    if math.prod(y.shape[1:]) != kept or y.shape[:1] != x.shape[:1]:
        raise _fail(at, f"output {list(y.shape)} does not match input {list(x.shape)} reduced")
    _in_range(at, p, I8_MIN, I8_MAX, "in_zp", "out_zp")
    _requant(at, p, "mult", "shift")


def _logistic(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    _same_shape(at, x, y)
    p = op.params
    if x.dtype == y.dtype == "int16":  # 16x8: TFLM's 16-bit table kernel
        _in_range(at, p, 0, 0, "in_zp", "input_range_radius")
        _in_range(at, p, 0, 32767, "input_mult")
        _in_range(at, p, 0, 31, "input_left_shift")
        return
    _int8(at, x, y)
    _in_range(at, p, I8_MIN, I8_MAX, "in_zp")
    _in_range(at, p, 0, (1 << 31) - 1, "input_range_radius")
    _requant(at, p, "input_mult", "input_left_shift")


QUANTIZE_PAIRS = {("int8", "int8"), ("int16", "int8"), ("int16", "int16"), ("int16", "int32")}


def _quantize(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    if (x.dtype, y.dtype) not in QUANTIZE_PAIRS:
        raise _fail(at, f"{x.dtype} -> {y.dtype}, not a requantization the kernel does")
    _same_shape(at, x, y)
    p = op.params
    _in_range(at, p, *ZP_RANGE[x.dtype], "in_zp")
    _in_range(at, p, *ZP_RANGE[y.dtype], "out_zp")
    _requant(at, p, "mult", "shift")


def _svdf(img: Image, op: OpRec, at: str) -> None:
    """Inputs: feature (batch 1), state (a state tensor), time weights (const), all int8 or all int16; bias
    (int32); int8 output."""
    recs, y = _recs(img, op, at, (3, 4))
    feat, state, wt = recs[:3]
    _int8(at, y)
    if wt.dtype not in ("int8", "int16") or feat.dtype != wt.dtype or state.dtype != wt.dtype:
        raise _fail(at, f"feature {feat.dtype}, state {state.dtype}, time weights {wt.dtype}: one type, int8 or int16")
    if not state.state or wt.storage != STORE_CONST or len(wt.shape) != 2 or len(feat.shape) != 2 \
            or feat.storage != STORE_ARENA:
        raise _fail(at, "expects an activation, a state tensor and constant 2-D time weights")
    p = op.params
    n_filter, n_memory = wt.shape
    _in_range(at, p, 1, n_filter, "rank")
    if n_filter % p["rank"] or math.prod(feat.shape[1:]) != n_filter or feat.shape[0] != 1 \
            or state.shape != (1, n_filter * n_memory) or y.shape != (1, n_filter // p["rank"]):
        raise _fail(at, f"feature {list(feat.shape)}, state {list(state.shape)}, time weights {list(wt.shape)}, "
                        f"output {list(y.shape)} and rank {p['rank']} do not fit together")
    if len(recs) == 4 and (recs[3].dtype != "int32" or recs[3].storage != STORE_CONST
                           or math.prod(recs[3].shape) != y.shape[1]):
        raise _fail(at, "bias must be a constant int32 tensor, one value per unit")
    _in_range(at, p, *ZP_RANGE[state.dtype], "state_zp")
    _in_range(at, p, I8_MIN, I8_MAX, "out_zp")
    _requant(at, p, "mult", "shift")


def _dequantize(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    _int8(at, x, y)
    _same_shape(at, x, y)


def _cpu(fn: Callable[[Image, OpRec, str], None]) -> Callable[[Image, OpRec, str], None]:
    def check(img: Image, op: OpRec, at: str) -> None:
        if op.cim:
            raise _fail(at, "a CPU op with the CiM flag")
        fn(img, op, at)
    return check


CHECKS = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _cpu(_pool), "MAX_POOL_2D": _cpu(_pool), "ADD": _cpu(_binary), "MUL": _cpu(_binary),
    "RESHAPE": _cpu(_reshape), "SOFTMAX": _cpu(_softmax), "PAD": _cpu(_pad), "CONCATENATION": _cpu(_concatenation),
    "MEAN": _cpu(_mean), "LOGISTIC": _cpu(_logistic), "QUANTIZE": _cpu(_quantize), "DEQUANTIZE": _cpu(_dequantize),
    "SVDF": _cpu(_svdf),
}


def check_for(opcode: str) -> Callable[[Image, OpRec, str], None]:
    """The record check of an op: above, or (ops added since, contracts/ops.py) `check_record` in its lowering
    module, next to the code that writes the record."""
    if opcode in CHECKS:
        return CHECKS[opcode]
    return _cpu(importlib.import_module(f"cimconv.lowering.{opcode.lower()}").check_record)


# --- matrices and tiles -----------------------------------------------------------------------------------
def _check_tiles(img: Image, mi: int, m: MatrixRec, where: str) -> None:
    at = f"{where}: matrix {mi}"
    if not m.tiles:
        raise _fail(at, "has no tiles")
    dw = m.kind == MATRIX_DEPTHWISE
    cover = np.zeros(m.cols if dw else (m.cols, m.rows), np.int32)
    for tile in m.tiles:
        if tile.matrix != mi or tile.k_len < 1 or tile.n_len < 1 or tile.k0 + tile.k_len > m.rows \
                or tile.n0 + tile.n_len > m.cols or (dw and (tile.k0 != 0 or tile.k_len != m.rows)):
            raise _fail(at, f"tile {vars(tile)} lies outside its {m.rows}x{m.cols} matrix")
        if dw:
            cover[tile.n0 : tile.n0 + tile.n_len] += 1
        else:
            cover[tile.n0 : tile.n0 + tile.n_len, tile.k0 : tile.k0 + tile.k_len] += 1
    if not (cover == 1).all():
        raise _fail(at, "tiles do not cover every weight exactly once")
    if (m.mult < 0).any() or (m.shift < SHIFT_MIN).any() or (m.shift > SHIFT_MAX).any():
        raise _fail(at, "multipliers below 0 or shifts outside [-31, 30]")


# --- placement --------------------------------------------------------------------------------------------
def _check_placement(img: Image, where: str) -> None:
    """Every tile's rectangle (rows it drives x weight columns it reads, block-diagonal for depthwise) lies
    inside one array of the target the converter mapped for (META "arrays", when the image has it), and no
    two rectangles on an array overlap: a tile's column would otherwise sum another tile's cells."""
    geo = img.meta.get("arrays")
    by_array: dict[tuple[int, int], list[tuple[int, int, int, int, int, int]]] = {}
    for mi, m in enumerate(img.matrices):
        dw = m.kind == MATRIX_DEPTHWISE
        for ti, tile in enumerate(m.tiles):
            h = tile.k_len * tile.n_len if dw else tile.k_len
            w = tile.n_len
            if geo is not None and (tile.macro >= geo["macros"] or tile.array >= geo["arrays_per_macro"]
                                    or tile.row0 + h > geo["rows"] or tile.col0 + w > geo["weight_cols"]):
                raise _fail(f"{where}: matrix {mi} tile {ti}",
                            f"a {h}x{w} rectangle at macro {tile.macro} array {tile.array} row {tile.row0} "
                            f"column {tile.col0} lies outside the target's {geo['macros']} macros x "
                            f"{geo['arrays_per_macro']} arrays of {geo['rows']} rows x {geo['weight_cols']} "
                            "weight columns")
            by_array.setdefault((tile.macro, tile.array), []).append((tile.row0, h, tile.col0, w, mi, ti))
    for (macro, array), rects in by_array.items():
        rects.sort()
        r0 = np.array([r[0] for r in rects], np.int64)
        r1 = r0 + np.array([r[1] for r in rects], np.int64)
        c0 = np.array([r[2] for r in rects], np.int64)
        c1 = c0 + np.array([r[3] for r in rects], np.int64)
        for i in range(len(rects)):
            j_end = int(np.searchsorted(r0, r1[i], side="left"))  # rectangles starting above row r1[i]
            if j_end <= i + 1:
                continue
            hit = np.nonzero((c0[i + 1 : j_end] < c1[i]) & (c0[i] < c1[i + 1 : j_end]))[0]
            if hit.size:
                a, b = rects[i], rects[i + 1 + int(hit[0])]
                raise _fail(f"{where}: macro {macro} array {array}",
                            f"tile {a[5]} of matrix {a[4]} and tile {b[5]} of matrix {b[4]} overlap")
