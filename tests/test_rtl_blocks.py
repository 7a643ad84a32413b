"""Unit tests of the coprocessor's blocks: the sequencer program's requantization (rtl/seq/cim_requant.h,
compiled for the host) against TFLM's integer arithmetic (cimsdk.golden.fixedpoint), the bit-serial
arrays in Verilator against exact integer dot products."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from cimsdk.fpga.verilate import Model, build_model, rtl_dir
from cimsdk.golden.fixedpoint import mbqm


def _run(model: Model, data: bytes) -> bytes:
    exe = build_model(model)
    return subprocess.run([str(exe)], input=data, capture_output=True, check=True, timeout=600).stdout


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_requant_matches_tflm_arithmetic(tmp_path):
    rng = np.random.default_rng(1)
    n = 200_000
    acc = rng.integers(-(1 << 24), 1 << 24, size=n, dtype=np.int64)
    acc[: n // 4] = rng.integers(-(1 << 31), 1 << 31, size=n // 4)  # full int32 range
    acc[n // 4 : n // 2] = rng.integers(-300, 300, size=n // 4)  # rounding ties of small values
    mult = rng.integers(1 << 30, 1 << 31, size=n, dtype=np.int64)
    mult[::7] = (1 << 31) - 1
    mult[::11] = 1 << 30
    mult[::13] = rng.integers(0, 1 << 31, size=len(mult[::13]))
    shift = rng.integers(-31, 1, size=n)
    left = (np.abs(acc) < (1 << 20)) & (rng.random(n) < 0.2)
    shift[left] = rng.integers(1, 10, size=int(left.sum()))  # left shifts that stay inside int32
    zp = rng.integers(-128, 128, size=n)
    lo = rng.integers(-128, 128, size=n)
    hi = np.maximum(lo, rng.integers(-128, 128, size=n))
    full = rng.random(n) < 0.5
    lo[full], hi[full] = -128, 127
    rec = np.stack([acc, mult, shift, zp, lo, hi], axis=1).astype("<i4")
    exe = tmp_path / "requant_host"
    subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-o", str(exe), str(rtl_dir() / "sim" / "requant_host.c")], check=True)
    got = np.frombuffer(subprocess.run([str(exe)], input=rec.tobytes(), capture_output=True, check=True,
                                       timeout=600).stdout, np.int8)
    want = np.clip(mbqm(acc, mult, shift) + zp, lo, hi).astype(np.int8)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size} of {n} differ, first: {rec[bad[0]].tolist()} -> {got[bad[0]]} want {want[bad[0]]}"


@pytest.mark.parametrize("rows,par,ib,serial", [(16, 1, 1, False), (32, 2, 1, False), (16, 4, 2, False),
                                                (8, 3, 4, False), (5, 1, 8, False), (16, 1, 1, True),
                                                (7, 2, 1, True)])
def test_array_dot_products(rows, par, ib, serial):
    rng = np.random.default_rng(rows * 100 + par * 10 + ib)
    n = 3000
    x = rng.integers(-128, 128, size=(n, rows), dtype=np.int8)
    w = rng.integers(-128, 128, size=(n, par, rows), dtype=np.int8)
    x[:50], w[:50] = -128, -128  # extremes: the signed top slice and the negative bit plane
    x[50:100], w[50:100] = 127, -128
    data = b"".join(x[i].tobytes() + w[i].tobytes() for i in range(n))
    if serial:  # one weight bit plane a cycle (the UP5K instance's array)
        model = Model(f"array-serial-{rows}x{par}", "cim_array_serial", ("cim_array.v",), "sim/array_tb.cpp",
                      (("PAR", par), ("ROWS", rows)))
    else:
        model = Model(f"array-{rows}x{par}-ib{ib}", "cim_array", ("cim_array.v",), "sim/array_tb.cpp",
                      (("IB", ib), ("PAR", par), ("ROWS", rows)))
    got = np.frombuffer(_run(model, data), "<i4").reshape(n, par)
    want = np.einsum("npr,nr->np", w.astype(np.int64), x.astype(np.int64))
    assert np.array_equal(got, want)
