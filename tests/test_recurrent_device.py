"""SVDF models (int8 and int16 state) on the emulated board: frame after frame with the state kept in the
device's arena, every frame's output equal to the host golden model and to one TFLM interpreter invoked
frame by frame, with both CiM backends (the feature filters on the macro: the C soft macro or the emulated
coprocessor); and an unrolled stacked GRU."""

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
                      out_size: int) -> tuple[np.ndarray, dict]:
    """Every frame's output; then a state reset (RESET_STATE) and the first frame once more."""
    from cimsdk.emulator import EmulatedBoard

    def run(dev: Device, x: np.ndarray) -> np.ndarray:
        out, _ = dev.run(np.ascontiguousarray(x).tobytes(), out_size * np.dtype(out_dtype).itemsize, timeout=120.0)
        return np.frombuffer(out, out_dtype)

    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        ensure_image(dev, image, show_progress=False)
        info = dev.info()
        outs = np.stack([run(dev, x) for x in xs])
        reset_bytes = dev.reset_state()
        again = run(dev, xs[0])
    return outs, {"arena": info.arena_used, "state_bytes": info.state_bytes, "reset_bytes": reset_bytes,
                  "first_again": again}


@pytest.mark.parametrize("target", ["nor-acim", "sram-dcim"])
def test_keyword_model_frames_on_device(firmware, target):
    backend, elf = firmware
    conv = convert(KEYWORD, target)
    xs = keyword_frames(N_FRAMES, seed=21)
    golden = Executor(conv.image_bytes).run_frames(xs)
    ref = TFLM(KEYWORD)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    assert np.array_equal(golden, tflm)
    device, info = _frames_on_device(elf, backend, conv.image_bytes, xs, np.int32, golden[0].size)
    assert info["arena"] == conv.report["totals"]["activation_ram_bytes"]
    state_bytes = sum(conv.image.tensors[t].nbytes for t in conv.image.state_tensors)
    assert info["state_bytes"] == info["reset_bytes"] == state_bytes == 4 * 512 + 3 * 1024
    assert int((device != golden.reshape(device.shape)).sum()) == 0
    assert int((device != tflm.reshape(device.shape)).sum()) == 0


def test_own_svdf_model_frames_on_device(firmware, tmp_path):
    """Outputs that spread over the int8 range (the keyword model's scrambled weights saturate them); the
    second layer keeps int16 state (its feature filter writes int16 from the macro)."""
    backend, elf = firmware
    layers = [SvdfLayer(64, 32, 2, 12), SvdfLayer(48, 24, 1, 16, state="int16")]
    data = svdf_model(layers, seed=3)
    path = tmp_path / "svdf.tflite"
    path.write_bytes(data)
    conv = convert(path, "nor-acim")
    xs = np.random.default_rng(9).integers(-128, 128, size=(N_FRAMES, 1, 64)).astype(np.int8)
    golden = Executor(conv.image_bytes).run_frames(xs)
    ref = TFLM(data)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    assert np.array_equal(golden, tflm) and len(np.unique(tflm)) > 50
    device, info = _frames_on_device(elf, backend, conv.image_bytes, xs, np.int8, golden[0].size)
    assert info["state_bytes"] == 32 * 2 * 12 + 2 * 24 * 16  # int8 state, then int16 state
    assert int((device != tflm.reshape(device.shape)).sum()) == 0
    # after a state reset the first frame gives the first output again (and the last frame's state did not)
    np.testing.assert_array_equal(info["first_again"], device[0])
    assert not np.array_equal(Executor(conv.image_bytes).run_frames(xs[[1, 0]])[1], tflm[0])


def test_validate_runs_frames_from_a_reset_state(firmware, tmp_path):
    """`cimsdk validate` on a stateful image: int16 random frames, RESET_STATE first, frames in order on
    both sides; run twice on the same board (the image stays loaded), both bit-exact."""
    import json

    from cimsdk.cli import main
    from cimsdk.emulator import EmulatedBoard

    backend, elf = firmware
    conv = convert(KEYWORD, "nor-acim")
    image = tmp_path / "keyword.cimg"
    image.write_bytes(conv.image_bytes)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board:
        for run in range(2):
            report = tmp_path / f"validate{run}.json"
            try:
                main(["validate", "--port", board.url, str(image), "--inputs", "20", "--seed", str(run),
                      "--report", str(report)])
            except SystemExit as exc:
                assert exc.code in (0, None)
            rep = json.loads(report.read_text())
            assert rep["inputs"] == 20 and rep["mismatching_elements"] == 0
            assert rep["device"]["state_bytes"] == 5120


