"""UNIDIRECTIONAL_SEQUENCE_LSTM on the host golden model: bit-exact with TFLM's integer LSTM.

TFLM's micro_speech LSTM model (49 steps of 257 features, 80 units, int16 cell state, cell clip) and LSTM
models of our own (tests/lstm_models.py: two sizes, a clipped cell, two stacked layers) run against the TFLM
interpreter. TFLM keeps the hidden and cell states (variable tensors) between invocations, so the inputs
run as consecutive invocations of one interpreter and one golden executor: every element of every output,
and the states TFLM holds after each, must be equal. The same inputs as independent first invocations (a
batch of streams against an interpreter reset before each) must be equal too.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from ckernels import FW, assert_compile_for_rv32, shared_library
from lstm_models import LstmLayer, lstm_model
from paths import SHARED, TARGETS
from test_recurrent_device import _frames_on_device
from test_recurrent_kernels_c import call

from cimconv.errors import ModelError
from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.golden.kernels import KERNELS
from cimsdk.reference import TFLM

SPEECH = SHARED / "models" / "real" / "tflm_micro_speech_lstm.tflite"
N_INPUTS = 100


def random_inputs(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """int8 inputs: half uniform over the full range, half at the spread of real features (around the zero point)."""
    rng = np.random.default_rng(seed)
    wide = rng.integers(-128, 128, size=(n // 2, *shape))
    real = rng.normal(-100, 25, size=(n - n // 2, *shape)).round().clip(-128, 127)
    return np.concatenate([wide, real]).astype(np.int8)[rng.permutation(n)]


@pytest.fixture(scope="module", params=TARGETS)
def speech(request):
    return convert(SPEECH, request.param)


def test_speech_model_converts_with_state(speech):
    img = speech.image
    # (the RESHAPE that only flattened the LSTM's sequence into the classifier is dropped by the converter)
    assert [op.opcode for op in img.ops] == ["FULLY_CONNECTED", "UNIDIRECTIONAL_SEQUENCE_LSTM", "FULLY_CONNECTED",
                                             "SOFTMAX"]
    fc, lstm = img.ops[:2]
    # the input products of the 49 steps on the macro (4 gates x 80 units, int16 out), the rest on the CPU
    assert fc.cim and img.tensors[fc.outputs[0]].dtype == "int16" and fc.outputs[0] == lstm.inputs[0]
    m = img.matrices[fc.params["matrix"]]
    assert (m.rows, m.cols) == (257, 320) and img.tensors[fc.outputs[0]].shape == (1, 49, 320)
    assert sorted(img.tensors[t].dtype for t in img.state_tensors) == ["int16", "int8"]
    assert set(img.state_tensors) == set(lstm.inputs[3:5])
    assert img.tensors[lstm.inputs[1]].shape == (320, 80)
    assert lstm.params["cell_clip"] == 20480  # 10.0 at the cell's scale 2^-11
    rows = speech.report["layers"]
    assert rows[0]["runs_on"] == "cim" and rows[0]["macs"] == 49 * 320 * 257
    assert rows[0]["per_step"]["macs"] == 320 * 257 and rows[0]["per_step"]["cim_latency_us"] > 0
    assert rows[1]["op"] == "UNIDIRECTIONAL_SEQUENCE_LSTM" and rows[1]["runs_on"] == "cpu"
    assert rows[1]["macs"] == 49 * 320 * 80 and rows[1]["per_step"]["macs"] == 320 * 80
    assert speech.report["totals"]["cpu_macs"] == rows[1]["macs"]


def test_speech_model_streamed_equals_tflm(speech):
    """100 inputs through one interpreter: the states carry over, as on a device that never resets."""
    img = speech.image
    ex = Executor(speech.image_bytes)
    ref = TFLM(SPEECH, preserve_all=True)
    src = img.meta["source_tensors"]
    seq = img.ops[1].outputs[0]
    xs = random_inputs(N_INPUTS, (1, 49, 257), seed=11)
    seen: list[np.ndarray] = []
    for k, x in enumerate(xs):
        out, values = ex.run(x, capture=True)
        np.testing.assert_array_equal(out, ref.invoke(x), err_msg=f"input {k}: output")
        for t in (seq, *img.state_tensors):
            theirs = ref.tensor(src[t])
            np.testing.assert_array_equal(values[t].reshape(theirs.shape), theirs, err_msg=f"input {k}: tensor {t}")
        seen.append(values[seq].ravel())
    # the LSTM's outputs spread over the int8 range (a trained model: many saturate)
    assert len(np.unique(np.concatenate(seen))) > 200


def test_speech_model_first_invocations_equal_tflm():
    """The same kind of inputs as independent first invocations: one batch of streams, TFLM reset before each."""
    conv = convert(SPEECH, "nor-acim")
    ex = Executor(conv.image_bytes)
    xs = random_inputs(N_INPUTS, (1, 49, 257), seed=12)
    ours = ex.run(xs.reshape(N_INPUTS, 49, 257))
    ref = TFLM(SPEECH)
    theirs = []
    for x in xs:
        ref.interp.reset()
        theirs.append(ref.invoke(x))
    np.testing.assert_array_equal(ours, np.concatenate(theirs))
    ex.reset_state()
    np.testing.assert_array_equal(ex.run(xs[:1].reshape(1, 49, 257)), theirs[0])


OWN = {
    "small": (12, 8, [LstmLayer(16)]),
    "large_clipped": (40, 20, [LstmLayer(64, cell_clip=3.0)]),
    "stacked_small": (10, 6, [LstmLayer(12), LstmLayer(8)]),
    "stacked_large": (32, 16, [LstmLayer(48, cell_clip=4.0), LstmLayer(40, cell_power=-13)]),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", OWN)
def test_own_lstm_models_equal_tflm(name, target, tmp_path):
    n_input, steps, layers = OWN[name]
    data = lstm_model(n_input, steps, layers, seed=len(name))
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    conv = convert(path, target)
    assert [op.opcode for op in conv.image.ops].count("UNIDIRECTIONAL_SEQUENCE_LSTM") == len(layers)
    xs = random_inputs(N_INPUTS, (1, steps, n_input), seed=7)
    ours = Executor(conv.image_bytes).run_frames(xs)
    ref = TFLM(data, preserve_all=True)
    theirs = np.concatenate([ref.invoke(x) for x in xs])
    assert ours.shape == theirs.shape
    bad = int((ours != theirs).sum())
    assert bad == 0, f"{bad} of {ours.size} elements differ from TFLM"
    assert len(np.unique(theirs)) > 150  # hidden states spread, not saturated
    clip = layers[0].cell_clip
    if clip:  # the clip is reached: the first layer's cell state sits at its bound somewhere
        cell_src = conv.image.meta["source_tensors"][conv.image.ops[1].inputs[4]]
        cells = [ref.tensor(cell_src)]
        assert cells[0].dtype == np.int16
        for x in xs[:20]:
            ref.invoke(x)
            cells.append(ref.tensor(cell_src))
        assert np.abs(np.concatenate(cells)).max() == int(clip / 2.0 ** layers[0].cell_power)


def test_projection_is_refused_like_tflm(tmp_path):
    """TFLM's integer LSTM has no projection (its Prepare refuses the tensor): convert names it."""
    data = lstm_model(12, 8, [LstmLayer(16, projection=8)], seed=3)
    path = tmp_path / "proj.tflite"
    path.write_bytes(data)
    with pytest.raises(Exception, match="cannot prepare"):
        TFLM(data).invoke(np.zeros((1, 8, 12), np.int8))
    with pytest.raises(ModelError, match="projection"):
        convert(path, "nor-acim")



