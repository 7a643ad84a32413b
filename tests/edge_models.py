"""Small TFLite models of the graph shapes published models have, built with TensorFlow as users build them:
two heads (one input, two outputs), two inputs and two outputs, and uint8 edges (TFLite's QUANTIZE
uint8 -> int8 at the input and int8 -> uint8 at the output)."""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _convert(model, shapes: list[tuple[int, ...]], seed: int, io_type: str = "int8") -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(32):
            yield [rng.normal(size=(1, *s)).astype(np.float32) for s in shapes]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = getattr(tf, io_type)
    conv.inference_output_type = getattr(tf, io_type)
    return conv.convert()


def two_heads(seed: int = 0) -> bytes:
    """A detector-like model: a conv trunk, then a 4-way class head (softmax) and a 6-value box head."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    inp = tf.keras.Input(shape=(12, 12, 3), batch_size=1)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Flatten()(x)
    cls = L.Dense(4, activation="softmax", name="classes")(x)
    box = L.Dense(6, name="boxes")(L.Dense(16, activation="relu")(x))
    return _convert(tf.keras.Model(inp, [cls, box]), [(12, 12, 3)], seed)


def two_in_two_out(seed: int = 0) -> bytes:
    """Two inputs of different shapes joined by concatenation; two outputs, one of them an early tap."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    a = tf.keras.Input(shape=(20,), batch_size=1, name="features")
    b = tf.keras.Input(shape=(6, 6, 2), batch_size=1, name="patch")
    ya = L.Dense(12, activation="relu")(a)
    yb = L.Flatten()(L.Conv2D(4, 3, activation="relu")(b))
    early = L.Dense(3, name="early")(yb)
    joined = L.Concatenate()([ya, yb])
    out = L.Dense(5, name="late")(L.Dense(10, activation="relu")(joined))
    return _convert(tf.keras.Model([a, b], [out, early]), [(6, 6, 2), (20,)], seed)


def uint8_edges(seed: int = 0) -> bytes:
    """A small classifier with uint8 input and output (inference_input_type / inference_output_type uint8)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    inp = tf.keras.Input(shape=(10, 10, 1), batch_size=1)
    x = L.Conv2D(6, 3, activation="relu")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(5)(x)
    return _convert(tf.keras.Model(inp, x), [(10, 10, 1)], seed, io_type="uint8")
