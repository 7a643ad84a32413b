"""Streaming models with TFLite resource variables (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE, zeroed by
a CALL_ONCE subgraph), as TensorFlow exports a stateful tf.Module: the variable becomes an int8 state tensor
kept between invocations, and the golden model equals TFLM invoked frame by frame, every frame; a state
reset gives the first frame's output again. Models of our own (tests/streaming_models.py), two kinds at two
sizes each, both targets."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import streaming_models as sm
from paths import TARGETS

from cimconv.image import parse_image, write_image
from cimconv.image_check import ImageError
from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

N_FRAMES = 100
MODELS = {  # name: (builder, input features)
    "recurrent-16x24": (lambda: sm.recurrent(16, 24, seed=1), 16),
    "recurrent-40x64": (lambda: sm.recurrent(40, 64, seed=2), 40),
    "ring-10x6": (lambda: sm.ring(10, 6, 12, seed=3), 10),
    "ring-32x12": (lambda: sm.ring(32, 12, 20, seed=4), 32),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("streaming")
    out = {}
    for name, (build, n_in) in MODELS.items():
        p = d / f"{name}.tflite"
        p.write_bytes(build())
        out[name] = (p, n_in)
    return out


def frames(n_in: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(N_FRAMES, 1, n_in)).astype(np.int8)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", list(MODELS))
def test_frames_equal_tflm_and_reset_starts_again(models, name, target):
    path, n_in = models[name]
    conv = convert(path, target)
    xs = frames(n_in, seed=len(name))
    ex = Executor(conv.image_bytes)
    ours = ex.run_frames(xs)
    ref = TFLM(path)
    tflm = np.concatenate([ref.invoke(x) for x in xs])
    assert int((ours.reshape(tflm.shape) != tflm).sum()) == 0
    assert len(np.unique(tflm)) > 20  # outputs spread: the state matters, not a saturated constant
    # The state carries: the same frame at step 0 and later gives other outputs (TFLM and ours).
    assert not np.array_equal(tflm[:1], ref.invoke(xs[0]))
    ex.reset_state()
    ref.interp.reset()
    first = ref.invoke(xs[0])
    np.testing.assert_array_equal(first, tflm[:1])
    np.testing.assert_array_equal(ex.run_frames(xs[:1]).reshape(first.shape), first)


def test_graph_becomes_state_tensor_and_one_write(models):
    path, _ = models["ring-10x6"]
    conv = convert(path, "nor-acim")
    img = conv.image
    assert img.ops[-1].opcode == "ASSIGN_VARIABLE"  # the write comes last: reads see the previous frame
    assert [op.opcode for op in img.ops].count("ASSIGN_VARIABLE") == 1
    (state,) = img.state_tensors
    assert img.ops[-1].outputs == [state] and img.tensors[state].nbytes == 6 * 10
    assert img.tensors[state].dtype == "int8"
    # the window is read through the STRIDED_SLICE that TensorFlow put before the QUANTIZE
    assert img.ops[0].opcode == "STRIDED_SLICE" and img.ops[0].inputs[0] == state
    # TensorFlow calibrated this one's write and read apart: the write goes through TFLM's float round trip
    wide = convert(models["recurrent-40x64"][0], "nor-acim").image
    assert wide.ops[-1].opcode == "ASSIGN_VARIABLE" and len(wide.ops[-1].inputs) == 2


def test_only_assign_variable_writes_the_state(models):
    path, _ = models["recurrent-16x24"]
    img = convert(path, "nor-acim").image
    (state,) = img.state_tensors
    add = next(op for op in img.ops if op.opcode == "ADD")
    add.outputs = [state]  # another op writing the state tensor
    with pytest.raises(ImageError, match="writes tensor"):
        parse_image(write_image(img), "damaged.cimg")


def test_write_table_is_tflms_float_round_trip(models):
    """A value quantized otherwise than the state is written through TFLM's DEQUANTIZE then QUANTIZE:
    checked here against float arithmetic done independently (numpy's round-half-even would differ on ties,
    so ties are counted away from zero by hand)."""
    from cimconv.ir import Quant, Tensor
    from cimconv.resource_vars import _float_round_trip

    def t(scale: float, zp: int) -> Tensor:
        return Tensor(0, "t", (1, 4), "int8", Quant(np.array([scale], np.float32), np.array([zp], np.int64)))

    table = _float_round_trip(t(0.05, -10), t(0.1, 3))
    q = np.arange(-128, 128)
    want = []
    for v in q:
        x = float(np.float32(float(np.float32(0.05)) * (int(v) + 10))) / float(np.float32(0.1))
        r = int(abs(x) + 0.5) * (1 if x >= 0 else -1)
        want.append(min(127, max(-128, r + 3)))
    np.testing.assert_array_equal(table, want)


def test_nonzero_initial_state_is_one_line_error(tmp_path):
    path = tmp_path / "init.tflite"
    path.write_bytes(sm.recurrent(8, 8, seed=5, init=0.5))
    res = subprocess.run([sys.executable, "-m", "cimsdk", "convert", str(path), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "starts at a value other than zero" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def c_runtime(tmp_path_factory):
    from test_runtime_host import rb

    if not rb.have_gcc():
        pytest.skip("needs gcc")
    return rb.build_host(tmp_path_factory.mktemp("rt"),
                         ["FULLY_CONNECTED", "ADD", "STRIDED_SLICE", "CONCATENATION", "ASSIGN_VARIABLE"])


@pytest.mark.parametrize("name", list(MODELS))
def test_c_runtime_frames_equal_golden(models, c_runtime, name, tmp_path):
    """The firmware runtime built natively: 100 frames through one loaded image, state in its arena."""
    from test_recurrent_runtime_host import _frames_in_c

    path, n_in = models[name]
    image = convert(path, "sram-dcim").image_bytes
    xs = frames(n_in, seed=7)[:, 0]
    want = Executor(image).run_frames(xs)
    got = _frames_in_c(c_runtime, image, xs, tmp_path)
    assert int((got.reshape(want.shape) != want).sum()) == 0


def test_c_loader_refuses_another_op_writing_state(models, c_runtime, tmp_path):
    from test_recurrent_runtime_host import FLAGS, SEC_TENSORS
    from test_runtime_host import RC, _load_rc, _patch_section

    from cimconv.image import TENSOR_RECORD_SIZE

    path, _ = models["recurrent-16x24"]
    image = convert(path, "nor-acim").image_bytes
    img = parse_image(image)
    add_out = next(op for op in img.ops if op.opcode == "ADD").outputs[0]
    assert _load_rc(c_runtime, image, tmp_path) == 0
    damaged = _patch_section(image, SEC_TENSORS, add_out * TENSOR_RECORD_SIZE + FLAGS, b"\1")
    assert _load_rc(c_runtime, damaged, tmp_path) == RC["CIM_RT_E_PROGRAM"]
