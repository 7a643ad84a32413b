"""Model edges: float-edged int8 models are int8 models; float and uint8 inputs quantized on the host the
way TFLM's QUANTIZE does, outputs dequantized the way its DEQUANTIZE does (docs/edges.md)."""

from __future__ import annotations

import os

import edge_models
import numpy as np
import pytest
from click.testing import CliRunner
from paths import MODELS, SHARED

from cimconv.errors import UserError
from cimconv.ir import is_float_model
from cimconv.pipeline import convert
from cimconv.reader import read_model
from cimsdk.cli import cli
from cimsdk.golden import Executor
from cimsdk.golden.edges import program_inputs, random_inputs
from cimsdk.reference import TFLM

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REAL = SHARED / "models" / "real"
FLOAT_EDGED = ["armkws_ds_cnn_s", "mltk_anomaly_detection", "mithan_vww"]
N_RANDOM = 100


@pytest.mark.parametrize("name", FLOAT_EDGED)
def test_float_edged_int8_model_is_not_a_float_model(name):
    g = read_model(REAL / f"{name}.tflite")
    assert g.tensors[g.inputs[0]].dtype == "float32"  # the edge is float ...
    assert [g.operators[0].opcode, g.operators[-1].opcode] == ["QUANTIZE", "DEQUANTIZE"]
    assert not is_float_model(g)  # ... the model is int8 inside


@pytest.mark.parametrize("name", ["vww_96_float", "kws_ref_model_float32"])
def test_float_models_are_float_models(name):
    """A float model, and a dynamic-range one (int8 weights, float activations): both need calibration."""
    assert is_float_model(read_model(MODELS / f"{name}.tflite"))


def test_int8_models_are_not_float_models():
    for name in ("kws_ref_model", "vww_96_int8", "audio_preprocessor_int8"):
        assert not is_float_model(read_model(MODELS / f"{name}.tflite")), name


def test_convert_takes_float_edged_model_without_calib(tmp_path):
    out = tmp_path / "arm"
    res = CliRunner().invoke(cli, ["convert", str(REAL / "armkws_ds_cnn_s.tflite"), "-t", "sram-dcim", "-o", str(out),
                                   "-q"], standalone_mode=False)
    assert res.exit_code == 0, res.output
    assert (out / "model.cimg").is_file()


def test_convert_asks_float_model_for_calib(tmp_path):
    res = CliRunner().invoke(cli, ["convert", str(MODELS / "vww_96_float.tflite"), "-o", str(tmp_path / "v"), "-q"],
                             standalone_mode=False)
    assert isinstance(res.exception, UserError)
    assert "--calib" in str(res.exception) and "float32 model" in str(res.exception)


# -- the host edges against TFLM ----------------------------------------------------------------------


def test_float_input_quantized_as_tflm_on_rounding_boundaries():
    """Floats half a step from every code (and one float ulp either side) quantize to the codes TFLM's own
    QUANTIZE makes: float32 division, rounding half away from zero, clamping."""
    model = REAL / "armkws_ds_cnn_s.tflite"
    img = convert(model, "sram-dcim").image
    io = img.inputs[0]
    n = img.tensors[io.tensor].shape[1]
    half = (np.arange(-140, 141) - io.zero_point + 0.5) * np.float64(io.scale)
    values = np.concatenate([half, -half, np.nextafter(half, np.inf), np.nextafter(half, -np.inf),
                             np.arange(-140, 141) * np.float64(io.scale), [0.0, -0.0, 1e9, -1e9]]).astype(np.float32)
    values = np.concatenate([values, np.zeros(-len(values) % n, np.float32)]).reshape(-1, n)
    ours = program_inputs(img, [values])[0]
    ref = TFLM(model, preserve_all=True)
    src = img.meta["source_tensors"][io.tensor]
    theirs = np.stack([ref.run_capture(v[None], [src])[src].reshape(n) for v in values])
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("target", ["nor-acim", "sram-dcim"])
@pytest.mark.parametrize("name", ["armkws_ds_cnn_s", "mltk_anomaly_detection"])
def test_float_edged_model_on_host_equals_tflm_on_random_floats(name, target):
    """100 random float inputs over the input range: the golden model's float outputs equal TFLM's bit for bit."""
    model = REAL / f"{name}.tflite"
    img = convert(model, target).image
    assert [io.edge_dtype for io in img.io] == ["float32", "float32"]
    xs = random_inputs(img, N_RANDOM, np.random.default_rng(17))
    ours = Executor(img).predict(xs)[0]
    theirs = TFLM(model).run_all(xs)[0].reshape(ours.shape)
    assert ours.dtype == np.float32
    bad = int((ours != theirs).sum())
    assert bad == 0, f"{bad} of {ours.size} float outputs differ from TFLM"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("shapes")
    out = {}
    for name in ("two_heads", "two_in_two_out", "uint8_edges"):
        path = folder / f"{name}.tflite"
        path.write_bytes(getattr(edge_models, name)(seed=1))
        out[name] = path
    return out


