"""The real firmware on the emulated board runs the shared KWS and VWW images bit-exact to the host
golden model and to TFLM, with both CiM backends, in the activation RAM the converter planned."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from paths import DATA, MODELS

from cimconv.pipeline import convert
from cimsdk.device import Device, ensure_image
from cimsdk.golden import Executor
from cimsdk.inputs import InputSpec, load_input
from cimsdk.reference import TFLM

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32"),
]
N = {"kws_ref_model": 20, "vww_96_int8": 8}  # random inputs (VWW's take the soft backend 5 s each)
ARENA_LIMITS = {"kws_ref_model": 12_000, "vww_96_int8": 48_000}  # issue 18: device activation RAM (in-place layers)
REAL = {"kws_ref_model": ["yes_1000ms.wav", "silence_1000ms.wav"], "vww_96_int8": ["person.bmp"]}


@pytest.fixture(scope="module", params=["soft", "mailbox"])
def firmware(request, tmp_path_factory):
    from cimsdk.build import build_firmware

    backend = request.param
    return backend, build_firmware(tmp_path_factory.mktemp(f"fw-{backend}"), "qemu-virt-rv32", backend, quiet=True)


@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8"])
def test_model_on_device_bit_exact(firmware, name):
    from cimsdk.emulator import EmulatedBoard

    backend, elf = firmware
    model = MODELS / f"{name}.tflite"
    conv = convert(model, "nor-acim")
    spec = InputSpec.from_tflite(model)
    rng = np.random.default_rng(11)
    xs = rng.integers(-128, 128, size=(N[name], *spec.shape[1:])).astype(np.int8)
    xs = np.concatenate([xs, *[load_input(DATA / f, spec) for f in REAL[name]]])
    golden = Executor(conv.image_bytes).run(xs)
    tflm = TFLM(model).run(xs)
    assert np.array_equal(golden, tflm)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        ensure_image(dev, conv.image_bytes, show_progress=False)
        info = dev.info()
        planned = conv.report["totals"]["activation_ram_bytes"]
        assert info.arena_used == planned <= ARENA_LIMITS[name]
        outs = []
        for x in xs:
            out, _ = dev.run(x.tobytes(), golden[0].size, timeout=120.0)
            outs.append(np.frombuffer(out, np.int8).reshape(golden.shape[1:]))
    device = np.stack(outs)
    assert int((device != golden).sum()) == 0
    assert int((device != tflm).sum()) == 0


def test_embedded_image_runs_without_upload(tmp_path):
    """`firmware build --embed-image` ships one file: the device holds the model at boot, and only the
    kernels the image uses are linked."""
    from cimsdk.build import build_firmware
    from cimsdk.emulator import EmulatedBoard

    conv = convert(MODELS / "kws_ref_model.tflite", "sram-dcim")
    img = tmp_path / "model.cimg"
    img.write_bytes(conv.image_bytes)
    ops = sorted({op.opcode for op in conv.image.ops})
    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", "soft", embed_image=img, ops=ops, quiet=True)
    xs = np.random.default_rng(5).integers(-128, 128, size=(3, 49, 10, 1)).astype(np.int8)
    golden = Executor(conv.image_bytes).run(xs)
    with EmulatedBoard(firmware=elf, backend="soft", wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        info = dev.info()
        assert info.image_loaded and info.image_target == "sram-dcim"
        import hashlib

        assert info.image_sha256 == hashlib.sha256(conv.image_bytes).hexdigest()
        for x, g in zip(xs, golden, strict=True):
            out, _ = dev.run(x.tobytes(), g.size)
            assert np.array_equal(np.frombuffer(out, np.int8), g.reshape(-1))
