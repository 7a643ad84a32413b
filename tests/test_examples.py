"""The examples run as is, end to end on the emulated board (each in its own process and folder).

Expected classes are those recorded in ../shared/README.md (TFLM and LiteRT), not cimsdk's:
yes -> Yes (9), silence -> Silence (10); scikit-image's astronaut and camera -> person (1),
coffee, chelsea and rocket -> no person (0).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from leftovers import run_and_find_leftovers

from cimsdk import project_root

ROOT = project_root()
SHARED = ROOT.parent / "shared"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                       reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain"),
    pytest.mark.skipif(not (SHARED / "models").is_dir(), reason="../shared missing"),
]


def run_example(name: str, out: Path, timeout: float) -> tuple[subprocess.CompletedProcess, set[int]]:
    """Run examples/NAME/run.py; return the result and any process it left running (by PID)."""
    return run_and_find_leftovers([sys.executable, str(ROOT / "examples" / name / "run.py"), "--out", str(out)],
                                  out.parent, timeout)


def test_kws_example(tmp_path: Path) -> None:
    out = tmp_path / "kws"
    res, left = run_example("kws", out, timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert not left, f"processes left running: {left}"
    for step in ("$ cimsdk convert", "$ cimsdk run", "$ cimsdk compare", "$ cimsdk firmware build",
                 "$ cimsdk emulate", "$ cimsdk device run", "$ cimsdk validate"):
        assert step in res.stdout, step
    y = np.load(out / "device_out.npy").reshape(3, -1)  # yes, no, silence
    assert int(y[0].argmax()) == 9 and int(y[2].argmax()) == 10
    report = json.loads((out / "validate.json").read_text())
    assert report["mismatching_elements"] == 0 and report["inputs"] == 13


@pytest.mark.slow
def test_vision_example(tmp_path: Path) -> None:
    out = tmp_path / "vision"
    res, left = run_example("vision", out, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert not left, f"processes left running: {left}"
    report = json.loads((out / "validate.json").read_text())
    assert report["mismatching_elements"] == 0
    y = np.load(out / "device_out.npy")
    y = y.reshape(y.shape[0], -1)
    if importlib.util.find_spec("skimage") is None:
        assert y.shape[0] == 2
        return
    # person.bmp, no_person.bmp, then astronaut, camera, coffee, chelsea, rocket
    assert y.shape[0] == 7
    assert [int(v) for v in y[2:].argmax(1)] == [1, 1, 0, 0, 0]
