"""tflm_seanet_conv0 (TFLM's 16x8 test model: int16 activations, int8 weights, int64 bias): converted for both
targets, bit-exact with TFLM on random int16 inputs on the host (golden model and the native firmware runtime),
its report prices the 16-bit inputs, and FPGA targets refuse it in one line."""

from __future__ import annotations

import numpy as np
import pytest
from paths import SHARED, TARGETS

from cimconv.errors import ModelError
from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

MODEL = SHARED / "models" / "real" / "tflm_seanet_conv0.tflite"
N_RANDOM = 100


@pytest.mark.parametrize("target", TARGETS)
def test_seanet_16x8_equals_tflm(target: str) -> None:
    conv = convert(MODEL, target)
    img = conv.image
    x_rec = img.tensors[img.input_tensor]
    assert x_rec.dtype == "int16" and img.inputs[0].edge_dtype == "int16"
    assert [op.opcode for op in img.ops] == ["CONV_2D"]
    rng = np.random.default_rng(16)
    xs = rng.integers(-32768, 32768, size=(N_RANDOM, *x_rec.shape[1:])).astype(np.int16)
    xs[0], xs[1] = 32767, -32768
    ours = Executor(conv.image_bytes).run(xs)
    theirs = TFLM(MODEL).run(xs)
    assert ours.dtype == np.int16 and ours.shape == theirs.shape
    bad = int((ours != theirs).sum())
    assert bad == 0, f"{bad} of {ours.size} elements differ from TFLM"
    assert len(np.unique(ours)) > 1000  # not a saturated or constant output


@pytest.mark.parametrize("target", TARGETS)
def test_seanet_report_prices_16_bit_inputs(target: str) -> None:
    """Bit-serial inputs at 1 bit per cycle: 16 input cycles per product instead of 8, twice the macro time."""
    from cimconv.target import load_target
    from cimsdk.report_view import render_text

    t = load_target(target)
    rep = convert(MODEL, target).report
    row = rep["layers"][0]
    assert row["input_bits"] == 16
    assert row["input_cycles"] == 16 // t.input_bits_per_cycle == 2 * t.input_cycles
    extra = row["wide_input_cost"]
    assert extra["latency_us"] == pytest.approx(row["cim_latency_us"] / 2)
    assert extra["energy_uj"] > 0
    assert "16 input cycles per product instead of 8" in render_text(rep)


def test_seanet_native_runtime_equals_golden(tmp_path) -> None:
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("runtime_build", Path(__file__).parent / "c" / "runtime_build.py")
    rb = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("runtime_build", rb)
    spec.loader.exec_module(rb)
    if not rb.have_gcc():
        pytest.skip("needs gcc")
    exe = rb.build_host(tmp_path)
    for target in TARGETS:
        conv = convert(MODEL, target)
        x_rec = conv.image.tensors[conv.image.input_tensor]
        xs = np.random.default_rng(5).integers(-32768, 32768, size=(8, *x_rec.shape[1:])).astype(np.int16)
        golden = Executor(conv.image_bytes).run(xs)
        (tmp_path / "m.cimg").write_bytes(conv.image_bytes)
        (tmp_path / "in.bin").write_bytes(xs.tobytes())
        res = rb.run_host(exe, tmp_path / "m.cimg", tmp_path / "in.bin", tmp_path / "out.bin")
        assert res.returncode == 0, res.stdout + res.stderr
        c = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.int16).reshape(golden.shape)
        assert np.array_equal(c, golden), f"{target}: the C runtime differs from the golden model"


def test_fpga_target_refuses_16x8_in_one_line() -> None:
    with pytest.raises(ModelError) as exc:
        convert(MODEL, "fpga-dcim-up5k")
    msg = str(exc.value)
    assert "\n" not in msg and "int16" in msg and "sram-dcim" in msg


@pytest.mark.qemu
@pytest.mark.parametrize("backend", ["soft", "mailbox"])
def test_seanet_on_the_emulated_board_equals_tflm(backend: str, tmp_path) -> None:
    """Both targets' images through the console of the emulated board, with the C soft backend (the firmware's
    cim_soft_wide.c) and with the mailbox (the emulated coprocessor): every element equal to TFLM."""
    import shutil

    if shutil.which("qemu-system-riscv32") is None:
        pytest.skip("needs qemu-system-riscv32")
    from cimsdk.build import build_firmware
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard

    elf = build_firmware(tmp_path / f"fw-{backend}", "qemu-virt-rv32", backend, quiet=True)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        for target in TARGETS:
            conv = convert(MODEL, target)
            img = conv.image
            x_rec, y_rec = img.tensors[img.input_tensor], img.tensors[img.output_tensor]
            xs = np.random.default_rng(9).integers(-32768, 32768, size=(6, *x_rec.shape[1:])).astype(np.int16)
            xs[0] = 32767
            ensure_image(dev, conv.image_bytes, show_progress=False)
            info = dev.info()
            assert (info.input_size, info.output_size) == (x_rec.nbytes, y_rec.nbytes)
            device = np.stack([np.frombuffer(dev.run(x.tobytes(), y_rec.nbytes, timeout=300.0)[0], np.int16)
                               for x in xs]).reshape((len(xs), *y_rec.shape[1:]))
            theirs = TFLM(MODEL).run(xs)
            bad = int((device != theirs).sum())
            assert bad == 0, f"{target} on the {backend} backend: {bad} of {device.size} elements differ from TFLM"
