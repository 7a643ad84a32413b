"""mithan_vww (a published person-detection model with float32 edges and a TRANSPOSE before its classifier)
converts for both targets and equals TFLM in every element on random float inputs.

TFLM runs the float model end to end; the image's int8 input is what TFLM's own QUANTIZE made of each float
(captured), its int8 output is compared with the tensor TFLM's DEQUANTIZE reads, and the float output with
TFLM's float output dequantized the way TFLM's DEQUANTIZE does it.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from paths import SHARED

from cimconv.pipeline import convert
from cimconv.target import TARGETS_DIR, load_target
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("tflite_micro")

MODEL = SHARED / "models" / "real" / "mithan_vww.tflite"
N_RANDOM = 100


def _target(name: str, scale: int, tmp_path):
    """The target itself, or the same macro with `scale` times the macros (the model's depthwise layers need
    more arrays than either target has until depthwise layers are packed, issue 11 item 4). The copy keeps
    the target's name: the emulated coprocessor finds a target by the name the image records."""
    if scale == 1:
        return load_target(name)
    src = (TARGETS_DIR / f"{name}.toml").read_text()
    text = re.sub(r"^macros = (\d+)", lambda m: f"macros = {int(m.group(1)) * scale}", src, count=1, flags=re.M)
    path = tmp_path / f"{name}-x{scale}.toml"
    path.write_text(text)
    return load_target(str(path))


def check_against_tflm(conv, n: int = N_RANDOM, seed: int = 5) -> None:
    img = conv.image
    io_in, io_out = img.io[0], img.io[1]
    assert (io_in.edge_dtype, io_out.edge_dtype) == ("float32", "float32")
    assert "TRANSPOSE" in {op.opcode for op in img.ops}
    src = img.meta["source_tensors"]
    q_in, q_out = src[img.input_tensor], src[img.output_tensor]
    rec = img.tensors[img.input_tensor]
    lo, hi = (np.array([-128, 127]) - io_in.zero_point) * io_in.scale
    rng = np.random.default_rng(seed)
    floats = rng.uniform(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), (n, *rec.shape[1:])).astype(np.float32)
    ref = TFLM(MODEL, preserve_all=True)
    codes, want_q, want_f = [], [], []
    for f in floats:
        got = ref.run_capture(f[None], [q_in, q_out])
        codes.append(got[q_in].reshape(rec.shape[1:]))
        want_q.append(got[q_out].reshape(img.tensors[img.output_tensor].shape[1:]))
        want_f.append(ref.interp.get_output(0).copy().reshape(want_q[-1].shape))
    codes, want_q, want_f = np.stack(codes), np.stack(want_q), np.stack(want_f)
    assert codes.dtype == np.int8 and len(np.unique(codes)) > 200, "the floats span the input range"
    ours = Executor(conv.image_bytes).run(codes)
    assert int((ours != want_q).sum()) == 0, f"{int((ours != want_q).sum())} of {ours.size} int8 outputs differ"
    # TFLM Dequantize: float(double(scale) * (q - zero_point))
    ours_f = (np.float64(np.float32(io_out.scale)) * (ours.astype(np.float64) - io_out.zero_point)).astype(np.float32)
    assert np.array_equal(ours_f, want_f)


@pytest.mark.parametrize("target", ["sram-dcim", "nor-acim"])
@pytest.mark.parametrize("scale", [1, 8], ids=["target", "x8-arrays"])
def test_mithan_vww_equals_tflm_on_random_floats(target: str, scale: int, tmp_path) -> None:
    """At the target's own size the model fits only with packed depthwise blocks (issue 11 item 4)."""
    check_against_tflm(convert(MODEL, _target(target, scale, tmp_path)))


N_DEVICE = 3


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("backend", ["soft", "mailbox"])
def test_mithan_vww_on_the_emulated_board(backend: str, tmp_path) -> None:
    """The firmware (image linked in, TRANSPOSE's C kernel among the selected ops) equals the golden model,
    and so TFLM, on the emulated board with both CiM backends."""
    import shutil

    if shutil.which("qemu-system-riscv32") is None:
        pytest.skip("needs qemu-system-riscv32")
    from cimsdk.build import build_firmware
    from cimsdk.device import Device
    from cimsdk.emulator import EmulatedBoard

    conv = convert(MODEL, _target("sram-dcim", 8, tmp_path))
    img = tmp_path / "model.cimg"
    img.write_bytes(conv.image_bytes)
    ops = sorted({op.opcode for op in conv.image.ops})
    assert "TRANSPOSE" in ops
    arena = conv.report["totals"]["activation_ram_bytes"]
    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", backend, embed_image=img, ops=ops, quiet=True,
                         defines={"CIM_ARENA_SIZE": f"{arena}u"})
    rec = conv.image.tensors[conv.image.input_tensor]
    xs = np.random.default_rng(3).integers(-128, 128, size=(N_DEVICE, *rec.shape[1:])).astype(np.int8)
    golden = Executor(conv.image_bytes).run(xs)
    # TFLM on the floats these codes stand for (its QUANTIZE gives the codes back)
    io_in, src = conv.image.io[0], conv.image.meta["source_tensors"]
    q_out = src[conv.image.output_tensor]
    ref = TFLM(MODEL, preserve_all=True)
    floats = ((xs.astype(np.float32) - io_in.zero_point) * np.float32(io_in.scale)).astype(np.float32)
    tflm = np.stack([ref.run_capture(f[None], [q_out])[q_out].reshape(golden.shape[1:]) for f in floats])
    assert np.array_equal(golden, tflm)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        assert dev.info().image_loaded
        for x, g in zip(xs, golden, strict=True):
            out, _ = dev.run(x.tobytes(), g.size, timeout=600.0)
            assert np.array_equal(np.frombuffer(out, np.int8), g.reshape(-1))
