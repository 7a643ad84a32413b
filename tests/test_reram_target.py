"""The `reram-acim` target (issue 19; its sources: tests/test_target_sources.py): it converts the shared KWS and
VWW models bit-exact with TFLM (its 2-bit cells x 4, differential pairs, 64 rows per 8-bit conversion are
ADC-lossless), and `simulate` uses the ReRAM noise preset by default."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from paths import DATA, MODELS

from cimconv.pipeline import convert
from cimconv.target import load_target
from cimsdk.golden import Executor
from cimsdk.inputs import InputSpec, load_input
from cimsdk.reference import TFLM


def test_geometry_follows_the_cited_macro():
    t = load_target("reram-acim")
    cells = t.arrays * t.rows * t.cols
    assert cells == 8 * 2**20  # the 8 Mb macro of the [jssc2023] source
    assert t.weight_capacity == cells // (t.cells_per_weight * 2)  # differential pairs of 4 slices
    assert t.adc_lossless and not t.exact
    assert t.energy["pj_per_mac"] == pytest.approx(2 / 21.6, rel=1e-3)


def _inputs(model, n: int, wavs: list[str]) -> np.ndarray:
    spec = InputSpec.from_tflite(model)
    xs = np.random.default_rng(17).integers(-128, 128, size=(n, *spec.shape[1:])).astype(np.int8)
    return np.concatenate([xs, *[load_input(DATA / f, spec) for f in wavs]])


@pytest.mark.parametrize("name, real", [("kws_ref_model", ["yes_1000ms.wav", "no_1000ms.wav"]),
                                        ("vww_96_int8", ["person.bmp", "no_person.bmp"])])
def test_shared_models_convert_and_equal_tflm(name, real):
    model = MODELS / f"{name}.tflite"
    conv = convert(model, "reram-acim")
    assert conv.report["totals"]["arrays_used"] <= 128
    xs = _inputs(model, 30, real)
    ours = Executor(conv.image_bytes).run(xs)
    theirs = TFLM(model).run(xs)
    assert int((ours != theirs).sum()) == 0


def test_noise_off_exact_and_reram_noise_by_default():
    from cimsdk.sim.analog import AnalogCimModel
    from cimsdk.sim.noise import default_preset, load_noise

    model = MODELS / "kws_ref_model.tflite"
    conv = convert(model, "reram-acim")
    assert default_preset(conv.target) == "reram"
    xs = _inputs(model, 3, ["yes_1000ms.wav"])
    want = TFLM(model).run(xs)
    ideal = AnalogCimModel(conv.image, conv.target, load_noise("ideal"), trials=2)
    np.testing.assert_array_equal(Executor(conv.image, cim=ideal).run(np.concatenate([xs, xs])),
                                  np.concatenate([want, want]))
    # at the preset's own level the chips differ from the integer model, reproducibly per seed
    runs = []
    for _ in range(2):
        noisy = AnalogCimModel(conv.image, conv.target, load_noise(default_preset(conv.target)), trials=2, seed=5)
        runs.append(Executor(conv.image, cim=noisy).run(np.concatenate([xs, xs])))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert (runs[0] != np.concatenate([want, want])).any()


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32")
@pytest.mark.parametrize("name, backend", [("kws_ref_model", "soft"),
                                           pytest.param("vww_96_int8", "mailbox", marks=pytest.mark.slow)])
def test_on_emulated_board_bit_exact(tmp_path, name, backend):
    """The firmware runs reram-acim images (embedded at build time) bit-exact to the golden model and TFLM."""
    from cimsdk.build import build_firmware
    from cimsdk.device import Device
    from cimsdk.emulator import EmulatedBoard

    model = MODELS / f"{name}.tflite"
    conv = convert(model, "reram-acim")
    img = tmp_path / "model.cimg"
    img.write_bytes(conv.image_bytes)
    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", backend, embed_image=img, quiet=True)
    xs = _inputs(model, 2, [])
    golden = Executor(conv.image_bytes).run(xs)
    assert np.array_equal(golden, TFLM(model).run(xs))
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        info = dev.info()
        assert info.image_loaded and info.image_target == "reram-acim"
        for x, g in zip(xs, golden, strict=True):
            out, _ = dev.run(x.tobytes(), g.size, timeout=300.0)
            assert np.array_equal(np.frombuffer(out, np.int8), g.reshape(-1))
