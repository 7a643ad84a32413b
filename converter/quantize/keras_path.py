"""Keras (.keras, .h5/.hdf5) and SavedModel models through TensorFlow's own converter.

TensorFlow is an optional extra (`pip install cimsdk[tf]`) and this is the only module of the quantizer that
imports it. With `minmax` ranges TensorFlow's converter quantizes to int8 directly (its calibrator is
min/max); for the other methods it exports a float .tflite and cimsdk's quantizer calibrates that.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cimconv.errors import ModelError, UserError
from cimconv.quantize.quantizer import QuantOptions, QuantResult, quantize_graph

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_tf_model(path: Path) -> bool:
    return path.suffix.lower() in KERAS_SUFFIXES or (path.is_dir() and (path / "saved_model.pb").is_file())


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        raise UserError("Keras and SavedModel models need TensorFlow: `pip install cimsdk[tf]` "
                        "(or export a float .tflite, which cimsdk quantizes without TensorFlow)") from None
    return tf


def load_keras(path: Path):
    tf = _tf()
    try:
        return tf.keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds for a bad file
        raise ModelError(f"{path}: TensorFlow cannot load this Keras model ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]}); re-save it with model.save()") from None


def input_shape(path: Path) -> tuple[int, ...]:
    """The model's input shape with batch 1 (what calibration data must fit)."""
    if path.is_dir():
        tf = _tf()
        fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        spec = list(fn.structured_input_signature[1].values())[0]
        shape = spec.shape
    else:
        shape = load_keras(path).inputs[0].shape
    return (1, *[int(d) if d is not None else 1 for d in shape[1:]])


def _converter(path: Path):
    tf = _tf()
    if path.is_dir():
        return tf.lite.TFLiteConverter.from_saved_model(str(path))
    model = load_keras(path)
    # A fixed batch of 1, as microcontroller models have (a free batch dimension makes Flatten a dynamic
    # SHAPE / STRIDED_SLICE / PACK / RESHAPE chain).
    inp = tf.keras.Input(shape=model.inputs[0].shape[1:], batch_size=1)
    return tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, model(inp)))


def float_tflite(path: Path) -> bytes:
    """The model as a float .tflite (no optimizations)."""
    try:
        return _converter(path).convert()
    except UserError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: TensorFlow's converter failed ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from None


def quantize_tf(path: str | Path, calib: np.ndarray, opts: QuantOptions | None = None) -> QuantResult:
    """Quantize a Keras or SavedModel model; the report says which calibrator ran."""
    from cimconv.reader import parse_model

    path = Path(path)
    opts = opts or QuantOptions()
    opts.check()
    calib = np.asarray(calib, np.float32)
    if opts.method != "minmax":
        res = quantize_graph(parse_model(float_tflite(path), name=path.stem, where=str(path)), calib, opts)
        res.report["route"] = f"TensorFlow converter (float export), then cimsdk calibration ({opts.method})"
        return res
    tf = _tf()
    conv = _converter(path)
    shape = input_shape(path)
    x = calib.reshape((-1, *shape[1:]))

    def rep():
        for i in range(len(x)):
            yield [x[i : i + 1]]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    if opts.activations == "int16":
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        io_type = tf.int16
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = tf.int8
    if opts.io != "float":
        conv.inference_input_type = io_type
        conv.inference_output_type = io_type
    try:
        data = conv.convert()
    except Exception as exc:
        raise ModelError(f"{path}: TensorFlow's converter could not quantize the model ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from None
    report = {"options": {"method": "minmax", "activations": opts.activations, "io": opts.io,
                          "per_channel": True, "bias_correction": False},
              "route": "TensorFlow converter (TFLiteConverter, representative dataset, min/max calibration)",
              "calibration_inputs": int(len(x))}
    return QuantResult(data, report)
