"""Random single-op CiM layers as weight images, for checking the RTL coprocessor against the golden model.

Shapes, weights and quantization parameters are drawn at random within an RTL instance's buffers;
tiles are cut and placed by the converter's own mapper (cimconv.mapper), so placements are the ones
real images have (row tiles, column tiles, block-diagonal depthwise tiles packed into arrays).
"""

from __future__ import annotations

import math

import numpy as np

from cimconv.image import (
    MATRIX_DENSE,
    MATRIX_DEPTHWISE,
    STORE_ARENA,
    Image,
    IORec,
    MatrixRec,
    OpRec,
    TensorRec,
    write_image,
)
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.mapper import place
from cimsdk.fpga.instance import Instance


def _quant(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel bias, multiplier and shift that put typical accumulators into int8 range."""
    typical = 128 * 64 * math.sqrt(max(k, 1))
    base = -int(round(math.log2(typical))) + 6
    shift = np.clip(base + rng.integers(-3, 3, size=n), -31, 2).astype(np.int32)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=n, dtype=np.int64)
    mult[rng.random(n) < 0.1] = (1 << 31) - 1
    mult[rng.random(n) < 0.1] = 1 << 30
    bias = rng.integers(-int(typical), int(typical) + 1, size=n).astype(np.int32)
    return bias, mult.astype(np.int32), shift


def _window(size: int, k: int, stride: int, dil: int, same: bool) -> tuple[int, int]:
    """Output size and leading padding of TFLite's SAME or VALID padding (VALID when it leaves an output)."""
    eff = (k - 1) * dil + 1
    valid_out = (size + stride - eff) // stride
    if not same and valid_out >= 1:
        return valid_out, 0
    out = (size + stride - 1) // stride
    return out, max((out - 1) * stride + eff - size, 0) // 2


def _op(rng: np.random.Generator, inst: Instance) -> tuple[str, dict, tuple, tuple, MatrixSpec]:
    kind = rng.choice(["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"], p=[0.45, 0.3, 0.25])
    rows = inst.target.rows
    tail = {"in_zp": int(rng.integers(-128, 128)), "out_zp": int(rng.integers(-128, 128))}
    lo, hi = (-128, 127) if rng.random() < 0.6 else sorted(int(v) for v in rng.integers(-128, 128, size=2))
    tail.update(act_min=lo, act_max=hi)
    if kind == "FULLY_CONNECTED":
        k, n, b = int(rng.integers(1, 200)), int(rng.integers(1, min(64, inst.max_out_channels) + 1)), int(rng.integers(1, 4))
        w = rng.integers(-128, 128, size=(n, k), dtype=np.int8)
        return kind, dict(tail), (b, k), (b, n), MatrixSpec(MATRIX_DENSE, w, *_quant(rng, n, k))
    h, wd = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    if kind == "DEPTHWISE_CONV_2D":
        while kh * kw > rows:
            kh, kw = max(1, kh - 1), max(1, kw - 1)
        c, dm = int(rng.integers(1, 25)), int(rng.integers(1, 4))
        n, k = c * dm, kh * kw
    else:
        c = int(rng.integers(1, 25))
        while kh * kw * c > inst.window_bytes:
            c //= 2
        n, k, dm = int(rng.integers(1, 41)), kh * kw * c, 1
    sh, sw, dh, dw = (int(v) for v in (*rng.integers(1, 4, size=2), *rng.integers(1, 3, size=2)))
    same = bool(rng.random() < 0.5)
    oh, pt = _window(h, kh, sh, dh, same)
    ow, pl = _window(wd, kw, sw, dw, same)
    params = dict(stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw, pad_top=pt, pad_left=pl, kernel_h=kh, kernel_w=kw)
    if kind == "DEPTHWISE_CONV_2D":
        params["depth_mult"] = dm
    params.update(tail)
    w = rng.integers(-128, 128, size=(n, k), dtype=np.int8)
    w[rng.random(n) < 0.05] = 0
    spec = MatrixSpec(MATRIX_DEPTHWISE if kind == "DEPTHWISE_CONV_2D" else MATRIX_DENSE, w, *_quant(rng, n, k),
                      kernel=(kh, kw))
    return kind, params, (1, h, wd, c), (1, oh, ow, n), spec


def random_layers_image(inst: Instance, n_ops: int, seed: int, max_weights: int | None = None) -> bytes:
    """An image of `n_ops` independent random CiM ops (each with its own input and output tensor)."""
    rng = np.random.default_rng(seed)
    budget = max_weights or inst.target.weight_capacity // 2
    tensors: list[TensorRec] = []
    lowered: list[Lowered] = []
    arena = 0
    used = 0
    const = b""
    while len(lowered) < n_ops:
        kind, params, in_shape, out_shape, spec = _op(rng, inst)
        if used + spec.rows * spec.cols > budget:
            continue
        used += spec.rows * spec.cols
        ins, outs = [], []
        for shape, dest in ((in_shape, ins), (out_shape, outs)):
            nbytes = int(np.prod(shape))
            tensors.append(TensorRec("int8", tuple(shape), STORE_ARENA, arena, nbytes, 0, 0.1))
            arena += (nbytes + 7) // 8 * 8
            dest.append(len(tensors) - 1)
        params = {"matrix": len(lowered), **params}
        # one activation input, as the converter writes CiM ops (the weights live in the matrix)
        lowered.append(Lowered(str(kind), [ins[0]], outs, params, spec, len(lowered)))
    mapping = place(lowered, inst.target)
    ops = [OpRec(low.opcode, low.inputs, low.outputs, low.params, True, low.source_index) for low in lowered]
    mats = [MatrixRec(low.matrix.kind, low.matrix.rows, low.matrix.cols, low.matrix.weights, low.matrix.bias,
                      low.matrix.mult, low.matrix.shift, mapping.tiles[i]) for i, low in enumerate(lowered)]
    io = [IORec(0, lowered[0].inputs[0], "int8", 0.1, 0), IORec(1, lowered[-1].outputs[0], "int8", 0.1, 0)]
    t = inst.target
    return write_image(Image(t.name, t.id, arena, tensors, ops, mats, io, const, {"model": f"random-{seed}"}))
