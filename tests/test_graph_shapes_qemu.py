"""Graph shapes on the emulated board: several inputs and outputs, uint8 edges and float edges run end to end
(image, firmware runtime, console protocol, `cimsdk device run` and `validate`), bit-exact with TFLM.

One firmware build (the mailbox backend: the emulated CiM coprocessor computes every CiM op) serves every
image; the images are converted for both CiM targets where the test says so.
"""

from __future__ import annotations

import shutil

import edge_models
import numpy as np
import pytest
from click.testing import CliRunner
from paths import SHARED

from cimconv.pipeline import convert
from cimsdk.cli import cli
from cimsdk.device import Device, ensure_image
from cimsdk.golden import Executor
from cimsdk.golden.edges import program_inputs, random_inputs
from cimsdk.reference import TFLM

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32"),
]

REAL = SHARED / "models" / "real"


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    from cimsdk.build import build_firmware

    return build_firmware(tmp_path_factory.mktemp("fw-mailbox"), "qemu-virt-rv32", "mailbox", quiet=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("shapes")
    out = {}
    for name in ("two_heads", "two_in_two_out", "uint8_edges"):
        path = folder / f"{name}.tflite"
        path.write_bytes(getattr(edge_models, name)(seed=3))
        out[name] = path
    return out


def _device_outputs(dev: Device, img, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Every item through the console: the inputs' int8 bytes one after another, the outputs split apart."""
    out_recs = [img.tensors[io.tensor] for io in img.outputs]
    total = sum(r.nbytes for r in out_recs)
    rows = []
    for i in range(len(xs[0])):
        raw, _ = dev.run(b"".join(x[i].tobytes() for x in xs), total, timeout=120.0)
        rows.append(np.frombuffer(raw, np.int8))
    flat = np.stack(rows)
    cuts = np.cumsum([r.nbytes for r in out_recs])[:-1]
    return [p.reshape((len(flat), *r.shape[1:])) for p, r in zip(np.split(flat, cuts, axis=1), out_recs, strict=True)]


def test_multi_io_and_uint8_models_on_device_equal_tflm(elf, models, tmp_path):
    """Two heads, two inputs with two outputs, uint8 in and out: each output of the device equals TFLM's."""
    from cimsdk.emulator import EmulatedBoard

    with EmulatedBoard(firmware=elf, backend="mailbox", wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        for name, target in (("two_heads", "nor-acim"), ("two_in_two_out", "sram-dcim"), ("uint8_edges", "nor-acim")):
            conv = convert(models[name], target)
            img = conv.image
            xs = random_inputs(img, 12, np.random.default_rng(5))
            ensure_image(dev, conv.image_bytes, show_progress=False)
            info = dev.info()
            assert info.input_size == sum(img.tensors[io.tensor].nbytes for io in img.inputs)
            assert info.output_size == sum(img.tensors[io.tensor].nbytes for io in img.outputs)
            device = _device_outputs(dev, img, program_inputs(img, xs))
            golden = Executor(img).run_all(program_inputs(img, xs))
            from cimsdk.golden.edges import model_outputs

            theirs = TFLM(models[name]).run_all(xs)
            for j, (d, g, ours, ref) in enumerate(zip(device, golden, model_outputs(img, device), theirs, strict=True)):
                assert np.array_equal(d, g), f"{name} output {j}: device differs from the golden model"
                assert ours.dtype == ref.dtype and np.array_equal(ours, ref.reshape(ours.shape)), \
                    f"{name} output {j}: device differs from TFLM"


def test_device_run_and_validate_cli_with_npz(elf, models, tmp_path):
    """`device run --image` takes a .npz named after the model's inputs and writes a .npz named after its
    outputs; `validate` passes on the same two-input model."""
    from cimsdk.emulator import EmulatedBoard

    conv = convert(models["two_in_two_out"], "nor-acim")
    img = conv.image
    image = tmp_path / "model.cimg"
    image.write_bytes(conv.image_bytes)
    xs = random_inputs(img, 4, np.random.default_rng(8))
    names_in, names_out = img.io_names(0), img.io_names(1)
    np.savez(tmp_path / "x.npz", **dict(zip(names_in, xs, strict=True)))
    with EmulatedBoard(firmware=elf, backend="mailbox", wait_for_client=False) as board:
        res = CliRunner().invoke(cli, ["device", "run", "--port", board.url, "--image", str(image), "-i",
                                       str(tmp_path / "x.npz"), "-o", str(tmp_path / "y.npz")], standalone_mode=False)
        assert res.exit_code == 0, res.output
        res = CliRunner().invoke(cli, ["validate", "--port", board.url, str(image), "--inputs", "6", "--input",
                                       str(tmp_path / "x.npz")], standalone_mode=False)
        assert res.exit_code == 0, res.output
        assert "PASS: bit-exact" in res.output and "inputs 10 (6 random, 4 from files)" in res.output
    theirs = TFLM(models["two_in_two_out"]).run_all(xs)
    with np.load(tmp_path / "y.npz") as y:
        assert sorted(y.files) == sorted(names_out)
        for name, ref in zip(names_out, theirs, strict=True):
            assert np.array_equal(y[name], ref.reshape(y[name].shape))


def _float_edged_on_device(elf, backend: str, target: str) -> None:
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.golden.edges import model_outputs

    model = REAL / "armkws_ds_cnn_s.tflite"
    conv = convert(model, target)
    img = conv.image
    xs = random_inputs(img, 8, np.random.default_rng(21))
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        ensure_image(dev, conv.image_bytes, show_progress=False)
        device = _device_outputs(dev, img, program_inputs(img, xs))
    ours = model_outputs(img, device)[0]
    theirs = TFLM(model).run_all(xs)[0].reshape(ours.shape)
    assert ours.dtype == np.float32 and np.array_equal(ours, theirs)


@pytest.mark.parametrize("target", ["nor-acim", "sram-dcim"])
def test_float_edged_keyword_model_on_device_equals_tflm(elf, target):
    """armkws_ds_cnn_s (float32 in, float32 out) on the board: random floats over its input range in, the
    model's float outputs out, equal to TFLM's in every bit (the emulated CiM coprocessor of each target)."""
    _float_edged_on_device(elf, "mailbox", target)


def test_float_edged_keyword_model_on_soft_backend_equals_tflm(tmp_path):
    """The same with the `soft` backend (the CiM ops in C on the MCU): a firmware build of its own."""
    from cimsdk.build import build_firmware

    _float_edged_on_device(build_firmware(tmp_path / "fw", "qemu-virt-rv32", "soft", quiet=True), "soft", "nor-acim")
