"""`cimsdk bootloader build|install --board B`: the serial bootloader for a board, and its first programming."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def command() -> None:
    """The cimsdk bootloader: build it for a board, put it on a new board once (docs/bootloader.md)."""


@command.command()
@click.option("--board", "-b", required=True, help="a board with a [flash_layout] (cimsdk firmware boards)")
@click.option("--output", "-o", "outdir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="output folder (default: bootloader-BOARD)")
def build(board: str, outdir: Path | None) -> None:
    """Cross-compile the bootloader: OUTPUT/bootloader.elf, .bin, .hex and .map.

    \b
    Examples:
      cimsdk bootloader build --board sipeed-longan-nano
      cimsdk bootloader build -b sifive-hifive1-revb -o bl
    """
    from cimsdk.flash.install import build_for_install

    out = outdir or Path(f"bootloader-{board}")
    elf = build_for_install(out, board)
    click.echo(f"wrote {elf} (.bin {elf.with_suffix('.bin').stat().st_size:,} B, .hex, .map)")


@command.command()
@click.option("--board", "-b", required=True, help="the real board to program (cimsdk firmware boards)")
@click.option("--output", "-o", "outdir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="keep the built bootloader here (default: bootloader-BOARD)")
@click.option("--dry-run", is_flag=True, help="build and print the programming command without running it")
def install(board: str, outdir: Path | None, dry_run: bool) -> None:
    """Program the bootloader into a new board through its standard path (dfu-util, OpenOCD); once.
    Afterwards applications and weight images go over the USB serial port with `cimsdk flash`.

    \b
    Examples:
      cimsdk bootloader install --board sipeed-longan-nano      # BOOT0 held: USB DFU
      cimsdk bootloader install --board sifive-hifive1-revb     # on-board J-Link, OpenOCD
      cimsdk bootloader install -b sipeed-longan-nano --dry-run
      cimsdk flash --board sipeed-longan-nano --port auto firmware.elf model.cimg
    """
    from cimsdk.flash.install import build_for_install, plan_install, run_install

    out = outdir or Path(f"bootloader-{board}")
    plan = plan_install(board, build_for_install(out, board))
    click.echo(f"{plan.method}: {plan.command_line()}")
    if dry_run:
        click.echo(f"(dry run; {plan.hint})")
        return
    click.echo(plan.hint)
    run_install(plan)
    click.echo(f"bootloader installed on the {board}; next: cimsdk flash --board {board} --port auto FILE...")
