"""Calibration and evaluation data for a float model, read the way every command reads inputs.

A labelled folder (one sub-folder per label, `cimsdk data` layouts), a plain folder of input files, or one
file (.npy batch, .wav, image), turned into float32 model inputs by the front end the input shape implies
(MFCC for [1,49,10,1], pixels in [0, 1] for images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimsdk.inputs import InputSpec, load_input


@dataclass
class FloatData:
    inputs: np.ndarray  # [N, *input shape[1:]], the spec's dtype
    labels: np.ndarray | None
    names: list[str] | None


def model_spec(model: Path) -> InputSpec:
    """Input spec of a .tflite (float or int8) or a Keras/SavedModel model (float32)."""
    from cimconv.quantize.keras_path import input_shape, is_tf_model

    if is_tf_model(model):
        return InputSpec(shape=input_shape(model), dtype="float32")
    return InputSpec.from_tflite(model)


def load(path: Path, spec: InputSpec, what: str = "--calib") -> FloatData:
    path = Path(path)
    if path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        from cimsdk.data.folder import load_folder

        d = load_folder(path, spec)
        return FloatData(d.inputs, d.labels, list(d.names))
    if path.is_dir():
        from cimsdk.data.folder import DATA_SUFFIXES

        files = sorted(p for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
        if not files:
            raise UserError(f"{what} {path}: no input files ({', '.join(DATA_SUFFIXES)}) and no label sub-folders")
        return FloatData(np.concatenate([load_input(f, spec) for f in files]), None, None)
    if path.is_file():
        return FloatData(load_input(path, spec), None, None)
    raise UserError(f"{what} {path}: no such file or folder; give a labelled folder, a folder of inputs or a file")
