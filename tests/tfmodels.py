"""Small int8 TFLite models of our own, built with TensorFlow the way users build theirs.

Varied shapes, strides, paddings, dilations, depth multipliers, activations and per-channel scales,
so the converter is checked on more than the shared models.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def quantize(model, shape: tuple[int, ...], seed: int) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(32):
            yield [rng.normal(size=(1, *shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def architectures():
    """(name, input shape, layer factory) for the zoo; factories take the keras.layers module."""
    return [
        ("conv_s2_same_relu", (12, 10, 3), lambda L: [
            L.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
            L.DepthwiseConv2D(3, depth_multiplier=2, padding="valid", activation="relu6"),
            L.Flatten(), L.Dense(5)]),
        ("dscnn_like", (20, 8, 1), lambda L: [
            L.Conv2D(16, (5, 3), strides=(2, 1), padding="same", activation="relu"),
            L.DepthwiseConv2D(3, padding="same", activation="relu"),
            L.Conv2D(24, 1, activation="relu"),
            L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
            L.Conv2D(12, 1), L.Flatten(), L.Dense(6)]),
        ("dilated_valid", (16, 16, 2), lambda L: [
            L.Conv2D(6, 3, dilation_rate=2, padding="valid", activation="relu6"),
            L.Conv2D(10, (2, 4), strides=(1, 3), padding="same"),
            L.Flatten(), L.Dense(4, activation="relu"), L.Dense(3)]),
        ("mlp", (40,), lambda L: [L.Dense(300, activation="relu"), L.Dense(64, activation="relu"),
                                  L.Dense(10)]),
        ("wide_conv", (8, 8, 40), lambda L: [
            L.Conv2D(300, 3, padding="same", activation="relu"),  # K = 360 rows, N = 300 columns: many tiles
            L.DepthwiseConv2D(5, depth_multiplier=1, padding="same"),
            L.Conv2D(8, 1), L.Flatten(), L.Dense(7)]),
    ]


def build(name: str, shape: tuple[int, ...], factory, seed: int = 0) -> bytes:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input(shape=shape, batch_size=1)
    x = inp
    for layer in factory(tf.keras.layers):
        x = layer(x)
    model = tf.keras.Model(inp, x, name=name)
    # Spread the per-channel scales: scale each output channel's weights differently.
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            k = ws[0]
            ws[0] = k * rng.uniform(0.2, 3.0, size=k.shape[-1]).astype(k.dtype)
            if len(ws) > 1:
                ws[1] = rng.normal(0, 0.1, size=ws[1].shape).astype(ws[1].dtype)
            layer.set_weights(ws)
    return quantize(model, shape, seed)
