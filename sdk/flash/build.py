"""Builds for flashing: the bootloader (direct cross-gcc, it is a handful of files) and slot
applications (the regular PlatformIO build, linked for the primary slot), plus the emulated
board's flash file with the bootloader "factory programmed" at its start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from cimcontracts.resources import data_root as project_root
from cimconv.atomic import write_bytes, write_text
from cimconv.errors import UserError
from cimsdk.flash.layout import layout_for, linker_scripts

#: In link order; {uart} and {flash} are the board's drivers (below).
BOOTLOADER_SOURCES = [
    "board/start.S", "board/board.c", "{uart}",
    "protocol/cim_frame.c", "protocol/sha256.c",
    "bootloader/cim_bl.c", "bootloader/cim_ed25519.c", "{flash}", "bootloader/cim_bl_main.c",
]  # fmt: skip
#: The board's flash driver ([flash_layout] driver) and UART driver ([uart] kind), added per board.
FLASH_DRIVERS = {"cfi": "bootloader/cim_bl_cfi.c", "gd32_fmc": "bootloader/cim_bl_gd32_fmc.c",
                 "fe310_spi": "bootloader/cim_bl_fe310_spi.c"}
UART_DRIVERS = {"ns16550a": "board/uart_ns16550a.c", "gd32_usart": "board/uart_gd32.c",
                "sifive_uart": "board/uart_sifive.c"}
HOST_SOURCES = [
    "bootloader/host/bl_host.c", "bootloader/cim_bl.c", "bootloader/cim_ed25519.c",
    "protocol/cim_frame.c", "protocol/sha256.c",
]  # fmt: skip
CFLAGS = ["-std=c11", "-Os", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections", "-fno-common",
          "-ffreestanding"]


def bootloader_dir() -> Path:
    return project_root() / "firmware" / "bootloader"


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:400])
        raise UserError(f"{what} failed: {first}")


def build_bootloader(outdir: str | os.PathLike, board: str = "qemu-virt-rv32", *, pubkey: bytes | None = None,
                     signed_only: bool = False, targets: str = "", window_ms: int = 10) -> Path:
    """Cross-compile the bootloader for `board`; returns OUTDIR/bootloader.elf (and .bin beside it).

    pubkey (32 raw bytes) makes it check ed25519 signatures; signed_only makes it refuse unsigned images.
    """
    from cimsdk.build.boards import board_config_header, load_board
    from cimsdk.build.project import check_tools

    lay = layout_for(board)
    b = load_board(board)
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        check_tools()
    uart = b.data["uart"]["kind"]
    if lay.driver not in FLASH_DRIVERS or uart not in UART_DRIVERS:
        raise UserError(f"board {board}: no bootloader driver for flash '{lay.driver}' or UART '{uart}' "
                        f"(have flash {', '.join(FLASH_DRIVERS)}; UART {', '.join(UART_DRIVERS)})")
    sources = [s.format(uart=UART_DRIVERS[uart], flash=FLASH_DRIVERS[lay.driver]) for s in BOOTLOADER_SOURCES]
    bl_ld, _app_ld = linker_scripts(board)
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    inc = out / "include"
    inc.mkdir(exist_ok=True)
    write_text(inc / "board_config.h", board_config_header(b))
    fw = project_root() / "firmware"
    cpu = b.data["cpu"]
    mach = [f"-march={cpu['march']}", f"-mabi={cpu['mabi']}", "-mcmodel=medany", "--specs=picolibc.specs"]
    defs = ["-DCIM_BOOTLOADER=1", f'-DCIM_BL_TARGETS="{targets}"', f"-DCIM_BL_WINDOW_MS={int(window_ms)}u",
            f"-DCIM_BL_FLASH_{lay.driver.upper()}=1"]
    if pubkey is not None:
        if len(pubkey) != 32:
            raise UserError("bootloader public key must be 32 bytes (ed25519)")
        defs.append("-DCIM_BL_PUBKEY=" + ",".join(f"0x{x:02x}" for x in pubkey))
        if signed_only:
            defs.append("-DCIM_BL_SIGNED_ONLY=1")
    elif signed_only:
        raise UserError("--signed-only needs the public key of the signing key (cimsdk sign --gen-key)")
    incs = [f"-I{inc}", f"-I{fw / 'include'}", f"-I{fw / 'protocol'}", f"-I{fw / 'hal'}", f"-I{fw / 'bootloader'}",
            f"-I{fw / 'board'}"]
    elf = out / "bootloader.elf"
    cmd = ["riscv64-unknown-elf-gcc", *mach, *CFLAGS, *defs, *incs, *[str(fw / s) for s in sources],
           "-nostartfiles", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments", f"-L{fw / 'board'}",
           f"-L{bootloader_dir()}", f"-Wl,--defsym=__stack_size={lay.bootloader_stack:#x}",
           "-T", str(project_root() / bl_ld), f"-Wl,-Map,{out / 'bootloader.map'}", "-o", str(elf)]
    _run(cmd, "bootloader build")
    _run(["riscv64-unknown-elf-objcopy", "-O", "binary", str(elf), str(out / "bootloader.bin")], "objcopy")
    return elf


def build_host_bootloader(outdir: str | os.PathLike, board: str = "qemu-virt-rv32") -> Path:
    """The bootloader core for the host (tests, fuzzing, benchmark) with a simulated flash of `board`'s
    geometry (flash size, sector, slots: its [flash_layout])."""
    fw = project_root() / "firmware"
    layout_for(board)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    exe = out / "bl_host"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise UserError("no host C compiler (cc/gcc) found: apt-get install gcc")
    geometry = [] if board == "qemu-virt-rv32" else [
        "-DCIM_BL_HOST_BOARD", f"-DBOARD_{board.upper().replace('-', '_')}", f'-DCIM_BL_HOST_BOARD_NAME="{board}"']
    cmd = [cc, "-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-DCIM_BL_HOST", "-D_DEFAULT_SOURCE", *geometry,
           f"-I{fw / 'bootloader'}", f"-I{fw / 'include'}", f"-I{fw / 'protocol'}",
           *[str(fw / s) for s in HOST_SOURCES], "-o", str(exe)]
    _run(cmd, "host bootloader build")
    return exe


def prepare_flash(flash: str | os.PathLike, bootloader_bin: str | os.PathLike, *, erase: bool = False,
                  board: str = "qemu-virt-rv32") -> Path:
    """The emulated board's flash file: created erased (0xFF) when missing or with erase=True, then
    the bootloader is written at its start (what a factory programmer or JTAG does on a real board).
    Slots keep their contents, so an existing file carries the installed images across QEMU runs."""
    lay = layout_for(board)
    path = Path(flash)
    blob = Path(bootloader_bin).read_bytes()
    if len(blob) > lay.bootloader_size:
        raise UserError(f"bootloader is {len(blob)} bytes, its flash region only {lay.bootloader_size}")
    if erase or not path.exists() or path.stat().st_size != lay.flash_size:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"\xff" * lay.flash_size)
    with open(path, "r+b") as f:
        f.write(blob + b"\xff" * (lay.bootloader_size - len(blob)))
    return path


def build_slot_app(outdir: str | os.PathLike, board: str = "qemu-virt-rv32", backend: str | None = None, *,
                   app: str | os.PathLike | None = None, ops: list[str] | None = None,
                   defines: dict[str, str] | None = None, quiet: bool = True) -> Path:
    """Build an application linked for the primary slot (XIP at the slot's entry); returns its ELF.

    Uses the regular PlatformIO project of `cimsdk.build` with the slot linker script
    (firmware/bootloader/slot-app.ld) in place of the board's; the default app is the console
    application (firmware/app) built with CIM_SLOT_APP: it runs the weight image from the active model slot.
    """
    from cimsdk.build.boards import load_board
    from cimsdk.build.project import ENV_NAME, BuildError, check_tools, generate_project, run_pio

    layout_for(board)
    b = load_board(board)
    backend = backend or b.default_backend
    app_dir = Path(app) if app is not None else project_root() / "firmware" / "app"
    check_tools()
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    defs = {"CIM_SLOT_APP": "1", **(defines or {})}
    proj = generate_project(out, b, backend, app_dir, None, ops, None, "-Os", defs)
    ini = proj / "platformio.ini"
    text = re.sub(r"^board_build\.ldscript = .*$", f"board_build.ldscript = {project_root() / linker_scripts(board)[1]}",
                  ini.read_text(), flags=re.M)
    write_text(ini, text)
    run_pio(proj, out / "build.log", quiet=quiet, label=f"{app_dir.name} (slot app) for {b.name} ({backend})")
    built = out / "build" / ENV_NAME
    if not (built / "firmware.elf").is_file():
        raise BuildError(f"pio run succeeded but {built / 'firmware.elf'} is missing (log: {out / 'build.log'})")
    for name in ("firmware.elf", "firmware.bin", "firmware.map"):
        if (built / name).is_file():
            write_bytes(out / ENV_NAME / name, (built / name).read_bytes())
    return out / ENV_NAME / "firmware.elf"
