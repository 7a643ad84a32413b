"""One call for both commands: a float model + a calibration data path -> the int8 TFLite model and report."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimconv.quantize import QuantOptions, QuantResult
from cimsdk.quant.data import load, model_spec

MIN_CALIB = 16


def check_float_model(model: Path) -> None:
    from cimconv.quantize.keras_path import is_tf_model

    if not model.exists():
        raise UserError(f"{model}: no such file; give a float .tflite, a Keras .keras/.h5 or a SavedModel folder")
    if not is_tf_model(model) and model.is_dir():
        raise UserError(f"{model}: a folder without saved_model.pb; give a float .tflite, .keras/.h5 or SavedModel")


def default_method(model: Path) -> str:
    """percentile for a float .tflite (cimsdk's quantizer), minmax (TensorFlow's own converter) for Keras and
    SavedModel models."""
    from cimconv.quantize.keras_path import is_tf_model

    return "minmax" if is_tf_model(model) else "percentile"


def quantize_model(model: Path, calib: Path, opts: QuantOptions, progress: bool = True) -> QuantResult:
    from cimconv.quantize.keras_path import is_tf_model, quantize_tf

    check_float_model(model)
    spec = model_spec(model)
    if spec.dtype != "float32":
        raise UserError(f"{model}: the input is {spec.dtype}: the model is already quantized; "
                        f"`cimsdk convert {model}` takes it as it is")
    x = np.asarray(load(calib, spec).inputs, np.float32)
    if len(x) < MIN_CALIB:
        raise UserError(f"--calib {calib}: {len(x)} inputs; give at least {MIN_CALIB} (a few hundred "
                        "representative inputs is typical)")
    t0 = time.perf_counter()
    if is_tf_model(model):
        res = quantize_tf(model, x, opts)
    else:
        from cimconv.quantize import quantize_file

        bar = None
        tick = None
        if progress:
            from rich.progress import BarColumn, Progress, TextColumn

            from cimsdk.console import console

            bar = Progress(TextColumn("calibrating"), BarColumn(), TextColumn("{task.completed}/{task.total} inputs"),
                           transient=True, console=console(stderr=True))
            bar.start()
            task = bar.add_task("cal", total=len(x))

            def tick(n: int) -> None:
                bar.advance(task, n)
        try:
            res = quantize_file(model, x, opts, progress=tick)
        finally:
            if bar is not None:
                bar.stop()
        res.report["route"] = f"cimsdk quantizer ({opts.method} ranges)"
    res.report["calibration_data"] = str(calib)
    res.report["model"] = str(model)
    res.report["seconds"] = time.perf_counter() - t0
    return res
