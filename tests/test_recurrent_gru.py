"""GRU keyword models as users export them (Keras GRU, `unroll=True`, int8; tests/gru_models.py) on the host
golden model: every output element equal to TFLM for 100 random inputs, both targets; an unrolled Keras
LSTM and SimpleRNN too.

An unrolled GRU is ordinary ops (FULLY_CONNECTED on the macro, the gates on the CPU); what stopped it were
graph shapes TensorFlow's converter gives it, which the converter now rewrites (cimconv.float_islands,
cimconv.unrolled): the sequence unstacked through the batch dimension (RESHAPE [1, T, F] -> [T, 1, F],
UNPACK axis 0), the first step's DEQUANTIZE -> SPLIT -> QUANTIZE float island, PACK -> UNPACK between
stacked layers (more than 8 tensors packed), and (LSTM) a RESHAPE dropping the batch dimension before a
broadcasting ADD.
"""

from __future__ import annotations

import importlib
from collections import Counter

import flatbuffers
import numpy as np
import pytest
from gru_models import GruSpec, gru_model, with_float_island

from cimconv.errors import ModelError
from cimconv.float_islands import round_trip_is_identity
from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

MODELS = {
    "small": GruSpec(10, 16, (8,)),
    "large": GruSpec(49, 40, (32,), classes=12),
    "stacked": GruSpec(12, 16, (16, 12)),
    "reset_before": GruSpec(8, 10, (8,), reset_after=False),
    # the same export of Keras' other recurrent layers
    "lstm": GruSpec(10, 16, (12,), cell="lstm"),
    "simple_rnn": GruSpec(10, 16, (12,), cell="simple_rnn"),
}
# TensorFlow's export leaves the first step's float island in some runs and not in others: these models
# get one for certain (tests/gru_models.py: with_float_island)
ISLAND = {"small", "large"}
N_INPUTS = 100


def _schema():
    return importlib.import_module("tensorflow.lite.python.schema_py_generated")


def _tflite_ops(data: bytes) -> Counter:
    s = _schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return Counter(names[codes[op.opcodeIndex]] for op in model.subgraphs[0].operators)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[bytes, object]]:
    root = tmp_path_factory.mktemp("gru")
    out = {}
    for name, spec in MODELS.items():
        data = gru_model(spec)
        if name in ISLAND and not _tflite_ops(data)["DEQUANTIZE"]:
            data = with_float_island(data)
        path = root / f"{name}.tflite"
        path.write_bytes(data)
        out[name] = (data, path)
    return out


def test_the_models_carry_the_shapes_the_converter_rewrites(models):
    """Guards the tests below: TensorFlow's export still has the three shapes (else they test less)."""
    ops = {name: _tflite_ops(data) for name, (data, _) in models.items()}
    for name, counts in ops.items():
        assert counts["RESHAPE"] >= 1 and counts["UNPACK"] >= 1, name
        assert {"FULLY_CONNECTED", "TANH", "ADD"} <= set(counts), name
        if name not in ("lstm", "simple_rnn"):
            assert {"LOGISTIC", "MUL", "SUB"} <= set(counts), name
        assert "UNIDIRECTIONAL_SEQUENCE_RNN" not in counts and "WHILE" not in counts
    assert all(ops[name]["DEQUANTIZE"] == 1 for name in ISLAND)  # a float island
    assert ops["stacked"]["PACK"] == 1 and ops["stacked"]["UNPACK"] == 2
    assert ops["lstm"]["RESHAPE"] >= ops["lstm"]["UNPACK"] + 1  # the recurrent products' batch-dropping RESHAPEs


@pytest.mark.parametrize("target", ["nor-acim", "sram-dcim"])
@pytest.mark.parametrize("name", MODELS)
def test_gru_models_equal_tflm(models, name, target):
    data, path = models[name]
    spec = MODELS[name]
    conv = convert(path, target)
    ops = Counter(op.opcode for op in conv.image.ops)
    assert not {"DEQUANTIZE", "PACK", "RESHAPE"} & set(ops)  # rewritten away
    assert ops["FULLY_CONNECTED"] >= spec.steps and all(op.cim for op in conv.image.ops
                                                         if op.opcode == "FULLY_CONNECTED")
    xs = np.random.default_rng(len(name)).integers(-128, 128, size=(N_INPUTS, spec.steps, spec.features))
    xs = xs.astype(np.int8)
    ours = Executor(conv.image_bytes).run(xs)
    ref = TFLM(data)
    theirs = np.stack([ref.invoke(x[None]) for x in xs]).reshape(ours.shape)
    bad = int((ours != theirs).sum())
    assert bad == 0, f"{bad} of {ours.size} elements differ from TFLM"
    assert len(np.unique(theirs)) > 20  # spread softmax outputs, not one saturated class


def test_round_trip_identity_holds_for_scales_tflite_gives():
    rng = np.random.default_rng(0)
    for scale in np.exp(rng.uniform(np.log(1e-6), np.log(1e3), 2000)).astype(np.float32):
        assert round_trip_is_identity(float(scale), int(rng.integers(-128, 128)))


def test_a_float_island_that_rescales_is_not_rewritten(models, tmp_path):
    """The island's QUANTIZE given another scale: TFLM requantizes through float, which the rewrite would
    not do, so the converter leaves it and names the DEQUANTIZE as before."""
    s = _schema()
    data, _ = models["small"]
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    sg = model.subgraphs[0]
    quantize = next(i for i, c in enumerate(model.operatorCodes)
                    if max(c.builtinCode, c.deprecatedBuiltinCode) == s.BuiltinOperator.QUANTIZE)
    inside = [op for op in sg.operators if op.opcodeIndex == quantize
              and sg.tensors[op.inputs[0]].type == s.TensorType.FLOAT32 and op.inputs[0] not in sg.inputs]
    assert inside
    sg.tensors[inside[0].outputs[0]].quantization.scale = \
        sg.tensors[inside[0].outputs[0]].quantization.scale * np.float32(1.5)
    fb = flatbuffers.Builder(1024)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    path = tmp_path / "rescaled.tflite"
    path.write_bytes(bytes(fb.Output()))
    with pytest.raises(ModelError, match="DEQUANTIZE at operator .* inside the graph"):
        convert(path, "nor-acim")
