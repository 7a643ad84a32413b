"""`cimsdk compare` and `cimsdk run` from the command line: exact images pass, a wrong one is caught."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from paths import DATA, MODELS

from cimconv import image


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_convert_default_output_folder_and_compare(tmp_path):
    model = MODELS / "kws_ref_model.tflite"
    res = cli("convert", model, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "kws_ref_model"
    for f in ("model.cimg", "report.json", "report.txt", "firmware.json"):
        assert (out / f).exists()
    assert "nor-acim" in (out / "report.txt").read_text()
    res = cli("compare", model, out / "model.cimg", "--inputs", 5, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "bit-exact" in res.stdout
    res = cli("compare", model, out / "model.cimg", "--input", DATA / "yes_1000ms.wav", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compare_catches_a_wrong_image(tmp_path):
    model = MODELS / "kws_ref_model.tflite"
    assert cli("convert", model, "-o", tmp_path / "k", "-q", cwd=tmp_path).returncode == 0
    img = image.parse_image((tmp_path / "k" / "model.cimg").read_bytes())
    m = img.matrices[2]
    m.bias = m.bias.copy()
    m.bias[3] += 5000  # one column of layer 2 off by a lot
    bad = tmp_path / "bad.cimg"
    bad.write_bytes(image.write_image(img))
    res = cli("compare", model, bad, "--inputs", 3, "--no-litert", cwd=tmp_path)
    assert res.returncode == 1
    assert "MISMATCH" in res.stdout
    rows = [line for line in res.stdout.splitlines() if "│" in line]
    first_bad = next(r for r in rows if r.split("│")[4].strip() not in ("0", "TFLM mismatches"))
    assert first_bad.split("│")[1].strip() == "2"  # matrix 2 belongs to program op 2 (CONV_2D)


def test_run_writes_outputs(tmp_path):
    assert cli("convert", MODELS / "kws_ref_model.tflite", "-o", tmp_path / "k", "-q", cwd=tmp_path
               ).returncode == 0
    res = cli("run", tmp_path / "k" / "model.cimg", "--input", DATA / "yes_1000ms.wav", "--input",
              DATA / "silence_1000ms.wav", "-o", tmp_path / "y.npy", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (2, 12)
    assert list(y.argmax(axis=1)) == [9, 10]  # Yes, Silence (../shared/README.md)
