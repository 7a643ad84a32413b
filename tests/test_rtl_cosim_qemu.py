"""The unchanged mailbox firmware on QEMU with the RTL coprocessor (Verilated, co-simulated): the shared
KWS model bit-exact with the golden model (`cimsdk validate`) and with TFLM (`cimsdk device run`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from paths import MODELS

from cimconv.pipeline import convert
from cimsdk.emulator import EmulatedBoard
from cimsdk.fpga.cosim import DEFAULT_TARGET
from cimsdk.fpga.instance import load_instance
from cimsdk.fpga.verilate import build
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32"),
]
N = 20


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *args], capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "COLUMNS": "200"})


def test_kws_on_qemu_with_rtl_coprocessor(tmp_path):
    from cimsdk.build import build_firmware

    build(load_instance(DEFAULT_TARGET))  # verilate before the launcher's start timeout runs
    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", "mailbox", quiet=True)
    model = MODELS / "kws_ref_model.tflite"
    conv = convert(model, DEFAULT_TARGET)
    image = tmp_path / "kws.cimg"
    image.write_bytes(conv.image_bytes)
    xs = np.random.default_rng(23).integers(-128, 128, size=(N, 49, 10, 1)).astype(np.int8)
    np.save(tmp_path / "xs.npy", xs)
    log = tmp_path / "board.log"
    with EmulatedBoard(firmware=elf, backend="mailbox", coprocessor="rtl", wait_for_client=False,
                       log_file=log) as board:
        r = _cli("validate", str(image), "--port", board.url, "--inputs", str(N), "--seed", "3",
                 "--report", str(tmp_path / "validate.json"), "--timeout", "600")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "PASS: bit-exact" in r.stdout
        rep = json.loads((tmp_path / "validate.json").read_text())
        assert rep["inputs"] == N and rep["mismatching_elements"] == 0
        r = _cli("device", "run", "--port", board.url, "--image", str(image), "--input", str(tmp_path / "xs.npy"),
                 "--output", str(tmp_path / "ys.npy"), "--timeout", "600")
        assert r.returncode == 0, r.stdout + r.stderr
    device = np.load(tmp_path / "ys.npy")
    assert np.array_equal(device, Executor(conv.image_bytes).run(xs))
    assert np.array_equal(device, TFLM(model).run(xs))
    # the CiM layers ran on the RTL: one RUN_OP per CiM layer and inference, each a co-simulated command
    n_cim = sum(op.cim for op in conv.image.ops)
    runs = [ln for ln in log.read_text().splitlines() if "cosim: command 3 " in ln and "status 0" in ln]
    assert len(runs) == 2 * N * n_cim
