"""Shared bits of the explore tests: a small labelled KWS set (espeak-ng), the CLI, and a small space."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import MODELS

KWS = MODELS / "kws_ref_model.tflite"
PER_WORD = 9  # 108 clips: the 100 calibration frames simulate asks for, and a few to spare


def cli(*args, timeout: float = 1800, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def make_kws_set(root: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    if not KWS.exists():
        pytest.skip(f"{KWS} not found")
    out = root / "kws"
    r = cli("data", "kws-synth", "-o", out, "--per-word", PER_WORD, "--seed", 3)
    assert r.returncode == 0, r.stderr
    return out


def write_space(path: Path, params: str, chips: int = 2, samples: int = 24, extra: str = "") -> Path:
    path.write_text(f'target = "nor-acim"\nchips = {chips}\nsamples = {samples}\nseed = 5\n{extra}\n[params]\n{params}\n')
    return path
