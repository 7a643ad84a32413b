"""Published models: constant subgraphs folded at convert time, bit-exact with TFLM; every unsupported op named.

The folding unit tests build one-op models with TensorFlow whose input is the op's data, run them in TFLM,
then make that input a constant in our graph and check the folded constant equals TFLM's output.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from paths import SHARED, TARGETS

from cimconv.errors import ModelError
from cimconv.fold import fold_constants
from cimconv.pipeline import convert
from cimconv.reader import parse_model
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REAL = SHARED / "models" / "real"
N_RANDOM = 100


@pytest.mark.parametrize("target", TARGETS)
def test_anomaly_detection_folds_shape_arithmetic_and_equals_tflm(target):
    """mltk_anomaly_detection computes its last RESHAPE's shape with SHAPE -> STRIDED_SLICE -> PACK."""
    model = REAL / "mltk_anomaly_detection.tflite"
    conv = convert(model, target)
    assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & {low.opcode for low in conv.lowered}
    img = conv.image
    rec = img.tensors[img.input_tensor]
    io_in, io_out = img.io[0], img.io[1]
    assert (io_in.edge_dtype, io_out.edge_dtype) == ("float32", "float32")
    rng = np.random.default_rng(11)
    xs = rng.integers(-128, 128, size=(N_RANDOM, *rec.shape[1:])).astype(np.int8)
    ours = Executor(conv.image_bytes).run(xs)
    # TFLM gets the floats these codes stand for (its QUANTIZE gives the codes back); its int8 result is
    # the tensor its DEQUANTIZE reads.
    out_src = img.meta["source_tensors"][img.output_tensor]
    ref = TFLM(model, preserve_all=True)
    floats = ((xs.astype(np.float32) - io_in.zero_point) * np.float32(io_in.scale)).astype(np.float32)
    theirs = np.stack([ref.run_capture(f[None], [out_src])[out_src].reshape(rec_out_shape(img)) for f in floats])
    assert ours.shape == theirs.shape
    bad = int((ours != theirs).sum())
    assert bad == 0, f"{bad} of {ours.size} elements differ from TFLM"


def rec_out_shape(img) -> tuple[int, ...]:
    return tuple(img.tensors[img.output_tensor].shape[1:])


def _one_op_model(fn, spec) -> bytes:
    import tensorflow as tf

    f = tf.function(fn, input_signature=[spec])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    return conv.convert()


def _fold_vs_tflm(data: bytes, x: np.ndarray, opcode: str) -> None:
    g = parse_model(data)
    assert opcode in [op.opcode for op in g.operators], [op.opcode for op in g.operators]
    want = TFLM(data).invoke(x)
    out = g.outputs[0]
    g.tensors[g.inputs[0]].data = x.reshape(g.tensors[g.inputs[0]].shape)
    g.outputs = []  # a model output is never folded; here it is the value under test
    assert fold_constants(g)
    assert not g.operators
    got = g.tensors[out].data
    assert got is not None and got.dtype == want.dtype
    np.testing.assert_array_equal(got.reshape(want.shape), want)


STRIDED_CASES = [
    lambda x: x[1:3, ::2, 4],  # shrink on the last axis
    lambda x: x[::-1, 5:0:-2, :],  # negative strides, begin past the end clamped
    lambda x: x[-3:, :-1, 1:9:3],  # negative begin/end, end past the dimension
    lambda x: x[2, 1, -1],  # every axis shrunk: a scalar
    lambda x: x[:, -2::-1],  # end mask with a negative stride
]


@pytest.mark.parametrize("case", range(len(STRIDED_CASES)))
def test_fold_strided_slice_equals_tflm(case):
    import tensorflow as tf

    data = _one_op_model(STRIDED_CASES[case], tf.TensorSpec([4, 6, 5], tf.int32))
    x = np.arange(4 * 6 * 5, dtype=np.int32).reshape(4, 6, 5) * 7 - 50
    _fold_vs_tflm(data, x, "STRIDED_SLICE")


