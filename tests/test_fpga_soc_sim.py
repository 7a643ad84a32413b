"""The whole FPGA system simulated in Verilator (PicoRV32 + PicoSoC blocks + the RTL coprocessor, the
board's SPI flash modelled, the UART on a TCP socket) running the unchanged console firmware built for
icebreaker-cim: the shared KWS model through the ordinary console protocol, every output element equal
to the golden model and to the TFLM interpreter."""

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
from cimsdk.build import build_firmware
from cimsdk.device import Device
from cimsdk.fpga.instance import load_instance
from cimsdk.fpga.soc_sim import SimulatedBoard, build, soc_model
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

pytest.importorskip("pythondata_cpu_picorv32", reason="the soft core's Verilog: pip install 'cimsdk[fpga]'")
pytestmark = pytest.mark.skipif(shutil.which("verilator") is None, reason="needs verilator")

BOARD = "icebreaker-cim"
TARGET = "fpga-dcim-up5k"
MODEL = MODELS / "kws_ref_model.tflite"
# The simulated board runs about a million clocks a second here (12 MHz on the board): a 4 KiB frame
# takes it seconds, an inference several; bound the waits generously (a loaded 2-core machine).
REPLY_TIMEOUT = 300.0
INFERENCE_TIMEOUT = 900.0


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    conv = convert(MODEL, TARGET)
    image = tmp_path_factory.mktemp("kws") / "kws.cimg"
    image.write_bytes(conv.image_bytes)
    return conv, image


@pytest.fixture(scope="module")
def system() -> None:
    build(BOARD)  # verilated once per source hash (under a minute), cached in ~/.cache/cimsdk/verilator


def _inputs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, 49, 10, 1)).astype(np.int8)


def test_kws_from_flash_bit_exact(kws, system, tmp_path):
    """The weight image linked into the firmware (one flash image, as `iceprog -o 1M firmware.bin` writes
    it): the console reports it loaded, and one inference through SET_INPUT/INVOKE/GET_OUTPUT matches."""
    conv, image = kws
    # only the image's kernels linked (what `cimsdk firmware build --for-image` does): code runs from the
    # CPU's 64 KiB of SPRAM
    elf = build_firmware(tmp_path / "fw", BOARD, "mailbox", embed_image=image,
                         ops=sorted({op.opcode for op in conv.image.ops}), quiet=True)
    xs = _inputs(1, 5)
    with SimulatedBoard(elf, BOARD, log_file=tmp_path / "soc.log") as board, \
            Device(board.url, timeout=REPLY_TIMEOUT, open_timeout=30.0) as dev:
        info = dev.info()
        assert info.board == BOARD and info.backend == "mailbox"
        assert info.image_loaded and info.image_target == TARGET and info.image_size == len(conv.image_bytes)
        waited = dev.counters()["wait_insns"]  # (since start: the LOAD_IMAGE of the embedded image)
        out, counters = dev.run(xs[0].tobytes(), info.output_size, timeout=INFERENCE_TIMEOUT)
        device_counters = dev.counters()
        # the console (code in SPRAM) keeps up with 115200 baud: no byte of the 490-byte input frame was
        # lost to a UART overrun, nothing had to be resent
        assert dev.resends == 0
    device = np.frombuffer(out, np.int8).reshape(1, -1)
    assert np.array_equal(device, Executor(conv.image_bytes).run(xs))
    assert np.array_equal(device, TFLM(MODEL).run(xs))
    # every CiM layer ran as a RUN_OP on the RTL coprocessor, which the CPU waited for
    assert device_counters["cim_ops"] == sum(op.cim for op in conv.image.ops)
    assert 0 < device_counters["wait_insns"] - waited < counters["instret"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "CIMSDK_REPLY_TIMEOUT": str(REPLY_TIMEOUT)}
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *args], capture_output=True, text=True,
                          timeout=3600, env=env)


@pytest.mark.slow
def test_kws_validate_and_device_run(kws, system, tmp_path):
    """The image in flash (the CPU's 64 KiB of SPRAM leave no room to upload a 36 KiB image; the other
    two SPRAM blocks hold the coprocessor's weights): `cimsdk validate` finds it on the device and compares
    3 inputs with the golden model; `cimsdk device run` runs 3 more, compared here with the golden model
    and TFLM."""
    conv, image = kws
    # only the image's kernels linked (what `cimsdk firmware build --for-image` does): code runs from the
    # CPU's 64 KiB of SPRAM
    elf = build_firmware(tmp_path / "fw", BOARD, "mailbox", embed_image=image,
                         ops=sorted({op.opcode for op in conv.image.ops}), quiet=True)
    n = 3
    xs = _inputs(n, 11)
    np.save(tmp_path / "xs.npy", xs)
    with SimulatedBoard(elf, BOARD, log_file=tmp_path / "soc.log") as board:
        r = _cli("validate", str(image), "--port", board.url, "--inputs", str(n), "--seed", "7",
                 "--report", str(tmp_path / "validate.json"), "--timeout", str(INFERENCE_TIMEOUT))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "PASS: bit-exact" in r.stdout
        rep = json.loads((tmp_path / "validate.json").read_text())
        assert rep["inputs"] == n and rep["mismatching_elements"] == 0 and rep["device"]["board"] == BOARD
        r = _cli("device", "run", "--port", board.url, "--image", str(image), "--input", str(tmp_path / "xs.npy"),
                 "--output", str(tmp_path / "ys.npy"), "--timeout", str(INFERENCE_TIMEOUT))
        assert r.returncode == 0, r.stdout + r.stderr
    device = np.load(tmp_path / "ys.npy")
    assert device.shape == (n, 12)
    assert np.array_equal(device, Executor(conv.image_bytes).run(xs))
    assert np.array_equal(device, TFLM(MODEL).run(xs))


def test_emulate_an_fpga_board_rejects_qemu_options(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cimsdk.cli", "emulate", "--board", BOARD, "--flash",
                        str(tmp_path / "f.bin")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 64 and "simulated in Verilator" in r.stderr and "Traceback" not in r.stderr


def test_missing_firmware_is_a_user_error(tmp_path):
    from cimconv.errors import UserError

    with pytest.raises(UserError, match="cimsdk firmware build --board icebreaker-cim"):
        SimulatedBoard(tmp_path / "nope.elf", BOARD)


def test_the_system_top_gets_the_targets_coprocessor():
    """Verilator sets only the top's parameters: the build's copy of icebreaker_cim.v carries the target's."""
    generated = dict(soc_model(BOARD).generated)
    text = generated["icebreaker_cim.v"]
    params = ", ".join(f".{k}({v})" for k, v in load_instance(TARGET).verilog_parameters().items())
    assert f"cim_coprocessor #({params}) cop (" in text


def test_reply_timeout_comes_from_the_environment(monkeypatch):
    from cimconv.errors import UserError
    from cimsdk.device import DEFAULT_REPLY_TIMEOUT, reply_timeout

    monkeypatch.delenv("CIMSDK_REPLY_TIMEOUT", raising=False)
    assert reply_timeout() == DEFAULT_REPLY_TIMEOUT
    monkeypatch.setenv("CIMSDK_REPLY_TIMEOUT", "60")
    assert reply_timeout() == 60.0
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv("CIMSDK_REPLY_TIMEOUT", bad)
        with pytest.raises(UserError, match="CIMSDK_REPLY_TIMEOUT"):
            reply_timeout()
