"""`cimsdk fpga`: the RTL coprocessor in Verilator and on an FPGA board.

  cimsdk fpga build --board icebreaker-cim     yosys + nextpnr-ice40 + icepack -> bitstream and report
  cimsdk fpga build --sim [--target T]         the Verilator co-simulation model (cached)
  cimsdk fpga program --board icebreaker-cim   write the bitstream with iceprog / openFPGALoader
"""

from __future__ import annotations

import os
from pathlib import Path

import click


def _default_out(board: str) -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cimsdk" / "fpga" / board


@click.group()
def command() -> None:
    """Build the CiM coprocessor RTL for Verilator or an FPGA board, and program the board."""


@command.command()
@click.option("--board", help="FPGA board (boards/<board>/fpga.toml), e.g. icebreaker-cim")
@click.option("--sim", is_flag=True, help="build the Verilator co-simulation model instead")
@click.option("--target", default="fpga-dcim-up5k", show_default=True, help="coprocessor instance for --sim")
@click.option("-o", "--output", "--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="output directory (default: ~/.cache/cimsdk/fpga/<board>)")
@click.option("--seed", default=1, show_default=True, help="nextpnr placement seed")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def build(board: str | None, sim: bool, target: str, out_dir: Path | None, seed: int, as_json: bool) -> None:
    """Synthesize, place and route and pack BOARD's system (or verilate the coprocessor with --sim).

    \b
    Examples:
      cimsdk fpga build --board icebreaker-cim          # bitstream and utilization report
      cimsdk fpga build --sim --target fpga-dcim-up5k   # Verilator model for co-simulation
    """
    import json

    from rich.console import Console

    from cimconv.errors import UserError

    console = Console(stderr=True)
    if sim:
        from cimsdk.fpga.instance import load_instance
        from cimsdk.fpga.verilate import build as verilate

        with console.status(f"verilating {target}"):
            exe = verilate(load_instance(target))
        click.echo(str(exe))
        return
    if not board:
        raise UserError("give --board BOARD (e.g. icebreaker-cim) or --sim")
    from cimsdk.fpga.flow import run_flow

    out = out_dir or _default_out(board)
    with console.status(f"building {board}") as status:
        res = run_flow(board, out, seed=seed, log=lambda m: status.update(m))
    if as_json:
        click.echo(json.dumps(res.report, indent=2))
    else:
        _print_report(res.report)
    click.echo(f"bitstream: {res.bitstream}")
    if not res.report["timing_met"]:
        click.echo("FAIL: the clock constraint is not met", err=True)
        raise SystemExit(1)


def _print_report(rep: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{rep['board']}: {rep['device']}, top {rep['top']}, coprocessor {rep['target']}")
    for col in ("resource", "used", "available", "%"):
        t.add_column(col, justify="left" if col == "resource" else "right")
    for u in rep["utilization"]:
        pct = 100.0 * u["used"] / u["available"] if u["available"] else 0.0
        t.add_row(u["resource"], str(u["used"]), str(u["available"]), f"{pct:.0f}")
    Console().print(t)
    for c in rep["clocks"]:
        ok = "met" if c["achieved_mhz"] >= c["constraint_mhz"] else "NOT met"
        click.echo(f"clock {c['clock']}: {c['achieved_mhz']:.2f} MHz achieved, "
                   f"constraint {c['constraint_mhz']:.2f} MHz ({ok})")


@command.command()
@click.option("--board", required=True, help="FPGA board, e.g. icebreaker-cim")
@click.option("--bitstream", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="bitstream (default: the last `cimsdk fpga build --board BOARD`)")
@click.option("--programmer", type=click.Choice(["iceprog", "openFPGALoader"]),
              help="programmer (default: the board's, from fpga.toml)")
@click.option("--sram", is_flag=True, help="configure the FPGA's SRAM only (lost at power-off)")
def program(board: str, bitstream: Path | None, programmer: str | None, sram: bool) -> None:
    """Write the bitstream to the board's flash with the standard programmer.

    \b
    Examples:
      cimsdk fpga program --board icebreaker-cim
      cimsdk fpga program --board icebreaker-cim --sram --programmer openFPGALoader
    """
    import shutil
    import subprocess
    import tomllib

    from cimconv.errors import UserError
    from cimsdk.fpga.flow import load_board_fpga

    b = load_board_fpga(board)
    bit = bitstream or _default_out(board) / f"{b.top}.bin"
    if not bit.is_file():
        raise UserError(f"no bitstream at {bit}; run `cimsdk fpga build --board {board}` first")
    tool = programmer or tomllib.loads((b.dir / "fpga.toml").read_text())["fpga"].get("programmer", "iceprog")
    if shutil.which(tool) is None:
        raise UserError(f"{tool} not found: apt-get install {'fpga-icestorm' if tool == 'iceprog' else 'openfpgaloader'}")
    if tool == "iceprog":
        cmd = ["iceprog", *(["-S"] if sram else []), str(bit)]
    else:
        cmd = ["openFPGALoader", "--board", "ice40_generic", *([] if sram else ["-f"]), str(bit)]
    r = subprocess.run(cmd)
    if r.returncode != 0:
        raise UserError(f"{tool} failed (status {r.returncode}); is the board connected (lsusb: 0403:6010)?")
