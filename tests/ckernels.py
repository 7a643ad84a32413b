"""The firmware's C kernels built for host tests: one compiler set-up, a native shared library called
through ctypes, and the check that the same sources compile for rv32 without warnings."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from cimconv.opspec import OPS

ROOT = Path(__file__).resolve().parent.parent
FW = ROOT / "firmware"
CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"]
INCLUDES = [f"-I{FW / 'runtime'}", f"-I{FW / 'include'}", f"-I{FW / 'kernels'}"]
# every CPU op's kernel file (the op specification lists them) and the fixed-point helpers they share
CPU_KERNEL_SOURCES = [FW / "kernels" / f"{s.name.lower()}.c" for s in OPS.values() if s.program and s.where == "cpu"]
CPU_KERNEL_SOURCES.append(FW / "kernels" / "cim_fixedpoint.c")


def shared_library(sources: list[Path], out: Path) -> ctypes.CDLL:
    """`sources` compiled natively into the shared library `out` (skips without gcc)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    proc = subprocess.run(["gcc", *CFLAGS, "-shared", "-fPIC", *INCLUDES, "-o", str(out), *map(str, sources)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(out))


def assert_compile_for_rv32(sources: list[Path], out_dir: Path) -> None:
    """Each source compiles for the boards' core with the same warnings-as-errors flags."""
    cc = shutil.which("riscv64-unknown-elf-gcc")
    if cc is None:
        pytest.skip("riscv64-unknown-elf-gcc not installed")
    for src in sources:
        proc = subprocess.run([cc, *CFLAGS, "-march=rv32imac", "-mabi=ilp32", "--specs=picolibc.specs",
                               *INCLUDES, "-c", str(src), "-o", str(out_dir / (src.stem + ".o"))],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{src.name}:\n{proc.stderr}"
