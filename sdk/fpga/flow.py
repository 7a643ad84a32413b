"""The open iCE40 flow: yosys (synth_ice40), nextpnr-ice40 (place and route against the clock
constraint), icepack (bitstream); and the report a chip team reads: LUTs, flip-flops, RAM blocks,
DSPs, I/O against what the device has, achieved Fmax against the constraint.

Board data is `boards/<board>/fpga.toml`: device, package, pin constraints, clock, top module and
the sources (project files under rtl/, soft-core files from their Python data package).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cimcontracts.resources import data_root as project_root
from cimconv.errors import UserError
from cimsdk.fpga import seqfw
from cimsdk.fpga.instance import Instance, load_instance

TOOLS = ("yosys", "nextpnr-ice40", "icepack")
# nextpnr's utilization names -> the report's rows
RESOURCES = {"ICESTORM_LC": "logic cells (LUT4 + FF)", "ICESTORM_RAM": "block RAM (4 Kbit)",
             "ICESTORM_SPRAM": "SPRAM (256 Kbit)", "ICESTORM_DSP": "DSP (16x16 MAC)", "SB_IO": "I/O pins",
             "SB_GB": "global buffers", "ICESTORM_PLL": "PLL"}


@dataclass
class BoardFpga:
    name: str
    dir: Path
    device: str
    package: str
    pcf: Path
    clock_mhz: float
    top: str
    target: str
    sources: list[Path] = field(default_factory=list)
    defines: dict[str, str] = field(default_factory=dict)


def package_dir(module: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError:
        raise UserError(f"the soft core's Verilog comes from the Python package {module.replace('_', '-')}: "
                        "pip install 'cimsdk[fpga]'") from None
    return Path(mod.data_location)


def load_board_fpga(board: str) -> BoardFpga:
    root = project_root() / "boards" / board
    path = root / "fpga.toml"
    if not path.is_file():
        fpgas = sorted(p.parent.name for p in (project_root() / "boards").glob("*/fpga.toml"))
        raise UserError(f"board {board} has no FPGA build (boards/{board}/fpga.toml); FPGA boards: {', '.join(fpgas)}")
    d = tomllib.loads(path.read_text())
    f = d["fpga"]
    sources = [project_root() / s for s in f["rtl"]]
    for pkg, files in f.get("packages", {}).items():
        base = package_dir(pkg)
        sources += [base / s for s in files]
    return BoardFpga(board, root, f["device"], f["package"], root / f["pcf"], float(f["clock_mhz"]), f["top"],
                     f["target"], sources, {k: str(v) for k, v in f.get("defines", {}).items()})


def check_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise UserError(f"{', '.join(missing)} not found: apt-get install yosys nextpnr-ice40 fpga-icestorm "
                        "(scripts/setup.sh installs them)")


def yosys_script(b: BoardFpga, inst: Instance, json_out: Path, generated: list[Path] = ()) -> str:
    defs = " ".join(f"-D{k}={v}" for k, v in b.defines.items())
    params = " ".join(f"-set {k} {v}" for k, v in inst.verilog_parameters().items())
    lines = [f"read_verilog -DSYNTHESIS {defs} {' '.join(str(s) for s in [*b.sources, *generated])}",
             f"chparam {params} cim_coprocessor",
             f"synth_ice40 -top {b.top} -dsp -json {json_out}",
             f"tee -q -o {json_out.with_suffix('.stat.txt')} stat"]
    return "\n".join(lines) + "\n"


@dataclass
class FlowResult:
    bitstream: Path
    report: dict


def run_flow(board: str, out_dir: Path, seed: int = 1, log=print) -> FlowResult:
    """Synthesize, place and route, pack; returns the bitstream and the parsed report."""
    check_tools()
    b = load_board_fpga(board)
    inst = load_instance(b.target)
    if "ICE40_SPRAM" in b.defines and (inst.memory_words > 16384 or inst.weight_word_bytes != 4):
        raise UserError(f"{inst.name}: the weight memory, quantization and tile tables need {inst.memory_words} words of "
                        f"{inst.weight_word_bytes} bytes; two iCE40 SPRAM blocks hold 16384 words of 4 bytes "
                        "(weight_word_bytes = 4, fewer arrays or quant_words in the target's TOML)")
    out_dir.mkdir(parents=True, exist_ok=True)
    js, asc, rep, bit = (out_dir / f"{b.top}.{e}" for e in ("json", "asc", "report.json", "bin"))
    seq_ram = out_dir / seqfw.MODULE_FILE  # the coprocessor's sequencer program in its block RAM
    seq_ram.write_text(seqfw.ram_module(inst))
    (out_dir / "synth.ys").write_text(yosys_script(b, inst, js, [seq_ram]))
    steps = [
        ("synthesis (yosys)", ["yosys", "-q", "-l", str(out_dir / "yosys.log"), str(out_dir / "synth.ys")]),
        ("place and route (nextpnr-ice40)",
         ["nextpnr-ice40", f"--{b.device}", "--package", b.package, "--pcf", str(b.pcf), "--json", str(js),
          "--asc", str(asc), "--freq", f"{b.clock_mhz:g}", "--report", str(rep), "--seed", str(seed),
          "--log", str(out_dir / "nextpnr.log"), "-q"]),
        ("bitstream (icepack)", ["icepack", str(asc), str(bit)]),
    ]
    for what, cmd in steps:
        log(f"{what} ...")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            lines = (r.stdout + r.stderr).strip().splitlines()
            if (out_dir / "nextpnr.log").is_file():
                lines += (out_dir / "nextpnr.log").read_text().splitlines()
            fit = [ln.strip() for ln in lines if re.search(r"ICESTORM_\w+:\s+\d+/|Design uses|Unable to|ERROR", ln)]
            tail = "\n".join(fit[-12:] or lines[-15:])
            synth = synthesis_cells(js.with_suffix(".stat.txt"))
            if synth:
                tail += "\nafter synthesis: " + ", ".join(f"{k} {v}" for k, v in synth.items())
            raise UserError(f"{what} failed for board {board} (logs in {out_dir}):\n{tail}")
    report = parse_report(json.loads(rep.read_text()), b, inst)
    (out_dir / "fpga-report.json").write_text(json.dumps(report, indent=2))
    return FlowResult(bit, report)


def synthesis_cells(stat: Path) -> dict[str, int]:
    """iCE40 cells yosys mapped the design to (from its `stat`), grouped: LUT4, flip-flops, RAM, DSP."""
    if not stat.is_file():
        return {}
    groups = {"LUT4": r"SB_LUT4", "flip-flops": r"SB_DFF\w*", "carry": r"SB_CARRY", "block RAM": r"SB_RAM40_4K",
              "SPRAM": r"SB_SPRAM256KA", "DSP": r"SB_MAC16"}
    out: dict[str, int] = {}
    text = stat.read_text()
    top = text[text.rfind("=== design hierarchy ==="):] if "=== design hierarchy ===" in text else text
    for name, pat in groups.items():
        n = sum(int(m.group(1)) for m in re.finditer(rf"^\s+{pat}\s+(\d+)\s*$", top, re.M))
        if n:
            out[name] = n
    return out


def parse_report(nextpnr: dict, b: BoardFpga, inst: Instance) -> dict:
    """nextpnr's --report JSON -> utilization rows and the clock achieved against the constraint."""
    util = []
    for key, info in nextpnr.get("utilization", {}).items():
        if key in RESOURCES:
            util.append({"resource": RESOURCES[key], "cell": key, "used": int(info["used"]),
                         "available": int(info["available"])})
    clocks = []
    for net, info in nextpnr.get("fmax", {}).items():
        clocks.append({"clock": re.sub(r"\$.*", "", net), "achieved_mhz": round(float(info["achieved"]), 2),
                       "constraint_mhz": round(float(info["constraint"]), 2)})
    met = bool(clocks) and all(c["achieved_mhz"] >= c["constraint_mhz"] for c in clocks)
    return {"board": b.name, "device": f"iCE40{b.device.upper()}-{b.package}", "top": b.top,
            "target": inst.name, "rtl_parameters": inst.verilog_parameters(), "utilization": util,
            "clocks": clocks, "timing_met": met}