def _damaged(what: str):
    from cimconv.reader import parse_model

    g = parse_model(lstm_model(12, 8, [LstmLayer(16)], seed=3), name="m")
    op = g.operators[0]
    if what == "cifg":
        op.inputs[1] = op.inputs[5] = -1
    elif what == "time_major":
        op.options["time_major"] = True
    elif what == "relu_cell":
        op.options["fused_activation_function"] = "RELU"
    elif what == "zero_cell_scale":
        g.tensors[op.inputs[19]].quant.scale = np.array([0.0], np.float32)
    elif what == "int8_cell":
        g.tensors[op.inputs[19]].dtype = "int8"
    elif what == "constant_state":
        g.tensors[op.inputs[18]].data = np.zeros((1, 16), np.int8)
    return g, op


@pytest.mark.parametrize(("what", "message"), [
    ("cifg", "CIFG"), ("time_major", "time-major"), ("relu_cell", "cell gate activation RELU"),
    ("zero_cell_scale", "scale 0.0"), ("int8_cell", "int16 cell state"), ("constant_state", "variable tensor")])
def test_what_tflm_does_not_run_is_refused_by_name(what, message):
    from cimconv.lowering import lower_ops

    g, op = _damaged(what)
    with pytest.raises(ModelError, match=message) as err:
        lower_ops(g, op)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM at operator 0" in str(err.value) and "\n" not in str(err.value)

