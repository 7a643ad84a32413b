"""Model edges: float-edged int8 models are int8 models; float and uint8 inputs quantized on the host the
way TFLM's QUANTIZE does, outputs dequantized the way its DEQUANTIZE does (docs/edges.md)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from paths import MODELS, SHARED

from cimconv.errors import UserError
from cimconv.ir import is_float_model
from cimconv.reader import read_model
from cimsdk.cli import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REAL = SHARED / "models" / "real"
FLOAT_EDGED = ["armkws_ds_cnn_s", "mltk_anomaly_detection", "mithan_vww"]


@pytest.mark.parametrize("name", FLOAT_EDGED)
def test_float_edged_int8_model_is_not_a_float_model(name):
    g = read_model(REAL / f"{name}.tflite")
    assert g.tensors[g.inputs[0]].dtype == "float32"  # the edge is float ...
    assert [g.operators[0].opcode, g.operators[-1].opcode] == ["QUANTIZE", "DEQUANTIZE"]
    assert not is_float_model(g)  # ... the model is int8 inside


@pytest.mark.parametrize("name", ["vww_96_float", "kws_ref_model_float32"])
def test_float_models_are_float_models(name):
    """A float model, and a dynamic-range one (int8 weights, float activations): both need calibration."""
    assert is_float_model(read_model(MODELS / f"{name}.tflite"))


def test_int8_models_are_not_float_models():
    for name in ("kws_ref_model", "vww_96_int8", "audio_preprocessor_int8"):
        assert not is_float_model(read_model(MODELS / f"{name}.tflite")), name


def test_convert_takes_float_edged_model_without_calib(tmp_path):
    out = tmp_path / "arm"
    res = CliRunner().invoke(cli, ["convert", str(REAL / "armkws_ds_cnn_s.tflite"), "-t", "sram-dcim", "-o", str(out),
                                   "-q"], standalone_mode=False)
    assert res.exit_code == 0, res.output
    assert (out / "model.cimg").is_file()


def test_convert_asks_float_model_for_calib(tmp_path):
    res = CliRunner().invoke(cli, ["convert", str(MODELS / "vww_96_float.tflite"), "-o", str(tmp_path / "v"), "-q"],
                             standalone_mode=False)
    assert isinstance(res.exception, UserError)
    assert "--calib" in str(res.exception) and "float32 model" in str(res.exception)
