"""Build the firmware runtime for the host (gcc) or for rv32 (riscv64-unknown-elf-gcc + picolibc).

Used by tests/test_runtime_host.py and benchmarks/bench_runtime.py: the same sources as the firmware
(runtime, dispatch, CPU kernels, soft CiM kernels, the HAL's soft backend) around a host main.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from cimconv.opspec import OPS

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"
HERE = Path(__file__).resolve().parent
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
INCLUDES = [f"-I{FW / d}" for d in ("include", "runtime", "kernels", "hal")]


def have_gcc() -> bool:
    return shutil.which("gcc") is not None


def op_defines(ops: list[str] | None) -> list[str]:
    """-D flags selecting `ops` (None: every op)."""
    if ops is None:
        return []
    unknown = set(ops) - set(OPS)
    if unknown:
        raise ValueError(f"unknown ops {sorted(unknown)}")
    return ["-DCIM_OPS_SELECTED", *(f"-DCIM_USE_{o}=1" for o in sorted(set(ops)))]


def kernel_sources(ops: list[str] | None, all_sources: bool = False) -> list[Path]:
    """Runtime + soft CiM kernels + the CPU kernels of the selected ops (all of them with
    `all_sources`: the linker must then drop the unselected ones) + fixed-point helpers."""
    src = [FW / "runtime" / "cim_runtime.c", FW / "runtime" / "cim_dispatch.c",
           *sorted((FW / "kernels").glob("cim_soft*.c")), FW / "hal" / "cim_hal_soft.c"]
    wanted = set(OPS) if ops is None or all_sources else set(ops)
    for name in sorted(wanted):
        if OPS[name].where == "cpu" and OPS[name].program:
            src.append(FW / "kernels" / f"{name.lower()}.c")
    fx = FW / "kernels" / "cim_fixedpoint.c"
    if fx.exists():
        src.append(fx)
    return src


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compile failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


def build_host(out_dir: Path, ops: list[str] | None = None, extra: list[str] | None = None,
               opt: str = "-O2", all_sources: bool = False) -> Path:
    """The cim_host harness (tests/c/cim_host_main.c) linked with the runtime for `ops`."""
    flags = [*CFLAGS, opt, "-g", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections",
             "-DCIM_BACKEND_SOFT", *INCLUDES, *op_defines(ops), *(extra or [])]
    srcs = [*kernel_sources(ops, all_sources), HERE / "cim_host_main.c"]
    key = hashlib.sha256(repr((flags, [str(s) for s in srcs])).encode()).hexdigest()[:12]
    out = out_dir / f"cim_host_{key}"
    _run(["gcc", *flags, "-o", str(out), *map(str, srcs)])
    return out


def run_host(exe: Path, image: Path, inputs: Path | None = None, outputs: Path | None = None
             ) -> subprocess.CompletedProcess:
    args = [str(exe), str(image)] + ([str(inputs), str(outputs)] if inputs else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=600)
