"""Weight images of random CiM layers for the multiply-accumulate backend matrix (tests/test_mac_backends.py).

Each op is independent (its own input and output tensor); tiles are cut and placed by the converter's mapper
for the named target, so row tiles, column tiles and block-diagonal depthwise tiles are the real ones.
`bound_layer_image` builds one FULLY_CONNECTED layer whose weights put its sums at a chosen size, for the
float-exactness bound of `cimsdk.mac.exactness`.
"""

from __future__ import annotations

import numpy as np
from rtl_cases import _quant, _window

from cimconv.image import (
    MATRIX_DENSE,
    MATRIX_DEPTHWISE,
    STORE_ARENA,
    Image,
    IORec,
    MatrixRec,
    OpRec,
    TensorRec,
    TileRec,
)
from cimconv.lowering import Lowered, MatrixSpec
from cimconv.mapper import place
from cimconv.target import load_target


def _tail(rng: np.random.Generator) -> dict[str, int]:
    lo, hi = (-128, 127) if rng.random() < 0.6 else sorted(int(v) for v in rng.integers(-128, 128, size=2))
    return {"in_zp": int(rng.integers(-128, 128)), "out_zp": int(rng.integers(-128, 128)), "act_min": lo,
            "act_max": hi}


def _op(rng: np.random.Generator, rows: int) -> tuple[str, dict, tuple, tuple, MatrixSpec]:
    kind = str(rng.choice(["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"], p=[0.45, 0.3, 0.25]))
    tail = _tail(rng)
    if kind == "FULLY_CONNECTED":  # up to a few row tiles and column tiles
        k, n, b = int(rng.integers(1, 3 * rows)), int(rng.integers(1, 300)), int(rng.integers(1, 4))
        w = rng.integers(-128, 128, size=(n, k), dtype=np.int8)
        return kind, tail, (b, k), (b, n), MatrixSpec(MATRIX_DENSE, w, *_quant(rng, n, k))
    h, wd = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    if kind == "DEPTHWISE_CONV_2D":
        c, dm = int(rng.integers(1, 40)), int(rng.integers(1, 4))
        n, k = c * dm, kh * kw
    else:
        c, dm = int(rng.integers(1, 40)), 1
        n, k = int(rng.integers(1, 80)), kh * kw * c
    sh, sw, dh, dw = (int(v) for v in (*rng.integers(1, 4, size=2), *rng.integers(1, 3, size=2)))
    same = bool(rng.random() < 0.5)
    oh, pt = _window(h, kh, sh, dh, same)
    ow, pl = _window(wd, kw, sw, dw, same)
    params = dict(stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw, pad_top=pt, pad_left=pl, kernel_h=kh, kernel_w=kw,
                  **tail)
    if kind == "DEPTHWISE_CONV_2D":
        params["depth_mult"] = dm
    w = rng.integers(-128, 128, size=(n, k), dtype=np.int8)
    w[rng.random(n) < 0.05] = 0
    spec = MatrixSpec(MATRIX_DEPTHWISE if kind == "DEPTHWISE_CONV_2D" else MATRIX_DENSE, w, *_quant(rng, n, k),
                      kernel=(kh, kw))
    return kind, params, (1, h, wd, c), (1, oh, ow, n), spec


def _image(target: str, ops: list[tuple[str, dict, tuple, tuple, MatrixSpec]], name: str) -> Image:
    t = load_target(target)
    tensors: list[TensorRec] = []
    lowered: list[Lowered] = []
    arena = 0
    for kind, params, in_shape, out_shape, spec in ops:
        ids = []
        for shape in (in_shape, out_shape):
            nbytes = int(np.prod(shape))
            tensors.append(TensorRec("int8", tuple(shape), STORE_ARENA, arena, nbytes, 0, 0.1))
            arena += (nbytes + 7) // 8 * 8
            ids.append(len(tensors) - 1)
        lowered.append(Lowered(kind, [ids[0]], [ids[1]], {"matrix": len(lowered), **params}, spec, len(lowered)))
    mapping = place(lowered, t)
    recs = [OpRec(low.opcode, low.inputs, low.outputs, low.params, True, low.source_index) for low in lowered]
    mats = [MatrixRec(low.matrix.kind, low.matrix.rows, low.matrix.cols, low.matrix.weights, low.matrix.bias,
                      low.matrix.mult, low.matrix.shift, mapping.tiles[i]) for i, low in enumerate(lowered)]
    io = [IORec(0, lowered[0].inputs[0], "int8", 0.1, 0), IORec(1, lowered[-1].outputs[0], "int8", 0.1, 0)]
    return Image(t.name, t.id, arena, tensors, recs, mats, io, b"", {"model": name})