def test_fold_shape_equals_tflm():
    import tensorflow as tf

    data = _one_op_model(lambda x: tf.shape(x) * 1, tf.TensorSpec([1, 3, 5, 2], tf.float32))
    g = parse_model(data)
    if "SHAPE" not in [op.opcode for op in g.operators]:
        data = _one_op_model(lambda x: tf.shape(x), tf.TensorSpec([1, 3, 5, 2], tf.float32))
    g = parse_model(data)
    want = TFLM(data).invoke(np.zeros((1, 3, 5, 2), np.float32))
    out = g.outputs[0]
    g.outputs = []
    fold_constants(g)
    assert [op.opcode for op in g.operators if op.opcode == "SHAPE"] == []
    np.testing.assert_array_equal(g.tensors[out].data, want)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_fold_pack_equals_tflm(axis):
    import tensorflow as tf

    c = tf.constant(np.arange(12, dtype=np.int32).reshape(3, 4) - 5)
    data = _one_op_model(lambda x: tf.stack([x, c, x], axis=axis), tf.TensorSpec([3, 4], tf.int32))
    _fold_vs_tflm(data, np.arange(12, dtype=np.int32).reshape(3, 4) * 3, "PACK")


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_fold_gather_equals_tflm(axis):
    import tensorflow as tf

    idx = tf.constant([[2, 0], [1, 1]], dtype=tf.int32)
    data = _one_op_model(lambda x: tf.gather(x, idx, axis=axis), tf.TensorSpec([3, 4, 3], tf.float32))
    _fold_vs_tflm(data, np.arange(36, dtype=np.float32).reshape(3, 4, 3) - 9.5, "GATHER")  # TFLM: no int32 params


@pytest.mark.parametrize("src, dst", [("float32", "int32"), ("int32", "float32"), ("int32", "int8")])
def test_fold_cast_equals_tflm(src, dst):
    import tensorflow as tf

    data = _one_op_model(lambda x: tf.cast(x, getattr(tf, dst)), tf.TensorSpec([7], getattr(tf, src)))
    x = np.array([-2.7, -1.5, -0.4, 0.0, 0.6, 1.5, 100.9]) if src == "float32" else np.array([-3, -1, 0, 1, 5, 100, -100])
    _fold_vs_tflm(data, x.astype(src), "CAST")


@pytest.mark.parametrize("axis", [0, -1])
def test_fold_concatenation_equals_tflm(axis):
    import tensorflow as tf

    c = tf.constant(np.full((2, 3), 9, dtype=np.int32))
    data = _one_op_model(lambda x: tf.concat([c, x, c], axis=axis), tf.TensorSpec([2, 3], tf.int32))
    _fold_vs_tflm(data, np.arange(6, dtype=np.int32).reshape(2, 3), "CONCATENATION")


def test_unsupported_op_named_with_index_and_reason():
    """The micro_speech LSTM model with its LSTM layer (which now runs) relabelled as an RNN layer."""
    from cimconv.passes import prepare

    g = parse_model((REAL / "tflm_micro_speech_lstm.tflite").read_bytes(), name="speech_lstm")
    g.operators[0].opcode = "UNIDIRECTIONAL_SEQUENCE_RNN"
    with pytest.raises(ModelError) as err:
        prepare(g)
    msg = str(err.value)
    assert "1 unsupported op: UNIDIRECTIONAL_SEQUENCE_RNN at operator 0 (no kernel)" in msg
    assert "\n" not in msg


def test_every_unsupported_op_listed_at_once_and_cut():
    """7 ops without a kernel (the keyword model's SVDF layers, which now run, relabelled as RNN layers):
    all counted, the first five named with their operator index, the rest counted."""
    from cimconv.passes import prepare

    g = parse_model((REAL / "tflm_keyword_scrambled_8bit.tflite").read_bytes(), name="keyword")
    for op in g.operators:
        if op.opcode == "SVDF":
            op.opcode = "UNIDIRECTIONAL_SEQUENCE_RNN"
    with pytest.raises(ModelError) as err:
        prepare(g)
    msg = str(err.value)
    assert ("7 unsupported ops: UNIDIRECTIONAL_SEQUENCE_RNN at operator 1 (no kernel), "
            "UNIDIRECTIONAL_SEQUENCE_RNN at operator 3 (no kernel)") in msg
    assert msg.count("UNIDIRECTIONAL_SEQUENCE_RNN at operator") == 5 and "and 2 more" in msg
    assert "\n" not in msg and len(msg) < 600


def test_several_kinds_of_unsupported_ops_listed():
    """A model of ours with several unsupported kinds, one being a fold candidate on a non-constant input."""
    import tensorflow as tf
    from tfmodels import quantize

    inp = tf.keras.Input(shape=(4, 6, 2), batch_size=1)
    x = tf.keras.layers.Conv2D(4, 3, padding="same")(inp)
    x = tf.keras.layers.UpSampling2D((2, 1))(x)  # RESHAPE, TILE, RESHAPE
    x = tf.keras.layers.Lambda(lambda t: t * tf.cast(t > 0, tf.float32))(x)  # GREATER, CAST on activations
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(3)(x)
    data = quantize(tf.keras.Model(inp, x), (4, 6, 2), seed=3)
    g = parse_model(data, name="two_kinds")
    from cimconv.passes import prepare

    with pytest.raises(ModelError) as err:
        prepare(g)
    msg = str(err.value)
    assert "3 unsupported ops: " in msg
    assert "TILE at operator 2 (no kernel), GREATER at operator 4 (no kernel)" in msg
    assert "CAST at operator 5 (folded only on constants; runs on a non-constant input)" in msg