def test_device_run_stream_starts_a_new_stream(firmware, tmp_path):
    """`cimsdk device run --stream` twice on one board: each run resets the state, so both equal TFLM's
    frames from the first; without --stream the frames continue the device's state."""
    from cimsdk.cli import main
    from cimsdk.emulator import EmulatedBoard

    backend, elf = firmware
    layers = [SvdfLayer(40, 16, 2, 6)]
    data = svdf_model(layers, seed=4)
    (tmp_path / "m.tflite").write_bytes(data)
    conv = convert(tmp_path / "m.tflite", "sram-dcim")
    image = tmp_path / "m.cimg"
    image.write_bytes(conv.image_bytes)
    xs = np.random.default_rng(2).integers(-128, 128, size=(8, 1, 40)).astype(np.int8)
    np.save(tmp_path / "xs.npy", xs)
    ref = TFLM(data)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    outs = {}
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board:
        for name, extra in (("first", ["--stream"]), ("again", ["--stream"]), ("continued", [])):
            out = tmp_path / f"{name}.npy"
            try:
                main(["device", "run", "--port", board.url, "--image", str(image), "-i", str(tmp_path / "xs.npy"),
                      "-o", str(out), *extra])
            except SystemExit as exc:
                assert exc.code in (0, None)
            outs[name] = np.load(out).reshape(tflm.shape)
    np.testing.assert_array_equal(outs["first"], tflm)
    np.testing.assert_array_equal(outs["again"], tflm)
    continued = np.concatenate([ref.invoke(x) for x in xs])  # TFLM's frames 9..16 of the same stream
    np.testing.assert_array_equal(outs["continued"], continued)
    assert not np.array_equal(continued, tflm)


def test_resource_variable_model_frames_on_device(firmware, tmp_path):
    """A stateful model exported with TFLite resource variables (tests/streaming_models.py): 100 frames on
    the board, each equal to TFLM invoked frame by frame, the state in the device's arena (written through
    TFLM's float round trip: this model's write and read are quantized apart); a state reset gives the
    first frame's output again."""
    import streaming_models

    backend, elf = firmware
    path = tmp_path / "recurrent.tflite"
    path.write_bytes(streaming_models.recurrent(40, 64, seed=2))
    conv = convert(path, "nor-acim")
    assert conv.image.ops[-1].opcode == "ASSIGN_VARIABLE" and len(conv.image.ops[-1].inputs) == 2
    xs = np.random.default_rng(12).integers(-128, 128, size=(100, 1, 40)).astype(np.int8)
    ref = TFLM(path)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    device, info = _frames_on_device(elf, backend, conv.image_bytes, xs, np.int8, tflm[0].size)
    assert info["state_bytes"] == info["reset_bytes"] == 64
    assert int((device != tflm.reshape(device.shape)).sum()) == 0 and len(np.unique(tflm)) > 20
    np.testing.assert_array_equal(info["first_again"], device[0])
    assert len({d.tobytes() for d in device}) > 90  # the frames' outputs differ: the state moves


@pytest.fixture(scope="module")
def stacked_gru(tmp_path_factory):
    """Two stacked Keras GRUs unrolled over 12 steps (tests/gru_models.py), built once for both backends."""
    from gru_models import GruSpec, gru_model

    spec = GruSpec(12, 16, (16, 12))
    data = gru_model(spec)
    path = tmp_path_factory.mktemp("gru") / "gru.tflite"
    path.write_bytes(data)
    return spec, data, convert(path, "nor-acim")


@pytest.mark.slow  # ~40 s per backend with the TensorFlow export: the GRU's host tests are in the default run
def test_stacked_gru_model_on_device(firmware, stacked_gru):
    """The stacked GRU (446 program ops, 47 matrices), 20 inputs on the board equal to TFLM; no state
    between invocations (the model takes the whole sequence)."""
    from cimsdk.emulator import EmulatedBoard

    backend, elf = firmware
    spec, data, conv = stacked_gru
    xs = np.random.default_rng(5).integers(-128, 128, size=(20, 1, spec.steps, spec.features)).astype(np.int8)
    ref = TFLM(data)
    tflm = np.stack([ref.invoke(x) for x in xs]).reshape(20, -1)
    assert np.array_equal(Executor(conv.image_bytes).run(xs[:, 0]).reshape(tflm.shape), tflm)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        ensure_image(dev, conv.image_bytes, show_progress=False)
        assert dev.info().state_bytes == 0
        outs = [np.frombuffer(dev.run(x.tobytes(), tflm.shape[1], timeout=120.0)[0], np.int8) for x in xs]
    assert int((np.stack(outs) != tflm).sum()) == 0