@pytest.mark.parametrize("target", ["nor-acim", "sram-dcim"])
@pytest.mark.parametrize("name", ["two_heads", "two_in_two_out", "uint8_edges"])
def test_graph_shapes_on_host_equal_tflm(shapes, name, target):
    """Two heads, two inputs and two outputs, uint8 in and out: every output equals TFLM's on 200 random
    inputs (uint8 inputs: every code)."""
    img = convert(shapes[name], target).image
    want_in = {"two_heads": 1, "two_in_two_out": 2, "uint8_edges": 1}[name]
    want_out = {"two_heads": 2, "two_in_two_out": 2, "uint8_edges": 1}[name]
    assert (len(img.inputs), len(img.outputs)) == (want_in, want_out)
    xs = random_inputs(img, 200, np.random.default_rng(4))
    ours = Executor(img).predict(xs)
    theirs = TFLM(shapes[name]).run_all(xs)
    for j, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.dtype == b.dtype, (j, a.dtype, b.dtype)
        assert np.array_equal(a, b.reshape(a.shape)), f"output {j} differs from TFLM"


def test_uint8_edges_recorded_with_the_uint8_parameters(shapes):
    g = read_model(shapes["uint8_edges"])
    img = convert(shapes["uint8_edges"], "nor-acim").image
    for io, t in zip(img.io, [*g.inputs, *g.outputs], strict=True):
        q = g.tensors[t].quant
        assert (io.edge_dtype, io.zero_point) == ("uint8", q.zp) and np.float32(io.scale) == np.float32(q.s)
    assert "QUANTIZE" not in [op.opcode for op in img.ops]  # both edges run on the host


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args), standalone_mode=False)


def test_run_and_compare_cli_on_two_input_model(shapes, tmp_path):
    """`run` takes a .npz named after the model's inputs and writes a .npz named after its outputs; `compare`
    feeds TFLM the same inputs and finds every layer equal."""
    model = shapes["two_in_two_out"]
    out = tmp_path / "conv"
    assert _cli("convert", str(model), "-o", str(out), "-q").exit_code == 0
    img = convert(model, "nor-acim").image
    xs = random_inputs(img, 5, np.random.default_rng(2))
    np.savez(tmp_path / "x.npz", **dict(zip(img.io_names(0), xs, strict=True)))
    np.savez(tmp_path / "pos.npz", *xs)  # positional: arr_0, arr_1 in the model's order
    for name in ("x.npz", "pos.npz"):
        res = _cli("run", str(out), "-i", str(tmp_path / name), "-o", str(tmp_path / f"y_{name}"))
        assert res.exit_code == 0, res.output
        theirs = TFLM(model).run_all(xs)
        with np.load(tmp_path / f"y_{name}") as y:
            assert y.files == img.io_names(1)
            for key, ref in zip(y.files, theirs, strict=True):
                assert np.array_equal(y[key], ref.reshape(y[key].shape))
    res = _cli("compare", str(model), str(out), "-i", str(tmp_path / "x.npz"), "--no-litert")
    assert res.exit_code == 0, res.output
    res = _cli("compare", str(model), str(out), "--inputs", "7", "--no-litert")
    assert res.exit_code == 0, res.output


def test_several_inputs_need_an_npz(shapes, tmp_path):
    model = shapes["two_in_two_out"]
    out = tmp_path / "conv"
    assert _cli("convert", str(model), "-o", str(out), "-q").exit_code == 0
    np.save(tmp_path / "x.npy", np.zeros((1, 20), np.int8))
    res = _cli("run", str(out), "-i", str(tmp_path / "x.npy"))
    assert isinstance(res.exception, UserError) and "give a .npz file with one array per input" in str(res.exception)
    np.savez(tmp_path / "one.npz", features=np.zeros((1, 20), np.float32))
    res = _cli("run", str(out), "-i", str(tmp_path / "one.npz"))
    assert isinstance(res.exception, UserError) and "no array for model input 0" in str(res.exception)
    res = _cli("run", str(out), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    assert isinstance(res.exception, UserError)
    assert "\n" not in str(res.exception) and len(str(res.exception)) < 400


def test_run_and_compare_cli_take_floats_for_a_float_edged_model(tmp_path):
    """`run` takes float32 inputs and returns float32 outputs equal to TFLM's; `compare` on random floats is
    bit-exact from the input edge on (no false mismatches from feeding TFLM integer codes)."""
    model = REAL / "armkws_ds_cnn_s.tflite"
    out = tmp_path / "arm"
    assert _cli("convert", str(model), "-t", "sram-dcim", "-o", str(out), "-q").exit_code == 0
    img = convert(model, "sram-dcim").image
    x = random_inputs(img, 3, np.random.default_rng(9))[0].astype(np.float64)  # float64 as numpy saves it
    np.save(tmp_path / "x.npy", x)
    res = _cli("run", str(out), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    assert res.exit_code == 0, res.output
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float32
    assert np.array_equal(y, TFLM(model).run(x.astype(np.float32)).reshape(y.shape))
    res = _cli("compare", str(model), str(out), "--inputs", "10", "--json", str(tmp_path / "c.json"))
    assert res.exit_code == 0, res.output
    import json

    layers = json.loads((tmp_path / "c.json").read_text())["layers"]
    edges = [d for d in layers if d["edge"]]
    assert [d["op"] for d in edges] == ["QUANTIZE float32->int8", "DEQUANTIZE int8->float32"]
    assert all(d["mismatches"] == 0 and d["elements"] > 0 for d in layers)


def test_compare_lists_uint8_edges_and_finds_them_exact(shapes):
    from cimsdk.compare import compare

    img = convert(shapes["uint8_edges"], "sram-dcim").image
    comp = compare(shapes["uint8_edges"], img, random_inputs(img, 20, np.random.default_rng(3)), litert=False)
    edges = [d.op for d in comp.layers if d.edge]
    assert edges == ["QUANTIZE uint8->int8", "QUANTIZE int8->uint8"]
    assert comp.mismatches == 0 and all(d.elements > 0 for d in comp.layers)
