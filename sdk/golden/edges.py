"""A model's edges on the host: the QUANTIZE before and the DEQUANTIZE (or QUANTIZE) after the int8 program.

A TFLite model with float32 or uint8 inputs and outputs starts with QUANTIZE and ends with DEQUANTIZE (or a
QUANTIZE to uint8). The converter takes those ops out of the program and records each edge in the image's io
section: its dtype, scale and zero point (docs/edges.md). They run here, on the host, with TFLM's own
arithmetic, so what the device computes stays int8 and what the user gives and gets is what the model does:

- float32 in: TFLM AffineQuantize, `round(x / scale) + zero_point` with the division in float32 and
  rounding half away from zero, clamped to int8 (int16 for a 16x8 model, whose program reads int16);
- uint8 in / uint8 out: TFLM Requantize, the multiplier of `in_scale / out_scale` (double) applied with
  MultiplyByQuantizedMultiplier, clamped;
- float32 out: TFLM Dequantize, `float(scale * (q - zero_point))` with the product in double.

An int16 input (or int16/int32 output) is no host edge: the program's own QUANTIZE reads it (or its
QUANTIZE/SOFTMAX writes it), so its values pass through unchanged (TFLM's keyword model, docs/recurrent.md).
"""

from __future__ import annotations

import numpy as np

from cimconv.errors import UserError
from cimconv.image import Image, IORec, TensorRec
from cimconv.qmath import quantize_multiplier
from cimsdk.golden.fixedpoint import mbqm

LIMITS = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-(1 << 31), (1 << 31) - 1)}
HOST_EDGES = ("float32", "uint8")  # edges whose QUANTIZE/DEQUANTIZE runs here; int16/int32 ones run in the program
PROGRAM_EDGES = ("int16", "int32")  # edge dtypes the program itself reads or writes


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """std::round of float32 values, exactly (the float64 sum of a float32 and 0.5 does not round)."""
    a = np.abs(v.astype(np.float64))
    return np.sign(v) * np.floor(a + 0.5)


def _requantize(x: np.ndarray, in_scale: float, in_zp: int, out_scale: float, out_zp: int, out: str) -> np.ndarray:
    mult, shift = quantize_multiplier(float(np.float32(in_scale)) / float(np.float32(out_scale)))
    lo, hi = LIMITS[out]
    y = mbqm(x.astype(np.int64) - in_zp, mult, shift) + out_zp
    return np.clip(y, lo, hi).astype(out)


