"""`cimsdk quantize` and `cimsdk convert FLOAT --calib` on the shared float models with small real data:
the int8 file runs in TFLM, `convert` takes it, and the golden model is bit-exact with TFLM on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from paths import MODELS

from cimsdk.reference import TFLM

KWS_FLOAT = MODELS / "kws_ref_model_float32.tflite"
VWW_FLOAT = MODELS / "vww_96_float.tflite"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def kws_small(tmp_path_factory) -> Path:
    """24 labelled keyword clips (2 per label) from `cimsdk data kws-synth`."""
    out = tmp_path_factory.mktemp("kws") / "synth"
    res = cli("data", "kws-synth", "-o", str(out), "--per-word", "2", "--seed", "5", cwd=out.parent)
    assert res.returncode == 0, res.stderr
    return out


def golden_equals_tflm(model: Path, image: Path, xs: np.ndarray) -> None:
    from cimsdk.golden import Executor

    ours = Executor(image.read_bytes()).run(xs)
    ref = TFLM(model).run(xs)
    assert ours.shape == ref.shape
    assert int((ours != ref).sum()) == 0


def test_quantize_kws_float_cli_then_convert_bit_exact(kws_small, tmp_path):
    out = tmp_path / "q"
    res = cli("quantize", str(KWS_FLOAT), "--calib", str(kws_small), "-o", str(out), "--method", "mse",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    q = out / "model_int8.tflite"
    report = json.loads((out / "quantize.json").read_text())
    assert report["options"]["method"] == "mse" and report["calibration_inputs"] == 24
    from cimsdk.data.folder import load_folder
    from cimsdk.inputs import InputSpec

    data = load_folder(kws_small, InputSpec.from_tflite(q))
    assert data.inputs.dtype == np.int8
    y = TFLM(q).run(data.inputs)
    assert y.shape == (24, 12)
    for target in ("nor-acim", "sram-dcim"):
        conv = tmp_path / f"img-{target}"
        res = cli("convert", str(q), "-t", target, "-o", str(conv), "-q", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        golden_equals_tflm(q, conv / "model.cimg", data.inputs)


def test_convert_float_model_with_calib_keeps_int8_model(kws_small, tmp_path):
    out = tmp_path / "c"
    res = cli("convert", str(KWS_FLOAT), "--calib", str(kws_small), "-t", "sram-dcim", "-o", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert {"model.cimg", "model_int8.tflite", "quantize.json", "report.json"} <= {p.name for p in out.iterdir()}
    from cimsdk.inputs import InputSpec

    spec = InputSpec.from_tflite(out / "model_int8.tflite")
    assert spec.dtype == "int8"
    xs = np.random.default_rng(0).integers(-128, 128, (10, 49, 10, 1)).astype(np.int8)
    golden_equals_tflm(out / "model_int8.tflite", out / "model.cimg", xs)


def test_quantize_eval_table(kws_small, tmp_path):
    out = tmp_path / "e"
    res = cli("quantize", str(KWS_FLOAT), "--calib", str(kws_small), "-o", str(out), "--eval", str(kws_small),
              "--trials", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    acc = json.loads((out / "accuracy.json").read_text())
    steps = [r["step"] for r in acc["rows"]]
    assert steps[0] == "float" and steps[1] == "int8 (TFLM)" and any(s.startswith("CiM nor-acim") for s in steps)
    assert acc["samples"] == 24 and acc["labelled"]
    for r in acc["rows"]:
        assert 0.0 <= r["top1"] <= 1.0
    assert "int8 (TFLM)" in res.stdout and "CiM" in res.stdout
    assert acc["rows"][1]["output_snr_db"] > 10  # int8 softmax output against the float one


@pytest.mark.parametrize("args,words,status", [
    (("quantize", str(MODELS / "kws_ref_model.tflite")), ("already quantized",), 2),
    (("quantize", str(KWS_FLOAT), "--method", "bogus"), ("bogus",), 64),  # not a choice: a usage error
    (("quantize", str(MODELS / "nope.tflite")), ("no such file",), 2),
])
def test_quantize_bad_input(args, words, status, kws_small, tmp_path):
    res = cli(*args, "--calib", str(kws_small), "-o", str(tmp_path / "o"), cwd=tmp_path)
    assert res.returncode == status, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    for w in words:
        assert w in res.stderr.lower()
    assert not (tmp_path / "o").exists()


def test_quantize_calib_shape_mismatch(tmp_path):
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((20, 7), np.float32))
    res = cli("quantize", str(KWS_FLOAT), "--calib", str(bad), "-o", str(tmp_path / "o"), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "shape" in res.stderr
    assert not (tmp_path / "o").exists()


def test_float_runner_matches_litert_on_vww_float():
    """The calibration runner computes what LiteRT computes on a real float model (to float rounding)."""
    from ai_edge_litert import interpreter as lite

    from cimconv.quantize.float_runner import FloatRunner
    from cimconv.reader import read_model

    g = read_model(VWW_FLOAT)
    x = np.random.default_rng(1).uniform(0, 1, (3, 96, 96, 3)).astype(np.float32)
    env = FloatRunner(g).run(x)
    it = lite.Interpreter(model_path=str(VWW_FLOAT), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    for i in range(len(x)):
        it.set_tensor(it.get_input_details()[0]["index"], x[i : i + 1])
        it.invoke()
        for op in g.operators[::5] + g.operators[-3:]:
            t = op.outputs[0]
            ref = it.get_tensor(t)
            np.testing.assert_allclose(env[t][i : i + 1].reshape(ref.shape), ref, rtol=1e-3,
                                       atol=1e-4 * max(1.0, float(np.abs(ref).max())))
