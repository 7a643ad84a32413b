"""`cimsdk fpga`: bad input is a one-line error with exit status 2; --sim prints the cached model."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", "fpga", *args], capture_output=True, text=True,
                          timeout=900, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args,says", [
    (["build"], "give --board"),
    (["build", "--board", "qemu-virt-rv32"], "has no FPGA build"),
    (["build", "--sim", "--target", "sram-dcim"], "not an FPGA instance"),
    (["build", "--sim", "--target", "no-such-target"], "unknown target"),
])
def test_bad_input_is_a_one_line_error(args, says):
    r = _cli(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr


def test_program_without_a_bitstream(tmp_path):
    r = _cli("program", "--board", "icebreaker-cim", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert r.returncode == 2 and "cimsdk fpga build --board icebreaker-cim" in r.stderr


def test_sim_build_prints_the_cached_model():
    r = _cli("build", "--sim")
    assert r.returncode == 0, r.stderr
    exe = r.stdout.strip().splitlines()[-1]
    assert os.access(exe, os.X_OK) and "fpga-dcim-up5k" in exe
