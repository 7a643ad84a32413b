"""`cimsdk emulate`: the emulated board (QEMU + the CiM coprocessor process) in the foreground."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--board", default="qemu-virt-rv32", show_default=True)
@click.option("--firmware", type=click.Path(path_type=Path, dir_okay=False),
              help="firmware ELF (default: build firmware/app for the board into ~/.cache/cimsdk)")
@click.option("--port", type=int, help="TCP port of the UART (default: a free one)")
@click.option("--backend", type=click.Choice(["mailbox", "soft"]), help="CiM backend (default: the board's)")
@click.option("--coprocessor", type=click.Choice(["golden", "rtl"]), default="golden", show_default=True,
              help="mailbox backend: the emulated coprocessor (golden model) or the Verilated RTL (docs/fpga.md)")
@click.option("--rtl-target", help="with --coprocessor rtl: the FPGA target instance (default fpga-dcim-up5k)")
@click.option("--icount/--no-icount", default=True, show_default=True,
              help="-icount shift=0: deterministic instruction counts (minstret), 1 instruction = 1 ns")
@click.option("--flash", type=click.Path(path_type=Path, dir_okay=False), help="pflash0 file (kept between runs)")
@click.option("--erase", is_flag=True, help="start from an erased flash file")
@click.option("--install-bootloader", is_flag=True,
              help="replace the bootloader already in the flash file with this build's (never done without it)")
@click.option("--no-wait", is_flag=True, help="start the guest at once instead of at the first UART client")
@click.option("--log", "log_file", type=click.Path(path_type=Path, dir_okay=False), help="append QEMU/coprocessor logs here")
def command(board: str, firmware: Path | None, port: int | None, backend: str | None, coprocessor: str,
            rtl_target: str | None, icount: bool,
            flash: Path | None, erase: bool, install_bootloader: bool, no_wait: bool, log_file: Path | None) -> None:
    """Run BOARD under QEMU with its UART on socket://127.0.0.1:PORT until Ctrl-C or the guest exits.

    An FPGA board (icebreaker-cim) runs as its whole system simulated in Verilator instead (docs/fpga.md).

    \b
    Examples:
      cimsdk emulate                                     # prints the UART address; Ctrl-C stops it
      cimsdk emulate --backend soft --port 4321
      cimsdk emulate --flash board.flash --no-wait      # a flash that keeps what `cimsdk flash` wrote
      cimsdk emulate --board icebreaker-cim --firmware fw/firmware/firmware.elf
    """
    import time

    from cimsdk.build.boards import load_board
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.emulator.board import FlashLock

    b = load_board(board)
    backend = backend or b.default_backend
    if (b.path / "fpga.toml").is_file():
        if flash is not None or coprocessor != "golden" or rtl_target or install_bootloader:
            raise click.UsageError(f"{board} is simulated in Verilator with its own RTL coprocessor and flash: "
                                   "--flash, --coprocessor, --rtl-target and --install-bootloader do not apply")
        _simulate_fpga(board, firmware or _default_firmware(board, backend), port, not no_wait, log_file)
        return
    if firmware is None and flash is None:
        firmware = _default_firmware(board, backend)
    lock = FlashLock(flash) if flash is not None else None  # before anything writes the file
    if flash is not None and firmware is None:
        _flash_with_bootloader(board, flash, erase, install_bootloader)
        erase = False
    with EmulatedBoard(board, firmware=firmware, port=port, backend=backend, icount=icount,
                       wait_for_client=not no_wait, flash=flash, erase=erase, flash_lock=lock,
                       coprocessor=coprocessor, rtl_target=rtl_target, log_file=log_file) as emu:
        click.echo(f"{board} ({backend}) UART at {emu.url}", err=True)
        click.echo(f"connect: python -m serial.tools.miniterm {emu.url}", err=True)
        if not no_wait:
            click.echo("the guest starts when the first client connects; Ctrl-C stops the board", err=True)
        while emu.alive:
            time.sleep(0.2)
        click.echo(f"board stopped: {emu.exit_reason or 'closed'}", err=True)


def _simulate_fpga(board: str, firmware: Path, port: int | None, wait: bool, log_file: Path | None) -> None:
    """The FPGA board's whole system in Verilator, the firmware in its flash, until Ctrl-C."""
    import time

    from cimsdk.fpga.soc_sim import SimulatedBoard, build

    build(board, log=lambda m: click.echo(m, err=True))
    with SimulatedBoard(firmware, board, port or 0, wait_for_client=wait, log_file=log_file,
                        wait_for_console=False) as sim:
        click.echo(f"{board} simulated in Verilator, UART at {sim.url}", err=True)
        click.echo("it runs far slower than the board: give host commands time to wait, e.g. "
                   "CIMSDK_REPLY_TIMEOUT=60 cimsdk validate ... --timeout 900", err=True)
        if wait:
            click.echo("the system starts when the first client connects; Ctrl-C stops it", err=True)
        while sim.alive:
            time.sleep(0.2)
        click.echo("board stopped: " + "; ".join(sim.logs()[-2:]), err=True)


def _flash_with_bootloader(board: str, flash: Path, erase: bool, install: bool) -> None:
    """A new or erased flash file gets the bootloader at its start (as a factory programmer would);
    the slots keep what was flashed before, so images survive QEMU restarts. A bootloader already
    installed is never replaced without `install` (it may be a signed-only build)."""
    import os

    from cimsdk.flash.build import build_bootloader, prepare_flash
    from cimsdk.flash.layout import layout_for

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cimsdk" / "bootloader" / board
    elf = build_bootloader(cache, board)
    blob = elf.with_suffix(".bin").read_bytes()
    lay = layout_for(board)
    if not erase and flash.is_file() and flash.stat().st_size == lay.flash_size:
        with open(flash, "rb") as f:
            region = f.read(lay.bootloader_size)
        ours = blob + b"\xff" * (lay.bootloader_size - len(blob))
        if region == ours:
            return
        if region.count(0xFF) != len(region) and not install:
            click.echo(f"keeping the bootloader installed in {flash} (another build); "
                       "--install-bootloader replaces it", err=True)
            return
    prepare_flash(flash, elf.with_suffix(".bin"), erase=erase, board=board)


def _default_firmware(board: str, backend: str) -> Path:
    """The default app built once per board/backend into the user's cache (rebuilt incrementally)."""
    import os

    from cimsdk.build import build_firmware

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cimsdk" / "firmware" / f"{board}-{backend}"
    return build_firmware(cache, board, backend)
