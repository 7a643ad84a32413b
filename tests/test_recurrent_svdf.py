"""SVDF on the host golden model: bit-exact with TFLM frame by frame, the state carried between invocations.

TFLM's keyword benchmark model (int16 input, seven SVDF layers with int8 state, int32 output) and SVDF
models of our own (tests/svdf_models.py: ranks 1 and 2, two sizes, int8 and int16 state, stacked) run as
consecutive frames
through one golden executor and one TFLM interpreter invoked repeatedly; every frame's output, and for the
keyword model every tensor TFLM keeps (states, features, layer outputs), must be equal.
"""

from __future__ import annotations

import importlib

import flatbuffers
import numpy as np
import pytest
from paths import SHARED, TARGETS
from svdf_models import SvdfLayer, svdf_model

from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

KEYWORD = SHARED / "models" / "real" / "tflm_keyword_scrambled_8bit.tflite"
N_FRAMES = 120


def keyword_frames(n: int, seed: int) -> np.ndarray:
    """int16 frames: a third over the full range, the rest at the scales of real features."""
    rng = np.random.default_rng(seed)
    wide = rng.integers(-32768, 32768, size=(n // 3, 1, 96))
    real = rng.normal(0, 3000, size=(n - n // 3, 1, 96)).clip(-32768, 32767)
    xs = np.concatenate([wide, real]).astype(np.int16)
    return xs[rng.permutation(n)]


@pytest.fixture(scope="module", params=TARGETS)
def keyword(request):
    return convert(KEYWORD, request.param)


def test_keyword_model_edges_and_state(keyword):
    img = keyword.image
    assert [r.edge_dtype for r in img.io] == ["int16", "int32"]
    assert img.tensors[img.input_tensor].dtype == "int16" and img.tensors[img.output_tensor].dtype == "int32"
    assert len(img.state_tensors) == 7
    ops = [op.opcode for op in img.ops]
    assert ops.count("SVDF") == 7 and ops.count("FULLY_CONNECTED") == 12  # 7 feature filters + 5 layers
    for op in img.ops:
        if op.opcode == "SVDF":
            feature = img.ops[img.ops.index(op) - 1]
            assert feature.cim and feature.outputs[0] == op.inputs[0]
    # state tensors share their bytes with nothing else
    spans = sorted((img.tensors[t].offset, img.tensors[t].offset + img.tensors[t].nbytes)
                   for t in range(len(img.tensors)) if img.tensors[t].storage == 0)
    states = {(img.tensors[t].offset, img.tensors[t].offset + img.tensors[t].nbytes) for t in img.state_tensors}
    for a, b in states:
        assert sum(1 for lo, hi in spans if lo < b and a < hi) == 1


def test_keyword_model_every_tensor_every_frame_equals_tflm(keyword):
    img = keyword.image
    ex = Executor(keyword.image_bytes)
    ref = TFLM(KEYWORD, preserve_all=True)
    src = img.meta["source_tensors"]
    checked = [t for t in range(len(img.tensors)) if img.tensors[t].storage == 0 and src[t] >= 0]
    assert sum(1 for t in src if t < 0) == 7  # one feature tensor per SVDF, of the lowering's own
    compared = 0
    for f, x in enumerate(keyword_frames(N_FRAMES, seed=5)):
        out, values = ex.run(x, capture=True)
        want = ref.invoke(x)
        assert out.dtype == want.dtype == np.int32
        np.testing.assert_array_equal(out, want, err_msg=f"frame {f}: output")
        for t in checked:
            theirs = ref.tensor(src[t])
            np.testing.assert_array_equal(values[t].reshape(theirs.shape), theirs,
                                          err_msg=f"frame {f}: tensor {src[t]}")
            compared += 1
    assert len(checked) >= 20 and compared == N_FRAMES * len(checked)
    # the states hold spread values (the scrambled weights saturate the layer outputs, not the states)
    assert len(np.unique(np.concatenate([values[t].ravel() for t in img.state_tensors]))) > 100


def test_streams_in_a_batch_and_state_reset():
    conv = convert(KEYWORD, "nor-acim")
    img = conv.image
    ex = Executor(conv.image_bytes)
    streams = np.stack([keyword_frames(20, seed=s) for s in range(4)])  # (4 streams, 20 frames, 1, 96)
    refs = [TFLM(KEYWORD, preserve_all=True) for _ in range(4)]
    first_states = None
    for f in range(streams.shape[1]):
        _out, values = ex.run(streams[:, f].reshape(4, 96), capture=True)
        if f == 0:
            first_states = {t: values[t].copy() for t in img.state_tensors}
        for s, ref in enumerate(refs):
            ref.invoke(streams[s, f])
            for t in img.state_tensors:
                theirs = ref.tensor(img.meta["source_tensors"][t])
                np.testing.assert_array_equal(values[t][s].reshape(theirs.shape), theirs)
    ex.reset_state()
    _out, values = ex.run(streams[:, 0].reshape(4, 96), capture=True)
    for t in img.state_tensors:
        np.testing.assert_array_equal(values[t], first_states[t])


OWN = {
    "rank1_small": [SvdfLayer(40, 16, 1, 8)],
    "rank2_small_relu": [SvdfLayer(40, 16, 2, 8, relu=True)],
    "rank1_large": [SvdfLayer(160, 96, 1, 24)],
    "rank2_large": [SvdfLayer(160, 96, 2, 24)],
    "stacked": [SvdfLayer(64, 32, 2, 12), SvdfLayer(48, 24, 1, 16, relu=True)],
    # int16 state and time weights (TFLM's other integer SVDF): the feature filter writes int16 from the macro
    "int16_rank1_small": [SvdfLayer(40, 16, 1, 8, state="int16")],
    "int16_rank2_small": [SvdfLayer(40, 16, 2, 8, state="int16")],
    "int16_rank1_large": [SvdfLayer(160, 96, 1, 24, state="int16")],
    "int16_rank2_large": [SvdfLayer(160, 96, 2, 24, state="int16")],
    "int16_stacked": [SvdfLayer(64, 32, 2, 12, state="int16"), SvdfLayer(48, 24, 1, 16, state="int16")],
    # a fifth of the feature values past the state's range, a state zero point: TFLM clamps, then adds the
    # zero point and the store wraps
    "int16_saturating_zp": [SvdfLayer(40, 16, 2, 8, state="int16", state_zp=3000, saturate=0.2)],
    "int8_saturating_zp": [SvdfLayer(40, 16, 2, 8, state_zp=60, saturate=0.2)],
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", OWN)
def test_own_svdf_models_equal_tflm_frame_by_frame(name, target, tmp_path):
    layers = OWN[name]
    data = svdf_model(layers, seed=len(name))
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    conv = convert(path, target)
    assert [op.opcode for op in conv.image.ops].count("SVDF") == len(layers)
    xs = np.random.default_rng(7).integers(-128, 128, size=(100, 1, layers[0].n_input)).astype(np.int8)
    ours = Executor(conv.image_bytes).run_frames(xs)
    ref = TFLM(data)
    theirs = np.concatenate([ref.invoke(x) for x in xs])
    assert ours.shape == theirs.shape
    bad = int((ours != theirs).sum())
    assert bad == 0, f"{bad} of {ours.size} elements differ from TFLM"
    assert len(np.unique(theirs)) > 50  # outputs spread, not saturated: the time filter is exercised
    if any(layer.relu for layer in layers):
        assert (theirs < conv.image.io[1].zero_point).any()  # TFLM's integer SVDF ignores a fused RELU


def test_cli_convert_run_stream_and_compare(tmp_path):
    """`cimsdk run` feeds a stateful image's inputs as frames of one stream (TFLM's order); `--batch` as
    independent first frames; `cimsdk compare` walks the frames with one TFLM interpreter."""
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "cimsdk.cli", *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)

    res = cli("convert", KEYWORD, "-o", tmp_path / "k", "-t", "sram-dcim")
    assert res.returncode == 0, res.stderr
    xs = keyword_frames(12, seed=8)[:, 0]
    np.save(tmp_path / "x.npy", xs)
    ref = TFLM(KEYWORD)
    want = np.concatenate([ref.invoke(x[None]) for x in xs])
    for mode in ("--stream", "--batch"):
        res = cli("run", tmp_path / "k" / "model.cimg", "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", mode)
        assert res.returncode == 0, res.stderr
        got = np.load(tmp_path / "y.npy")
        assert got.dtype == np.int32
        if mode == "--stream":
            np.testing.assert_array_equal(got, want)
        else:  # every input a first frame: a fresh interpreter each
            np.testing.assert_array_equal(got, np.concatenate([TFLM(KEYWORD).invoke(x[None]) for x in xs]))
    res = cli("compare", KEYWORD, tmp_path / "k" / "model.cimg", "--inputs", 25)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "bit-exact" in res.stdout


def test_int16_state_feature_filter_on_the_macro_and_macs_in_the_report(tmp_path):
    """The int16-state SVDF's feature filter is a CiM FULLY_CONNECTED writing int16 (zero point 0, clamped to
    int16); the SVDF row counts its time-filter MACs (n_filter x n_memory), per frame."""
    layer = SvdfLayer(40, 16, 2, 8, state="int16")
    path = tmp_path / "svdf16.tflite"
    path.write_bytes(svdf_model([layer], seed=1))
    conv = convert(path, "nor-acim")
    img = conv.image
    fc, svdf = img.ops[-2], img.ops[-1]
    assert (fc.opcode, fc.cim, svdf.opcode, svdf.cim) == ("FULLY_CONNECTED", True, "SVDF", False)
    assert img.tensors[fc.outputs[0]].dtype == "int16" and fc.params["out_zp"] == 0
    assert (fc.params["act_min"], fc.params["act_max"]) == (-32768, 32767)
    assert [img.tensors[t].dtype for t in svdf.inputs[:3]] == ["int16"] * 3
    n_filter = layer.units * layer.rank
    rows = {r["op"]: r for r in conv.report["layers"]}
    assert rows["FULLY_CONNECTED"]["macs"] == n_filter * layer.n_input
    assert rows["SVDF"]["macs"] == n_filter * layer.memory and rows["SVDF"]["runs_on"] == "cpu"
    assert conv.report["totals"]["macs"] == n_filter * (layer.n_input + layer.memory)


def test_mixed_state_and_time_weight_types_are_refused_by_name(tmp_path):
    """TFLM picks its integer SVDF by the time weights' type and reads the state as that type: an int16 state
    with int8 time weights is not a model it runs correctly, so the converter refuses it."""
    from cimconv.errors import ModelError

    s = importlib.import_module("tensorflow.lite.python.schema_py_generated")
    data = svdf_model([SvdfLayer(40, 16, 2, 8, state="int16")], seed=1)
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    time = next(t for t in model.subgraphs[0].tensors if t.name == b"svdf0/time")
    buf = model.buffers[time.buffer]
    buf.data = np.frombuffer(np.frombuffer(buf.data.tobytes(), np.int16).clip(-127, 127).astype(np.int8).tobytes(),
                             np.uint8)
    time.type = s.TensorType.INT8
    fb = flatbuffers.Builder(1024)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    path = tmp_path / "mixed.tflite"
    path.write_bytes(bytes(fb.Output()))
    with pytest.raises(ModelError, match="SVDF at operator 0: tensor .*state.* is int16; SVDF takes per-tensor "
                                         "quantized int8 here"):
        convert(path, "nor-acim")
