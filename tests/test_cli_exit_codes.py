"""Exit statuses a script can tell apart (docs/reliability.md), and what -v adds on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from paths import MODELS


def cimsdk(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.mark.parametrize("argv", [
    ("convert", "--no-such-option"),
    ("no-such-command",),
    ("run",),                                   # missing argument
    ("compare", "a.tflite"),                    # missing second argument
    ("convert", "x.tflite", "--board"),         # option without its value
    ("emulate", "--backend", "quantum"),        # not one of the choices
    ("simulate", "m.cimg", "--trials", "0"),    # out of range
])
def test_usage_errors_exit_64(argv, tmp_path):
    res = cimsdk(*argv, cwd=tmp_path)
    assert res.returncode == 64, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--help" in lines[0], res.stderr


@pytest.mark.parametrize("argv", [
    ("convert", "missing.tflite"),               # the command's own check
    ("sign", "--gen-key", "."),                  # a folder where a file is written
    ("profile", "--from", "missing.csv", "-o", "p"),  # click's own path check
])
def test_bad_input_exits_2(argv, tmp_path):
    res = cimsdk(*argv, cwd=tmp_path)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr, res.stderr


def test_verbose_names_each_stage_and_the_default_says_nothing(tmp_path):
    quiet = cimsdk("convert", MODELS / "kws_ref_model.tflite", "-o", tmp_path / "a", "-q", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    loud = cimsdk("-v", "convert", MODELS / "kws_ref_model.tflite", "-o", tmp_path / "b", "-q", cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    for stage in ("read kws_ref_model.tflite", "target nor-acim", "placed", "planned the arena", "wrote the image"):
        assert stage in loud.stderr, (stage, loud.stderr)
    assert "lowered op" not in loud.stderr  # per-op detail is -vv
    louder = cimsdk("-vv", "convert", MODELS / "kws_ref_model.tflite", "-o", tmp_path / "c", "-q", cwd=tmp_path)
    assert "lowered op 0 CONV_2D -> CiM" in louder.stderr, louder.stderr
    assert (tmp_path / "b" / "model.cimg").read_bytes() == (tmp_path / "c" / "model.cimg").read_bytes()