def random_layers_image(target: str, n_ops: int, seed: int) -> Image:
    """`n_ops` independent random CiM ops (conv, depthwise with multipliers, FC over several tiles)."""
    rng = np.random.default_rng(seed)
    rows = load_target(target).rows
    return _image(target, [_op(rng, rows) for _ in range(n_ops)], f"random-{seed}")


def bound_layer_image(target: str, k: int, weight: int, batch: int = 2) -> Image:
    """One FULLY_CONNECTED layer of 4 columns over k inputs, every weight equal to `weight`."""
    n = 4
    w = np.full((n, k), weight, np.int8)
    spec = MatrixSpec(MATRIX_DENSE, w, np.zeros(n, np.int32), np.full(n, 1 << 30, np.int32),
                      np.full(n, -16, np.int32))
    tail = {"in_zp": 0, "out_zp": 0, "act_min": -128, "act_max": 127}
    return _image(target, [("FULLY_CONNECTED", tail, (batch, k), (batch, n), spec)], f"bound-{k}x{weight}")


def depthwise_layers_image(target: str, n_ops: int, seed: int) -> Image:
    """`n_ops` independent random depthwise layers (strides, dilations, multipliers, padding), for the fused
    depthwise kernel of the fast backend."""
    rng = np.random.default_rng(seed)
    rows = load_target(target).rows
    ops = []
    while len(ops) < n_ops:
        op = _op(rng, rows)
        if op[0] == "DEPTHWISE_CONV_2D":
            ops.append(op)
    return _image(target, ops, f"depthwise-{seed}")


def huge_depthwise_image(target: str, side: int, weight: int = -128) -> Image:
    """One depthwise layer of one channel with a side x side kernel over a side x side input, every weight equal
    to `weight`: 128 x 128 x side^2 passes 2^31 from side 363 on (past int32 sums, the fused kernel's bound).
    No target's array holds such a window, so the image is built by hand with one logical tile: the mapper
    keeps real depthwise windows far inside the bound, this is the host models' fallback only."""
    k = side * side
    w = np.full((1, k), weight, np.int8)
    spec = MatrixSpec(MATRIX_DEPTHWISE, w, np.zeros(1, np.int32), np.full(1, 1 << 30, np.int32),
                      np.full(1, -31, np.int32), kernel=(side, side))
    params = dict(stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_top=0, pad_left=0, kernel_h=side, kernel_w=side,
                  depth_mult=1, in_zp=0, out_zp=0, act_min=-128, act_max=127)
    t = load_target(target)
    tensors = [TensorRec("int8", (1, side, side, 1), STORE_ARENA, 0, k, 0, 0.1),
               TensorRec("int8", (1, 1, 1, 1), STORE_ARENA, (k + 7) // 8 * 8, 1, 0, 0.1)]
    # no array holds such a window (the mapper refuses it): one logical tile, for the host models only
    tile = TileRec(0, 0, 0, 0, 0, 0, k, 0, 1)
    mats = [MatrixRec(MATRIX_DEPTHWISE, k, 1, w, spec.bias, spec.mult, spec.shift, [tile])]
    ops = [OpRec("DEPTHWISE_CONV_2D", [0], [1], {"matrix": 0, **params}, True, 0)]
    io = [IORec(0, 0, "int8", 0.1, 0), IORec(1, 1, "int8", 0.1, 0)]
    return Image(t.name, t.id, (k + 7) // 8 * 8 + 8, tensors, ops, mats, io, b"", {"model": f"dw-{side}"})
