"""Streaming models of our own, exported the way TensorFlow exports a stateful model: the state is a
`tf.Variable` that a `tf.function` reads and assigns, converted with resource variables enabled and full
int8 quantization. TFLite then has VAR_HANDLE, READ_VARIABLE -> QUANTIZE, DEQUANTIZE -> ASSIGN_VARIABLE and
a CALL_ONCE subgraph that zeroes the variable. TFLM runs them frame by frame; they are the test's reference.

Two kinds, each at any size:
- `recurrent`: h = relu(x W + h U + b), the state is h (an Elman cell, what a streaming GRU/RNN keeps);
- `ring`: the state holds the last `frames` input frames (shifted by one each frame, the newest appended),
  and a dense layer reads the whole window (streaming keyword models keep their conv context like this).
"""

from __future__ import annotations

import numpy as np


def _export(module, signature, n_in: int, seed: int, init: float = 0.0) -> bytes:
    import tensorflow as tf

    conc = module.__call__.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([conc], module)
    conv.experimental_enable_resource_variables = True
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        r = np.random.default_rng(seed + 1)
        for _ in range(100):
            yield [r.uniform(-1, 1, (1, n_in)).astype(np.float32)]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def recurrent(n_in: int, units: int, seed: int = 0, init: float = 0.0) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    class Cell(tf.Module):
        def __init__(self):
            self.h = tf.Variable(tf.fill([1, units], init), trainable=False)
            self.w = tf.constant(rng.normal(0, 1 / np.sqrt(n_in), (n_in, units)).astype(np.float32))
            self.u = tf.constant(rng.normal(0, 0.5 / np.sqrt(units), (units, units)).astype(np.float32))
            self.b = tf.constant(rng.normal(0, 0.1, (units,)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, n_in], tf.float32)])
        def __call__(self, x):
            h = tf.nn.relu(tf.matmul(x, self.w) + tf.matmul(self.h, self.u) + self.b)
            self.h.assign(h)
            return h

    return _export(Cell(), None, n_in, seed)


def ring(n_in: int, frames: int, units: int, seed: int = 0) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    class Window(tf.Module):
        def __init__(self):
            self.buf = tf.Variable(tf.zeros([1, frames * n_in]), trainable=False)
            self.w = tf.constant(rng.normal(0, 1 / np.sqrt(frames * n_in), (frames * n_in, units)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, n_in], tf.float32)])
        def __call__(self, x):
            window = tf.concat([self.buf[:, n_in:], x], axis=1)
            self.buf.assign(window)
            return tf.nn.relu(tf.matmul(window, self.w))

    return _export(Window(), None, n_in, seed)
