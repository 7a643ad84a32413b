"""Small weight images written directly with cimconv.image (no converter): CiM layers with chosen
geometries and random weights, so the C runtime's kernels can be checked against the golden model
on shapes the shared models do not have (strides, dilation, depth multipliers, odd K and N)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    TileRec,
    write_image,
)
from cimconv.qmath import quantize_multiplier


@dataclass
class Layer:
    """One CiM layer: kind 'conv' | 'dw' | 'fc' | 'reshape' and its geometry."""

    kind: str
    out_c: int = 0
    kh: int = 1
    kw: int = 1
    stride: tuple[int, int] = (1, 1)
    dil: tuple[int, int] = (1, 1)
    padding: str = "same"
    depth_mult: int = 1
    act: tuple[int, int] = (-128, 127)
    scale_boost: float = 1.0  # > 1 produces positive (left) shifts
    wmax: int = 127  # weights in [-wmax, wmax]; small weights keep left-shifted outputs in range
    bmax: int = 20000  # biases in [-bmax, bmax]
    params: dict = field(default_factory=dict)


def _out_hw(h: int, w: int, ly: Layer) -> tuple[int, int, int, int]:
    """TFLite SAME/VALID output size and (pad_top, pad_left)."""
    ekh = (ly.kh - 1) * ly.dil[0] + 1
    ekw = (ly.kw - 1) * ly.dil[1] + 1
    if ly.padding == "same":
        oh, ow = math.ceil(h / ly.stride[0]), math.ceil(w / ly.stride[1])
        ph = max((oh - 1) * ly.stride[0] + ekh - h, 0)
        pw = max((ow - 1) * ly.stride[1] + ekw - w, 0)
        return oh, ow, ph // 2, pw // 2
    oh = (h - ekh) // ly.stride[0] + 1
    ow = (w - ekw) // ly.stride[1] + 1
    return oh, ow, 0, 0


def make_image(in_shape: tuple[int, ...], layers: list[Layer], seed: int = 0, in_zp: int = -3) -> bytes:
    """A layer program of CiM ops (and RESHAPEs planned in place) over random int8 weights."""
    rng = np.random.default_rng(seed)
    tensors: list[TensorRec] = []
    ops: list[OpRec] = []
    mats: list[MatrixRec] = []
    offset = 0

    def add_tensor(shape: tuple[int, ...], zp: int, at: int | None = None) -> int:
        nonlocal offset
        n = int(np.prod(shape))
        off = offset if at is None else at
        if at is None:
            offset = (offset + n + 3) // 4 * 4
        tensors.append(TensorRec("int8", tuple(shape), STORE_ARENA, off, n, zp, 0.05))
        return len(tensors) - 1

    cur = add_tensor(in_shape, in_zp)
    shape, zp = tuple(in_shape), in_zp
    for ly in layers:
        out_zp = int(rng.integers(-20, 20))
        if ly.kind == "reshape":
            new = (shape[0], int(np.prod(shape[1:])))
            t = add_tensor(new, zp, at=tensors[cur].offset)
            ops.append(OpRec("RESHAPE", [cur], [t], {}))
            cur, shape = t, new
            continue
        if ly.kind == "fc":
            k, n = shape[-1], ly.out_c
            new = (*shape[:-1], n)
            w = rng.integers(-ly.wmax, ly.wmax + 1, size=(n, k), dtype=np.int8)
            params = {}
            kind = MATRIX_DENSE
        else:
            _, h, wd, c = shape
            oh, ow, pt, pl = _out_hw(h, wd, ly)
            params = {"stride_h": ly.stride[0], "stride_w": ly.stride[1], "dil_h": ly.dil[0],
                      "dil_w": ly.dil[1], "pad_top": pt, "pad_left": pl, "kernel_h": ly.kh, "kernel_w": ly.kw}
            if ly.kind == "conv":
                n, k = ly.out_c, ly.kh * ly.kw * c
                kind = MATRIX_DENSE
            else:
                n, k = c * ly.depth_mult, ly.kh * ly.kw
                params["depth_mult"] = ly.depth_mult
                kind = MATRIX_DEPTHWISE
            new = (shape[0], oh, ow, n)
            w = rng.integers(-ly.wmax, ly.wmax + 1, size=(n, k), dtype=np.int8)
        # requantization: aim the accumulators' spread at roughly +-60 output steps
        real = ly.scale_boost * 60.0 / (43.0 * (ly.wmax + 1) * math.sqrt(k))
        qs = [quantize_multiplier(real * float(rng.uniform(0.5, 1.5))) for _ in range(n)]
        bias = rng.integers(-ly.bmax, ly.bmax + 1, size=n).astype(np.int32)
        mats.append(MatrixRec(kind, k, n, w, bias, np.array([q[0] for q in qs], np.int32),
                              np.array([q[1] for q in qs], np.int32),
                              [TileRec(len(mats), 0, len(mats), 0, 0, 0, k, 0, n)]))  # an array each: tiles never overlap
        params.update({"matrix": len(mats) - 1, "in_zp": zp, "out_zp": out_zp,
                       "act_min": ly.act[0], "act_max": ly.act[1]})
        t = add_tensor(new, out_zp)
        opcode = {"conv": "CONV_2D", "dw": "DEPTHWISE_CONV_2D", "fc": "FULLY_CONNECTED"}[ly.kind]
        ops.append(OpRec(opcode, [cur], [t], params, cim=True))
        cur, shape, zp = t, new, out_zp
    io = [IORec(0, 0, "int8", 0.05, in_zp), IORec(1, cur, "int8", 0.05, zp)]
    img = Image("sram-dcim", 1, offset, tensors, ops, mats, io)
    return write_image(img)
