"""Every kind of bad input: one line on stderr, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from paths import MODELS


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def assert_clean_error(res: subprocess.CompletedProcess, *words: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for w in words:
        assert w.lower() in err.lower(), (w, err)


def convert_fails(tmp_path: Path, model: Path, *words: str, extra: tuple[str, ...] = ()) -> None:
    out = tmp_path / "out"
    res = run_cli("convert", str(model), "-o", str(out), *extra, cwd=tmp_path)
    assert_clean_error(res, *words)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], list(tmp_path.iterdir())


def test_missing_file(tmp_path):
    convert_fails(tmp_path, tmp_path / "nope.tflite", "no such file")


def test_not_a_tflite_file(tmp_path):
    f = tmp_path / "notes.tflite"
    f.write_text("this is not a model at all, just text\n")
    convert_fails(tmp_path, f, "not a TFLite")


def test_truncated_flatbuffer(tmp_path):
    data = (MODELS / "kws_ref_model.tflite").read_bytes()
    f = tmp_path / "cut.tflite"
    f.write_bytes(data[: len(data) // 3])
    convert_fails(tmp_path, f, "cut.tflite")


def test_corrupt_flatbuffer(tmp_path):
    data = bytearray((MODELS / "kws_ref_model.tflite").read_bytes())
    # Smash the root table offset and the vtable region right after the identifier.
    data[0:4] = b"\xff\xff\xff\x7f"
    f = tmp_path / "bad.tflite"
    f.write_bytes(bytes(data))
    convert_fails(tmp_path, f, "corrupt")


def test_float_model_says_how_to_quantize(tmp_path):
    convert_fails(tmp_path, MODELS / "kws_ref_model_float32.tflite", "float32", "quantize")


def test_unsupported_op_names_op_and_index(tmp_path):
    # The TFLM audio front end is a real model built of ops no CiM toolchain maps (CAST, custom Signal ops).
    convert_fails(tmp_path, MODELS / "audio_preprocessor_int8.tflite", "unsupported op", "operator")


def test_model_too_large_for_target(tmp_path):
    small = tmp_path / "tiny-cim.toml"
    small.write_text(
        'id = 99\nname = "tiny-cim"\nexact = true\n[macro]\nrows = 64\ncols = 256\nbits_per_cell = 1\n'
        'cells_per_weight = 8\nsigned_encoding = "twos-complement"\ninput_bits_per_cycle = 1\n'
        'rows_active = 64\nadc_bits = 0\narrays_per_macro = 1\nmacros = 2\n')
    convert_fails(tmp_path, MODELS / "vww_96_int8.tflite", "does not fit", "short by", extra=("--target", str(small)))


def test_unknown_target(tmp_path):
    convert_fails(tmp_path, MODELS / "hello_world_int8.tflite", "unknown target", "sram-dcim",
                  extra=("--target", "quantum-cim"))


def test_folder_instead_of_file(tmp_path):
    convert_fails(tmp_path, tmp_path, "folder")


@pytest.mark.parametrize("cmd", ["inspect", "run"])
def test_corrupt_image_rejected(tmp_path, cmd):
    out = tmp_path / "hw"
    assert run_cli("convert", str(MODELS / "hello_world_int8.tflite"), "-o", str(out), "-q", cwd=tmp_path
                   ).returncode == 0
    img = bytearray((out / "model.cimg").read_bytes())
    img[300] ^= 0x40
    bad = tmp_path / "bad.cimg"
    bad.write_bytes(bytes(img))
    args = [cmd, str(bad)] + (["--input", str(tmp_path / "x.npy")] if cmd == "run" else [])
    res = run_cli(*args, cwd=tmp_path)
    assert_clean_error(res, "corrupt")
