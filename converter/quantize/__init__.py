"""Post-training quantization of float TFLite models into standard int8 (or 16x8) TFLite models.

`quantize_file(path, calib, QuantOptions(...))` reads a float .tflite, calibrates activation ranges on
representative inputs, quantizes weights per channel and biases as TFLite's converter would, and returns
the new flatbuffer and a report. Keras and SavedModel models go through TensorFlow's converter instead
(`cimconv.quantize.keras_path`, the only module that imports TensorFlow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimconv.quantize.observers import METHODS
from cimconv.quantize.quantizer import QuantOptions, QuantResult, is_float_model, quantize_graph

__all__ = ["METHODS", "QuantOptions", "QuantResult", "is_float_model", "quantize_file"]


def quantize_file(path: str | Path, calib: np.ndarray, opts: QuantOptions | None = None,
                  progress=None) -> QuantResult:
    """Quantize the float .tflite at `path` with calibration inputs `calib` (float32, [N, *input[1:]])."""
    from cimconv.reader import read_model

    return quantize_graph(read_model(path), calib, opts, progress)
