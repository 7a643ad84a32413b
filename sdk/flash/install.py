"""First programming of a real board: the cimsdk bootloader through the board's standard path.

A new board has no cimsdk bootloader, so `cimsdk flash` has nobody to talk to. Once, the bootloader
goes on through what the board ships with ([first_program] in boards/<name>/board.toml): the
GD32VF103's USB DFU loader with dfu-util (Sipeed Longan Nano), the on-board J-Link with OpenOCD
(SiFive HiFive1 Rev B), both Debian packages. From then on the bootloader takes applications and
weight images over the USB serial port (`cimsdk flash`, `pio run -t upload`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cimcontracts.errors import UserError


@dataclass
class InstallPlan:
    """What will run (or ran) to program the bootloader."""

    board: str
    method: str
    tool: str
    debian_package: str
    argv: list[str]
    hint: str
    files: dict[str, str] = field(default_factory=dict)

    def command_line(self) -> str:
        import shlex

        return shlex.join(self.argv)


def plan_install(board: str, bootloader_elf: str | os.PathLike) -> InstallPlan:
    """The command that programs `bootloader_elf` (its .bin and .hex beside it) into `board`."""
    from cimsdk.build.boards import load_board
    from cimsdk.flash.layout import layout_for

    b = load_board(board)
    first = b.section("first_program")
    if not first:
        raise UserError(f"board {board} has no [first_program] in its board.toml: it is emulated (`cimsdk emulate "
                        "--flash FILE --install-bootloader`) or not ported yet (docs/board-porting.md)")
    elf = Path(bootloader_elf).resolve()
    files = {"elf": str(elf), "bin": str(elf.with_suffix(".bin")), "hex": str(elf.with_suffix(".hex")),
             "address": f"0x{layout_for(board).flash_base:08x}"}
    try:
        argv = [first["tool"], *(a.format(**files) for a in first["args"])]
    except (KeyError, IndexError) as exc:
        raise UserError(f"boards/{board}/board.toml [first_program] args: unknown placeholder {exc}; use "
                        "{bin}, {elf}, {hex} or {address}") from None
    return InstallPlan(board=board, method=first["method"], tool=first["tool"],
                       debian_package=first.get("debian_package", first["tool"]), argv=argv,
                       hint=first.get("hint", ""), files=files)


def build_for_install(outdir: str | os.PathLike, board: str, **kw) -> Path:
    """The bootloader for `board` (build_bootloader's options) plus the Intel HEX the vendor tools take."""
    from cimsdk.flash.build import build_bootloader

    elf = build_bootloader(outdir, board, **kw)
    proc = subprocess.run(["riscv64-unknown-elf-objcopy", "-O", "ihex", str(elf), str(elf.with_suffix(".hex"))],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"objcopy -O ihex failed: {proc.stderr.strip()}")
    return elf


def run_install(plan: InstallPlan, timeout: float = 300.0) -> str:
    """Run the plan's tool; its output on success, a one-line UserError (with the board's hint) otherwise."""
    if shutil.which(plan.tool) is None:
        raise UserError(f"{plan.tool} not found: sudo apt-get install {plan.debian_package} (needed once, to put the "
                        f"bootloader on the {plan.board}; afterwards `cimsdk flash` uses the USB serial port)")
    try:
        proc = subprocess.run(plan.argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"{plan.tool} did not finish within {timeout:.0f} s; {plan.hint}") from None
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        last = next((ln for ln in reversed(out.splitlines()) if ln.strip()), f"exit status {proc.returncode}")
        raise UserError(f"{plan.tool} failed: {last.strip()}; {plan.hint}")
    return out
