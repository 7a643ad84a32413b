"""The packed keyword model (24 depthwise layers in narrowed blocks on shared arrays) on the emulated
board: the real firmware with both CiM backends, bit-exact to the host golden model and to TFLM.

The default run embeds the image in a soft-backend firmware (a 380 KB upload over the emulated UART
takes over a minute); the slow run uploads it to a mailbox-backend firmware, the emulated coprocessor."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from paths import SHARED

from cimconv.pipeline import convert
from cimsdk.device import Device, ensure_image
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32"),
]
KWS_V3 = SHARED / "models" / "real" / "mltk_keyword_spotting_on_off_v3.tflite"


@pytest.mark.parametrize("backend, n, embed", [("soft", 3, True),
                                               pytest.param("mailbox", 6, False, marks=pytest.mark.slow)])
def test_packed_kws_v3_on_device_bit_exact(tmp_path, backend, n, embed):
    from cimsdk.build import build_firmware
    from cimsdk.emulator import EmulatedBoard

    conv = convert(KWS_V3, "nor-acim")
    assert conv.report["totals"]["depthwise_block"] < 1024 // 9  # packed: narrower than the widest block
    img = tmp_path / "model.cimg"
    img.write_bytes(conv.image_bytes)
    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", backend, embed_image=img if embed else None,
                         quiet=True)
    rec = conv.image.tensors[conv.image.input_tensor]
    xs = np.random.default_rng(31).integers(-128, 128, size=(n, *rec.shape[1:])).astype(np.int8)
    golden = Executor(conv.image_bytes).run(xs)
    assert np.array_equal(golden, TFLM(KWS_V3).run(xs))
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        if embed:
            info = dev.info()
            assert info.image_loaded and info.image_sha256 == hashlib.sha256(conv.image_bytes).hexdigest()
        else:
            ensure_image(dev, conv.image_bytes, show_progress=False)
        outs = []
        for x in xs:
            out, _ = dev.run(x.tobytes(), golden[0].size, timeout=300.0)
            outs.append(np.frombuffer(out, np.int8).reshape(golden.shape[1:]))
    assert int((np.stack(outs) != golden).sum()) == 0
