"""GRU keyword models of our own, as users export them: Keras GRU layers with `unroll=True`, int8 full-integer
quantization with a representative dataset (TensorFlow's converter), int8 input and output.

TensorFlow has no GRU builtin op in TFLite: an unrolled GRU becomes per time step FULLY_CONNECTED (input
and recurrent products), SPLIT / STRIDED_SLICE (the three gates), ADD, LOGISTIC, MUL, SUB, TANH; the
sequence is unstacked by RESHAPE + UNPACK, stacked layers pass it on by PACK + UNPACK, and the first step
(zero hidden state) may keep a DEQUANTIZE -> SPLIT -> QUANTIZE float island. TFLM runs the model as it is;
it is the tests' reference. The same builder makes an unrolled Keras LSTM or SimpleRNN (`cell`), which
export to the same kinds of ops (the LSTM adds each step's recurrent product through a RESHAPE that drops
the batch dimension and a broadcasting ADD).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GruSpec:
    steps: int
    features: int
    units: tuple[int, ...]  # one GRU layer per entry, all but the last with return_sequences
    classes: int = 4
    reset_after: bool = True  # Keras' default (the cuDNN-compatible GRU); False: the original formulation
    seed: int = 0
    cell: str = "gru"  # or "lstm", "simple_rnn": the same export, another recurrent layer


def gru_model(spec: GruSpec) -> bytes:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(spec.seed)
    inp = tf.keras.Input((spec.steps, spec.features), batch_size=1)
    x = inp
    for i, units in enumerate(spec.units):
        more = i < len(spec.units) - 1
        if spec.cell == "gru":
            x = tf.keras.layers.GRU(units, unroll=True, reset_after=spec.reset_after, return_sequences=more)(x)
        else:
            layer = {"lstm": tf.keras.layers.LSTM, "simple_rnn": tf.keras.layers.SimpleRNN}[spec.cell]
            x = layer(units, unroll=True, return_sequences=more)(x)
    out = tf.keras.layers.Dense(spec.classes, activation="softmax")(x)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(spec.seed)

    def representative():
        for _ in range(100):
            yield [rng.normal(0, 1, (1, spec.steps, spec.features)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def _schema():
    import importlib

    return importlib.import_module("tensorflow.lite.python.schema_py_generated")


def with_float_island(data: bytes) -> bytes:
    """The model with its first int8 SPLIT run in float32, as TensorFlow's converter exports a GRU's first
    step now and then (the export is not deterministic): DEQUANTIZE the split's input, SPLIT the floats,
    QUANTIZE each piece back to its int8 tensor (same scale and zero point)."""
    import copy

    import flatbuffers

    s = _schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    sg = model.subgraphs[0]

    def code(builtin: int) -> int:
        for i, c in enumerate(model.operatorCodes):
            if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin:
                return i
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, builtin, 1
        model.operatorCodes.append(c)
        return len(model.operatorCodes) - 1

    def float_twin(t: int) -> int:
        f = copy.deepcopy(sg.tensors[t])
        f.type, f.quantization, f.name, f.buffer = s.TensorType.FLOAT32, None, f.name + b"/float", 0
        sg.tensors.append(f)
        return len(sg.tensors) - 1

    def op(builtin: int, inputs: list[int], outputs: list[int], options_type: int = 0, options=None):
        o = s.OperatorT()
        o.opcodeIndex = code(builtin)
        o.inputs, o.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    split = code(s.BuiltinOperator.SPLIT)
    at = next(i for i, o in enumerate(sg.operators)
              if o.opcodeIndex == split and sg.tensors[o.inputs[1]].type == s.TensorType.INT8)
    sp = sg.operators[at]
    fx = float_twin(int(sp.inputs[1]))
    deq = op(s.BuiltinOperator.DEQUANTIZE, [int(sp.inputs[1])], [fx])
    pieces = [int(t) for t in sp.outputs]
    floats = [float_twin(t) for t in pieces]
    quants = [op(s.BuiltinOperator.QUANTIZE, [f], [t]) for f, t in zip(floats, pieces, strict=True)]
    sp.inputs = np.array([sp.inputs[0], fx], np.int32)
    sp.outputs = np.array(floats, np.int32)
    sg.operators[at:at + 1] = [deq, sp, *quants]
    fb = flatbuffers.Builder(1024)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())
