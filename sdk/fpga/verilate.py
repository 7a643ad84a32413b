"""Build the Verilated coprocessor (RTL + rtl/sim/cosim_main.cpp) once per source hash.

The executable lands in `$XDG_CACHE_HOME/cimsdk/verilator/<instance>-<hash>/`, where the hash covers
the RTL sources, the C++ host, the instance's parameters and the Verilator version: editing the RTL
or the target rebuilds, everything else reuses the build (a build takes about a minute on 2 cores).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cimcontracts.resources import data_root as project_root
from cimconv.errors import UserError
from cimsdk.fpga import seqfw
from cimsdk.fpga.flow import package_dir
from cimsdk.fpga.instance import Instance

RTL_SOURCES = ("cim_coprocessor.v", "cim_array.v")
HOST_SOURCE = "sim/cosim_main.cpp"
TOP = "cim_coprocessor"
BINARY = "cimcop-cosim"


def rtl_dir() -> Path:
    return project_root() / "rtl"


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cimsdk" / "verilator"


def verilator_version() -> str:
    exe = shutil.which("verilator")
    if exe is None:
        raise UserError("verilator not found: apt-get install verilator (scripts/setup.sh installs it)")
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def source_path(name: str) -> Path:
    """A model's source: relative to rtl/, or absolute (a soft core's file from its Python package)."""
    return Path(name) if Path(name).is_absolute() else rtl_dir() / name


@dataclass(frozen=True)
class Model:
    """One Verilator executable: a top module, its sources, a C++ host and the parameters.

    `params` go to the top module (-G) and to the C++ host (-DP_<name>); `generated` are sources
    written at build time as (file name, text), e.g. a copy of a system top with its coprocessor's
    parameters filled in (Verilator sets parameters of the top module only).
    """

    name: str
    top: str
    sources: tuple[str, ...]
    host: str
    params: tuple[tuple[str, int], ...]
    binary: str = BINARY
    generated: tuple[tuple[str, str], ...] = ()

    def source_hash(self) -> str:
        h = hashlib.sha256()
        for name in (*self.sources, self.host):
            h.update(name.encode() + b"\0" + source_path(name).read_bytes())
        for name, text in self.generated:
            h.update(name.encode() + b"\0" + text.encode())
        h.update(repr((self.top, self.params)).encode())
        if self.binary != BINARY:
            h.update(self.binary.encode())
        h.update(verilator_version().encode())
        return h.hexdigest()[:16]


def sequencer_core() -> str:
    """PicoRV32's Verilog (the coprocessor's sequencer core), from its Python data package."""
    return str(package_dir("pythondata_cpu_picorv32") / "picorv32.v")


def coprocessor_model(inst: Instance) -> Model:
    return Model(inst.name, TOP, (*RTL_SOURCES, sequencer_core()), HOST_SOURCE,
                 tuple(sorted(inst.verilog_parameters().items())),
                 generated=((seqfw.MODULE_FILE, seqfw.ram_module(inst)),))


def source_hash(inst: Instance) -> str:
    return coprocessor_model(inst).source_hash()


def build(inst: Instance, jobs: int = 2, log=None) -> Path:
    """The co-simulation executable of `inst`, built now unless a build of the same sources exists."""
    return build_model(coprocessor_model(inst), jobs, log)


def build_model(model: Model, jobs: int = 2, log=None) -> Path:
    """The executable of `model` (parameters go to the RTL as -G and to the C++ host as -DP_<name>)."""
    out_dir = cache_root() / f"{model.name}-{model.source_hash()}"
    exe = out_dir / model.binary
    if exe.is_file():
        return exe
    cache_root().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=cache_root()))
    try:
        defines = " ".join(f"-DP_{k}={v}" for k, v in model.params)
        generated = []
        for name, text in model.generated:
            (work / name).write_text(text)
            generated.append(str(work / name))
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(jobs), "-O3", "--x-assign", "fast",
               "--x-initial", "fast", "--top-module", model.top, "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSEDSIGNAL",
               "--Mdir", str(work / "obj"), "-o", model.binary, "-CFLAGS", f"-O2 {defines}",
               *[f"-G{k}={v}" for k, v in model.params],
               *[str(source_path(s)) for s in model.sources], *generated, str(rtl_dir() / model.host)]
        if log:
            log(f"verilating {model.name} (cached under {out_dir})")
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OPT_FAST": "-O2"})
        if r.returncode != 0:
            tail = "\n".join((r.stdout + r.stderr).splitlines()[-30:])
            raise UserError(f"verilator build of {model.name} failed:\n{tail}")
        final = work / "bin"
        final.mkdir()
        shutil.move(str(work / "obj" / model.binary), final / model.binary)
        shutil.rmtree(work / "obj")
        try:
            os.rename(final, out_dir)  # atomic: a concurrent build of the same hash wins or loses whole
        except OSError:
            if not exe.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return exe
