"""Wall time of `cimsdk quantize` on the MLPerf KWS float model against TensorFlow's own converter
quantizing the same network (the DS-CNN rebuilt in Keras with the float model's weights), both as whole
processes (what a user waits for) and as the quantization step alone inside one process.

Same calibration inputs for both (240 MFCC frames of `cimsdk data kws-synth`), min/max ranges for both
(TensorFlow's calibrator is min/max), per-channel weights, int8 in and out.
Run: python benchmarks/bench_quantize.py [runs]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import MODELS, side_by_side, wall

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
KWS_FLOAT = MODELS / "kws_ref_model_float32.tflite"

TF_QUANTIZE = """
import os, sys, numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
x = np.load(sys.argv[2])
conv = tf.lite.TFLiteConverter.from_saved_model(sys.argv[1])
conv.optimizations = [tf.lite.Optimize.DEFAULT]
conv.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_input_type = tf.int8
conv.inference_output_type = tf.int8
open(sys.argv[3], "wb").write(conv.convert())
"""


def keras_kws():
    """The KWS DS-CNN in Keras carrying the float .tflite's weights (hybrid int8 conv weights dequantized)."""
    import tensorflow as tf

    from cimconv.quantize.float_runner import FloatRunner
    from cimconv.reader import read_model

    g = read_model(KWS_FLOAT)
    r = FloatRunner(g)
    L = tf.keras.layers
    inp = tf.keras.Input((49, 10, 1), batch_size=1)
    x = inp
    layers = []
    for op in g.operators:
        o = op.options
        if op.opcode == "CONV_2D":
            w = r.weights[op.inputs[1]]  # [O, H, W, I]
            layer = L.Conv2D(w.shape[0], w.shape[1:3], strides=(o["stride_h"], o["stride_w"]),
                             padding=o["padding"].lower(), activation=o["fused_activation_function"].lower())
            x = layer(x)
            layers.append((layer, [w.transpose(1, 2, 3, 0), r.biases[op.inputs[2]]]))
        elif op.opcode == "DEPTHWISE_CONV_2D":
            w = r.weights[op.inputs[1]]  # [1, H, W, C]
            layer = L.DepthwiseConv2D(w.shape[1:3], padding=o["padding"].lower(),
                                      activation=o["fused_activation_function"].lower())
            x = layer(x)
            layers.append((layer, [w[0][..., None], r.biases[op.inputs[2]]]))
        elif op.opcode == "AVERAGE_POOL_2D":
            x = L.AveragePooling2D((o["filter_height"], o["filter_width"]))(x)
        elif op.opcode == "RESHAPE":
            x = L.Flatten()(x)
        elif op.opcode == "FULLY_CONNECTED":
            w = r.weights[op.inputs[1]]
            layer = L.Dense(w.shape[0])
            x = layer(x)
            layers.append((layer, [w.T, r.biases[op.inputs[2]]]))
        elif op.opcode == "SOFTMAX":
            x = L.Softmax()(x)
    model = tf.keras.Model(inp, x)
    for layer, ws in layers:
        layer.set_weights(ws)
    return model, g, r


def main(runs: int = 3) -> int:
    cimsdk = shutil.which("cimsdk")
    if not cimsdk:
        print("needs `cimsdk` on PATH (pip install -e .)")
        return 2
    import tensorflow as tf

    from cimconv.quantize import QuantOptions, quantize_file
    from cimsdk.data.folder import load_folder
    from cimsdk.inputs import InputSpec

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([cimsdk, "data", "kws-synth", "-o", str(tmp / "calib"), "--per-word", "20", "--seed", "101"],
                       check=True, capture_output=True)
        x = load_folder(tmp / "calib", InputSpec.from_tflite(KWS_FLOAT)).inputs.astype(np.float32)
        np.save(tmp / "calib.npy", x)
        model, g, r = keras_kws()
        ref = r.run(x[:8])[g.outputs[0]]
        same = np.abs(model(x[:8]).numpy() - ref).max()
        print(f"Keras rebuild of the KWS float model: max output difference {same:.2e} on 8 inputs")
        model.export(str(tmp / "saved"))
        (tmp / "tfq.py").write_text(TF_QUANTIZE)
        py = sys.executable
        med = side_by_side(
            runs,
            cimsdk=lambda: wall([cimsdk, "quantize", str(KWS_FLOAT), "--calib", str(tmp / "calib.npy"),
                                 "--method", "minmax", "-o", str(tmp / "cim")]),
            tensorflow=lambda: wall([py, str(tmp / "tfq.py"), str(tmp / "saved"), str(tmp / "calib.npy"),
                                     str(tmp / "tf.tflite")]),
        )
        # The quantization step alone, in this process (imports and model loading excluded).
        step = {"cimsdk": [], "tensorflow": []}
        for _ in range(runs):
            t = time.perf_counter()
            quantize_file(KWS_FLOAT, x, QuantOptions(method="minmax"))
            step["cimsdk"].append(time.perf_counter() - t)
            conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved"))
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([x[i : i + 1]] for i in range(len(x)))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
            t = time.perf_counter()
            conv.convert()
            step["tensorflow"].append(time.perf_counter() - t)
    s = {k: float(np.median(v)) for k, v in step.items()}
    print(f"quantize kws_ref_model_float32 ({len(x)} calibration frames, min/max), medians of {runs} runs:")
    print(f"  whole process: cimsdk quantize {med['cimsdk']:.2f} s, TensorFlow converter {med['tensorflow']:.2f} s, "
          f"ratio cimsdk/TF = {med['cimsdk'] / med['tensorflow']:.2f}")
    print(f"  quantization step only: cimsdk {s['cimsdk']:.2f} s, TensorFlow {s['tensorflow']:.2f} s, "
          f"ratio = {s['cimsdk'] / s['tensorflow']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