# --- the C kernel (firmware/kernels/unidirectional_sequence_lstm.c) against the host kernel -----------------
C_SOURCES = [FW / "kernels" / f for f in ("unidirectional_sequence_lstm.c", "cim_fixedpoint.c")]


@pytest.fixture(scope="module")
def clib(tmp_path_factory):
    return shared_library(C_SOURCES, tmp_path_factory.mktemp("ckernels") / "liblstm.so")


def test_c_kernel_compiles_for_rv32(tmp_path):
    assert_compile_for_rv32(C_SOURCES, tmp_path)


def _c_and_host_over_invocations(clib, img, op, xs):
    """Run the image's first LSTM op (after its CiM FULLY_CONNECTED, op 0) on the inputs as consecutive
    invocations, C and host each with its own states."""
    recs = [img.tensors[t] for t in op.inputs]
    out_rec = img.tensors[op.outputs[0]]
    consts = [img.const_array(t) for t in op.inputs[1:3]]
    states = [np.broadcast_to(img.state_initial(t), img.tensors[t].shape).copy() for t in op.inputs[3:5]]
    host_states = [s.copy() for s in states]
    ex = Executor(img)
    for k, x in enumerate(xs):
        gates_in = ex.run_op(0, [x])
        assert gates_in.dtype == np.int16
        host = KERNELS[op.opcode](op, [gates_in, *consts, *host_states], recs, out_rec)
        y = np.full(out_rec.shape, 99, np.int8)
        call(clib, op, [gates_in, *consts, *states], recs, y, out_rec)
        for s, hs in zip(states, host_states, strict=True):
            np.testing.assert_array_equal(s, hs, err_msg=f"invocation {k}: state")
        np.testing.assert_array_equal(y, host, err_msg=f"invocation {k}: output")


def test_c_kernel_matches_host_on_the_speech_model(clib):
    img = convert(SPEECH, "nor-acim").image
    _c_and_host_over_invocations(clib, img, img.ops[1], random_inputs(6, (1, 49, 257), seed=21))


@pytest.mark.parametrize("case", range(8))
def test_c_kernel_matches_host_with_random_parameters(clib, case, tmp_path):
    """Own models with their requantization parameters redrawn: saturating gates and cells, both tanh paths
    (cell scales above and below 2^-12), clips."""
    from cimconv.lowering.unidirectional_sequence_lstm import tanh_params

    rng = np.random.default_rng(300 + case)
    n_input, steps, units = int(rng.integers(1, 40)), int(rng.integers(1, 12)), int(rng.integers(1, 50))
    path = tmp_path / "m.tflite"
    path.write_bytes(lstm_model(n_input, steps, [LstmLayer(units)], seed=case))
    img = convert(path, "sram-dcim").image
    op = img.ops[1]
    for name in op.params:
        if name.endswith("_mult") and name != "tanh_mult":
            op.params[name] = int(rng.integers(1 << 30, 1 << 31))
        elif name.endswith("_shift") and name != "tanh_shift":  # products of int16s take right shifts only
            op.params[name] = int(rng.integers(-20, 6) if len(name.split("_")[0]) == 2 else rng.integers(-26, 1))
    op.params["tanh_mult"], op.params["tanh_shift"] = tanh_params(int(rng.integers(-30, 3)))
    op.params["cell_clip"] = int(rng.choice([0, rng.integers(1, 32768)]))
    op.params["hidden_zp"] = int(rng.integers(-128, 128))
    xs = rng.integers(-128, 128, size=(4, 1, steps, n_input)).astype(np.int8)
    _c_and_host_over_invocations(clib, img, op, xs)