def quantize_float(x: np.ndarray, scale: float, zero_point: int, dtype: str = "int8") -> np.ndarray:
    """TFLM QUANTIZE float32 -> int8 or int16 (reference_ops::AffineQuantize)."""
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise UserError("the input holds NaN or infinite values; give finite floats")
    with np.errstate(over="ignore"):
        q = _round_half_away(x / np.float32(scale))
    q = np.clip(q, -(2.0**31), 2.0**31 - 1) + zero_point
    lo, hi = LIMITS[dtype]
    return np.clip(q, lo, hi).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLM DEQUANTIZE int8 -> float32 (reference_ops::Dequantize: the product in double)."""
    return (float(np.float32(scale)) * (q.astype(np.float64) - zero_point)).astype(np.float32)


def to_program(x: np.ndarray, io: IORec, rec: TensorRec, where: str = "input") -> np.ndarray:
    """A user's values for one model input (the edge dtype) as the int8 (or int16) codes the program reads.

    int8 values pass unchanged; for a float32 or uint8 edge they are quantized as the model's own QUANTIZE
    would. The program's codes are also taken for a float32/uint8 edge (already quantized, as `validate`'s
    random inputs are). An int16 input takes int16 values (any integers in its range), unchanged."""
    x = np.asarray(x)
    if rec.dtype == "float32":  # a float model on a floating-point target: float32 values, unchanged
        if np.issubdtype(x.dtype, np.floating):
            return x.astype(np.float32)
        raise UserError(f"{where}: values of dtype {x.dtype}, the model input is float32; give float32 values")
    if io.edge_dtype in PROGRAM_EDGES:
        lo, hi = LIMITS[io.edge_dtype]
        if x.dtype.kind in "iu" and (x.size == 0 or (int(x.min()) >= lo and int(x.max()) <= hi)):
            return x.astype(io.edge_dtype)
        raise UserError(f"{where}: values of dtype {x.dtype}, the model input is {io.edge_dtype}; give "
                        f"{io.edge_dtype} values")
    if x.dtype == rec.dtype:
        return x
    if io.edge_dtype == "float32" and np.issubdtype(x.dtype, np.floating):
        return quantize_float(x, io.scale, io.zero_point, rec.dtype)
    if io.edge_dtype == "uint8" and x.dtype == np.uint8:
        return _requantize(x, io.scale, io.zero_point, rec.scale, rec.zero_point, "int8")
    raise UserError(f"{where}: values of dtype {x.dtype}, the model input is {io.edge_dtype}; give "
                    f"{io.edge_dtype} values (or the {rec.dtype} codes the program reads)")


def from_program(y: np.ndarray, io: IORec, rec: TensorRec) -> np.ndarray:
    """The program's int8 output as the model returns it (its edge dtype)."""
    y = np.asarray(y)
    if rec.dtype == "float32":  # a floating-point target's program writes the float32 output itself
        return y
    if io.edge_dtype == "float32":
        return dequantize(y, io.scale, io.zero_point)
    if io.edge_dtype == "uint8":
        return _requantize(y, rec.scale, rec.zero_point, io.scale, io.zero_point, "uint8")
    return y


def edge_range(io: IORec, program_dtype: str = "int8") -> tuple[float, float]:
    """The values an input edge can tell apart: the program's int8 (or int16) range in the edge's units, or
    the uint8 / int16 range of such an edge."""
    if io.edge_dtype in ("uint8", *PROGRAM_EDGES):
        return tuple(float(v) for v in LIMITS[io.edge_dtype])
    lo, hi = LIMITS[program_dtype]
    if io.edge_dtype == "float32":
        return io.scale * (lo - io.zero_point), io.scale * (hi - io.zero_point)
    return float(lo), float(hi)


def random_inputs(img: Image, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n` random inputs per model input, in each edge's dtype: floats uniform over the input range for a
    float32 edge (slightly beyond it, so clamping is exercised too), every code for uint8, int8 and int16."""
    out = []
    for io in img.inputs:
        shape = (n, *img.tensors[io.tensor].shape[1:])
        if img.tensors[io.tensor].dtype == "float32":  # a float model (floating-point target): no range known
            out.append(rng.standard_normal(size=shape).astype(np.float32))
        elif io.edge_dtype == "float32":
            lo, hi = edge_range(io, img.tensors[io.tensor].dtype)
            pad = 0.02 * (hi - lo)
            out.append(rng.uniform(lo - pad, hi + pad, size=shape).astype(np.float32))
        elif io.edge_dtype in ("uint8", *PROGRAM_EDGES):
            lo, hi = LIMITS[io.edge_dtype]
            out.append(rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(io.edge_dtype))
        else:
            lo, hi = LIMITS[img.tensors[io.tensor].dtype]
            out.append(rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(img.tensors[io.tensor].dtype))
    return out


def program_inputs(img: Image, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Edge values of every model input -> the int8 codes the program reads."""
    if len(xs) != len(img.inputs):
        raise UserError(f"{len(xs)} input arrays for a model of {len(img.inputs)} inputs")
    names = img.io_names(0)
    return [to_program(x, io, img.tensors[io.tensor], names[i]) for i, (x, io) in enumerate(zip(xs, img.inputs,
                                                                                                strict=True))]


def model_outputs(img: Image, ys: list[np.ndarray]) -> list[np.ndarray]:
    """The program's int8 outputs -> what the model returns (each edge's dtype)."""
    return [from_program(y, io, img.tensors[io.tensor]) for y, io in zip(ys, img.outputs, strict=True)]
