"""SVDF models on the emulated board: frame after frame with the state kept in the device's arena, every
frame's output equal to the host golden model and to one TFLM interpreter invoked frame by frame, with
both CiM backends (the feature filters on the macro: the C soft macro or the emulated coprocessor)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from paths import SHARED
from svdf_models import SvdfLayer, svdf_model
from test_recurrent_svdf import keyword_frames

from cimconv.pipeline import convert
from cimsdk.device import Device, ensure_image
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32"),
]
KEYWORD = SHARED / "models" / "real" / "tflm_keyword_scrambled_8bit.tflite"
N_FRAMES = 24


@pytest.fixture(scope="module", params=["soft", "mailbox"])
def firmware(request, tmp_path_factory):
    from cimsdk.build import build_firmware

    backend = request.param
    return backend, build_firmware(tmp_path_factory.mktemp(f"fw-{backend}"), "qemu-virt-rv32", backend, quiet=True)


def _frames_on_device(elf: str, backend: str, image: bytes, xs: np.ndarray, out_dtype: np.dtype,
                      out_size: int) -> tuple[np.ndarray, int]:
    from cimsdk.emulator import EmulatedBoard

    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        ensure_image(dev, image, show_progress=False)
        arena = dev.info().arena_used
        outs = []
        for x in xs:
            out, _ = dev.run(np.ascontiguousarray(x).tobytes(), out_size * np.dtype(out_dtype).itemsize,
                             timeout=120.0)
            outs.append(np.frombuffer(out, out_dtype))
    return np.stack(outs), arena


@pytest.mark.parametrize("target", ["nor-acim", "sram-dcim"])
def test_keyword_model_frames_on_device(firmware, target):
    backend, elf = firmware
    conv = convert(KEYWORD, target)
    xs = keyword_frames(N_FRAMES, seed=21)
    golden = Executor(conv.image_bytes).run_frames(xs)
    ref = TFLM(KEYWORD)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    assert np.array_equal(golden, tflm)
    device, arena = _frames_on_device(elf, backend, conv.image_bytes, xs, np.int32, golden[0].size)
    assert arena == conv.report["totals"]["activation_ram_bytes"]
    assert int((device != golden.reshape(device.shape)).sum()) == 0
    assert int((device != tflm.reshape(device.shape)).sum()) == 0


def test_own_svdf_model_frames_on_device(firmware, tmp_path):
    """Outputs that spread over the int8 range (the keyword model's scrambled weights saturate them)."""
    backend, elf = firmware
    layers = [SvdfLayer(64, 32, 2, 12), SvdfLayer(48, 24, 1, 16)]
    data = svdf_model(layers, seed=3)
    path = tmp_path / "svdf.tflite"
    path.write_bytes(data)
    conv = convert(path, "nor-acim")
    xs = np.random.default_rng(9).integers(-128, 128, size=(N_FRAMES, 1, 64)).astype(np.int8)
    golden = Executor(conv.image_bytes).run_frames(xs)
    ref = TFLM(data)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    assert np.array_equal(golden, tflm) and len(np.unique(tflm)) > 50
    device, _ = _frames_on_device(elf, backend, conv.image_bytes, xs, np.int8, golden[0].size)
    assert int((device != tflm.reshape(device.shape)).sum()) == 0