# --- on the emulated board (QEMU), both CiM backends -------------------------------------------------------
needs_qemu = [pytest.mark.qemu,
              pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32")]
N_DEVICE = 20


@pytest.fixture(scope="module", params=["soft", "mailbox"])
def firmware(request, tmp_path_factory):
    from cimsdk.build import build_firmware

    backend = request.param
    return backend, build_firmware(tmp_path_factory.mktemp(f"fw-{backend}"), "qemu-virt-rv32", backend, quiet=True)


def _on_device(firmware, conv, xs: np.ndarray, tflm: np.ndarray) -> dict:
    """Consecutive invocations on the board (states kept in its arena), every output equal to TFLM's; then a
    state reset gives the first output again."""
    backend, elf = firmware
    out = _frames_on_device(elf, backend, conv.image_bytes, xs, np.int8, tflm[0].size)
    device, info = out
    bad = int((device != tflm.reshape(device.shape)).sum())
    assert bad == 0, f"{bad} of {device.size} elements differ from TFLM ({backend})"
    np.testing.assert_array_equal(info["first_again"], device[0])
    state_bytes = sum(conv.image.tensors[t].nbytes for t in conv.image.state_tensors)
    assert info["state_bytes"] == info["reset_bytes"] == state_bytes
    return info


@pytest.mark.slow  # 25 to 50 s per backend and target; the own model below is the default run's board case
@pytest.mark.parametrize("target", [pytest.param(t, marks=needs_qemu) for t in TARGETS])
def test_speech_model_on_device(firmware, target):
    conv = convert(SPEECH, target)
    xs = random_inputs(N_DEVICE, (1, 49, 257), seed=31)
    ref = TFLM(SPEECH)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    info = _on_device(firmware, conv, xs, tflm)
    assert info["state_bytes"] == 80 + 2 * 80


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32")
def test_own_stacked_lstm_on_device(firmware, tmp_path):
    """Hidden sequences spread over the int8 range (the speech model's softmax output has three values)."""
    n_input, steps, layers = OWN["stacked_large"]
    data = lstm_model(n_input, steps, layers, seed=5)
    (tmp_path / "m.tflite").write_bytes(data)
    conv = convert(tmp_path / "m.tflite", "sram-dcim")
    xs = random_inputs(N_DEVICE, (1, steps, n_input), seed=32)
    ref = TFLM(data)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    assert len(np.unique(tflm)) > 150
    _on_device(firmware, conv, xs, tflm)


# --- the firmware runtime built natively (tests/c/runtime_build.py) ----------------------------------------
@pytest.fixture(scope="module")
def host_runtime(tmp_path_factory):
    from test_runtime_host import rb

    if not rb.have_gcc():
        pytest.skip("needs gcc")
    return rb.build_host(tmp_path_factory.mktemp("rt"), ["FULLY_CONNECTED", "UNIDIRECTIONAL_SEQUENCE_LSTM"])


@pytest.fixture(scope="module")
def stacked_image(tmp_path_factory):
    n_input, steps, layers = OWN["stacked_small"]
    path = tmp_path_factory.mktemp("m") / "lstm.tflite"
    path.write_bytes(lstm_model(n_input, steps, layers, seed=9))
    return convert(path, "nor-acim").image_bytes


def test_runtime_runs_invocations_like_golden(host_runtime, stacked_image, tmp_path):
    from test_runtime_host import rb

    from cimconv.image import parse_image

    img = parse_image(stacked_image)
    out = img.tensors[img.output_tensor]
    xs = random_inputs(30, (6, 10), seed=3)
    (tmp_path / "m.cimg").write_bytes(stacked_image)
    xs.tofile(tmp_path / "in.bin")
    proc = rb.run_host(host_runtime, tmp_path / "m.cimg", tmp_path / "in.bin", tmp_path / "out.bin")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = np.fromfile(tmp_path / "out.bin", dtype=np.int8).reshape((len(xs), *out.shape[1:]))
    want = Executor(stacked_image).run_frames(xs[:, None])
    assert int((got != want.reshape(got.shape)).sum()) == 0 and len(np.unique(want)) > 50


def test_loader_and_host_checker_want_both_states_flagged(host_runtime, stacked_image, tmp_path):
    """A cleared state flag on the hidden or the cell state: the loader and the host checker refuse it."""
    import hashlib

    from test_recurrent_runtime_host import FLAGS, SEC_TENSORS
    from test_runtime_host import RC, _load_rc, _patch_section

    from cimconv.image import TENSOR_RECORD_SIZE, ImageError, parse_image

    img = parse_image(stacked_image)
    assert _load_rc(host_runtime, stacked_image, tmp_path) == 0
    lstm = img.ops[1]
    for state in lstm.inputs[3:5]:
        bad = _patch_section(stacked_image, SEC_TENSORS, state * TENSOR_RECORD_SIZE + FLAGS, b"\0")
        assert _load_rc(host_runtime, bad, tmp_path) == RC["CIM_RT_E_PROGRAM"]
        with pytest.raises(ImageError):
            parse_image(bad[:-32] + hashlib.sha256(bad[:-32]).digest())


@pytest.mark.parametrize(("param", "value", "message"), [
    ("out_zp", 3, "out_zp = 3"), ("act_max", 40000, "act_max = 40000"), ("in_zp", 200, "in_zp = 200")])
def test_host_checker_bounds_the_int16_fully_connected(speech, param, value, message):
    """The CiM FULLY_CONNECTED writing int16 (the LSTM's input gates): zero point 0, a range inside int16."""
    from cimconv.image import ImageError, parse_image
    from cimconv.image_check import check_image

    img = parse_image(speech.image_bytes)
    check_image(img, "speech", 1 << 24)
    img.ops[0].params[param] = value
    with pytest.raises(ImageError, match=message):
        check_image(img, "speech", 1 << 24)



NOISY_PRESET = "nor-flash"  # the nor-acim target's default preset


def test_analog_model_with_noise_off_equals_tflm():
    """`simulate`'s analog model with the ideal preset on the LSTM image: its int16 CiM FULLY_CONNECTED and
    the CPU LSTM give TFLM's outputs (two chips, first invocations)."""
    from cimsdk.sim.analog import AnalogCimModel
    from cimsdk.sim.noise import load_noise

    conv = convert(SPEECH, "nor-acim")  # the KWS analog test's target: lossless ADC with the ideal preset
    assert conv.target.adc_lossless
    xs = random_inputs(4, (49, 257), seed=41)
    ref = TFLM(SPEECH)
    want = []
    for x in xs:
        ref.interp.reset()
        want.append(ref.invoke(x[None]))
    want = np.concatenate(want)
    for shortcut in (True, False):  # False: the analog model's own accumulation and finish, not the golden op
        model = AnalogCimModel(conv.image, conv.target, load_noise("ideal"), trials=2, mode="fast")
        model.shortcut = shortcut
        got = Executor(conv.image, cim=model).run(np.concatenate([xs, xs]))
        np.testing.assert_array_equal(got[: len(xs)], want)
        np.testing.assert_array_equal(got[len(xs):], want)
    # with the target's noise the input gates stay int16 (noisy, not clamped to int8)
    noisy = AnalogCimModel(conv.image, conv.target, load_noise(NOISY_PRESET), trials=2, mode="fast")
    ex = Executor(conv.image, cim=noisy)
    gates = ex.run_op(0, [np.concatenate([xs, xs])])
    assert gates.dtype == np.int16 and np.abs(gates.astype(np.int32)).max() > 1000
