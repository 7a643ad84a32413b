"""`cimsdk firmware build OUTDIR --board BOARD`: generate a PlatformIO project and build it offline."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def command() -> None:
    """Build firmware for a board (PlatformIO, offline)."""


@command.command("build")
@click.argument("outdir", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.option("--output", "-o", "output", type=click.Path(path_type=Path, file_okay=False),
              help="output folder (the same as OUTDIR; -o like every other command)")
@click.option("--board", "-b", default="qemu-virt-rv32", show_default=True,
              help="a folder of boards/ (cimsdk firmware boards)")
@click.option("--backend", type=click.Choice(["mailbox", "soft"]), help="CiM backend (default: the board's)")
@click.option("--app", type=click.Path(path_type=Path, file_okay=False), help="application sources (default firmware/app)")
@click.option("--embed-image", type=click.Path(path_type=Path, dir_okay=False), help="link this weight image in as a const array")
@click.option("--ops", help="comma-separated op names the image uses (link only their kernels)")
@click.option("--for-image", type=click.Path(path_type=Path, dir_okay=False),
              help="link only the kernels this weight image uses (same as --ops with its op list)")
@click.option("--layout", help="memory layout of the board (qemu-virt-rv32: ram or xip)")
@click.option("--opt", default="-Os", show_default=True, help="optimisation flag")
@click.option("--quiet", "-q", is_flag=True, help="no progress output")
def build(outdir: Path | None, output: Path | None, board: str, backend: str | None, app: Path | None,
          embed_image: Path | None, ops: str | None, for_image: Path | None, layout: str | None, opt: str,
          quiet: bool) -> None:
    """Build OUTDIR/firmware/firmware.elf and firmware.bin for BOARD.

    \b
    Examples:
      cimsdk firmware build fw                                   # qemu-virt-rv32, the console app
      cimsdk firmware build -o fw --for-image kws/model.cimg     # only the kernels the image uses
      cimsdk firmware build -o ln -b sipeed-longan-nano --layout slot --app firmware/examples/hello
    """
    if outdir is not None and output is not None and outdir != output:
        raise click.UsageError(f"two output folders given ({outdir} and -o {output}); give one")
    outdir = outdir or output
    if outdir is None:
        raise click.UsageError("give the output folder: cimsdk firmware build OUTDIR (or -o OUTDIR)")
    from cimsdk.build import build_firmware
    from cimsdk.build.project import elf_sizes

    op_list = [o.strip() for o in ops.split(",") if o.strip()] if ops else None
    source = for_image or embed_image
    if source is not None and op_list is None:
        from cimsdk.imagefile import read_weight_image

        op_list = sorted({op.opcode for op in read_weight_image(source).ops})
    elf = build_firmware(outdir, board, backend, app=app, embed_image=embed_image, ops=op_list,
                         layout=layout, opt=opt, quiet=quiet)
    if not quiet:
        sizes = elf_sizes(elf)
        click.echo(f"{elf}  text={sizes.get('text')} data={sizes.get('data')} bss={sizes.get('bss')}")
        click.echo(f"{elf.with_suffix('.bin')}")


@command.command("boards")
def boards() -> None:
    """List the boards and whether they run here (emulated) or are built only.

    \b
    Examples:
      cimsdk firmware boards
    """
    from cimsdk.build import board_names, load_board

    for name in board_names():
        b = load_board(name)
        where = "runs here (emulated)" if b.runs_here else "built here, run on the real board"
        click.echo(f"{name:24s} {b.data['cpu']['march']:10s} backend={b.default_backend:8s} {where}  {b.title}")
