"""`cimsdk flash --port PORT FILE...`: firmware and weight images into the board's slots via its bootloader."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--port", "-p", required=True, envvar="CIMSDK_PORT",
              help="serial port, pty, socket://HOST:PORT or HOST:PORT of the emulated board, or auto: the one "
                   "board that answers (env CIMSDK_PORT)")
@click.option("--baud", type=int, default=None,
              help="switch the link to this baud rate after the bootloader answers (default: stay at --connect-baud)")
@click.option("--connect-baud", type=int, default=115200, show_default=True, help="baud rate the bootloader starts at")
@click.option("--board", default="qemu-virt-rv32", show_default=True, help="board the images were built for")
@click.option("--verify", is_flag=True, help="read back the SHA-256 of each written slot and compare")
@click.option("--force", is_flag=True, help="write even when the device already holds the same image")
@click.option("--no-reset", is_flag=True, help="stay in the bootloader afterwards")
@click.option("--timeout", default=2.0, show_default=True, help="seconds to wait for one reply before resending")
@click.option("--retries", default=4, show_default=True, help="resends per frame before a reconnect")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def command(port: str, baud: int | None, connect_baud: int, board: str, verify: bool, force: bool, no_reset: bool,
            timeout: float, retries: int, quiet: bool, files: tuple[Path, ...]) -> None:
    """Flash FILEs (firmware .elf/.bin, weight image .cimg, signed .cpkg) through the serial bootloader.

    Uploads go to the inactive slot, are checked (SHA-256, signature) before they become bootable,
    resume after a broken link, and are skipped when the device already holds the same image.

    \b
    Examples:
      cimsdk firmware build fw --layout slot                                   # apps run from a slot
      cimsdk flash -p 127.0.0.1:4321 fw/firmware/firmware.elf kws/model.cimg   # the emulated board
      cimsdk flash --board sipeed-longan-nano -p auto firmware.elf model.cimg  # a real board on USB
      cimsdk flash -p /dev/ttyUSB0 --verify --baud 921600 model.cpkg
    """
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from cimsdk.flash.flasher import flash

    console = Console(stderr=True, quiet=quiet)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True, disable=quiet) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)

        report = flash(port, list(files), board=board, baud=baud, connect_baud=connect_baud, verify=verify,
                       force=force, reset=not no_reset, progress=progress, timeout=timeout, retries=retries,
                       open_timeout=2.0, log=lambda m: console.print(m))
    click.echo(report.summary())
