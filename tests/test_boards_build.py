"""Boards and the offline PlatformIO build: real toolchain, real `pio run`, ELF files checked with binutils."""

from __future__ import annotations

import os
import struct
import subprocess
import tomllib
from pathlib import Path

import pytest

from cimconv.errors import UserError
from cimsdk import project_root
from cimsdk.build import board_names, build_firmware, load_board
from cimsdk.build.project import check_tools, generate_project
from cimsdk.emulator import mailbox_map

HELLO = project_root() / "firmware" / "examples" / "hello"
REAL_BOARDS = [n for n in board_names() if not load_board(n).runs_here]
WINDOW = (mailbox_map.QEMU_WINDOW_BASE, mailbox_map.QEMU_WINDOW_BASE + mailbox_map.WINDOW_SIZE)  # board data


def _elf_header(elf: Path) -> tuple[int, int, int, int]:
    """(class, machine, entry, flags) read straight from the ELF header."""
    data = elf.read_bytes()[:52]
    assert data[:4] == b"\x7fELF"
    machine, = struct.unpack_from("<H", data, 18)
    entry, = struct.unpack_from("<I", data, 24)
    flags, = struct.unpack_from("<I", data, 36)
    return data[4], machine, entry, flags


def _symbols(elf: Path, kinds: str = "") -> dict[str, int]:
    """Symbol addresses; `kinds` limits to nm type letters (e.g. "TtDdBbRr": code and data only)."""
    out = subprocess.run(["riscv64-unknown-elf-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and (not kinds or parts[1] in kinds):
            syms[parts[2]] = int(parts[0], 16)
    return syms


def _sections(elf: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (vma, lma, size) from objdump -h."""
    out = subprocess.run(["riscv64-unknown-elf-objdump", "-h", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    secs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0].isdigit():
            secs[parts[1]] = (int(parts[3], 16), int(parts[4], 16), int(parts[2], 16))
    return secs


@pytest.fixture(scope="session")
def hello_qemu(tmp_path_factory) -> Path:
    return build_firmware(tmp_path_factory.getbasetemp() / "fw-hello-qemu", "qemu-virt-rv32", "mailbox",
                          app=HELLO, quiet=True)


def test_mailbox_window_is_the_boards_window():
    qemu = load_board("qemu-virt-rv32").data
    ram = qemu["memory"]["ram"]
    assert ram["origin"] + ram["length"] == mailbox_map.QEMU_WINDOW_BASE + mailbox_map.WINDOW_SIZE


def test_every_board_is_complete():
    names = board_names()
    assert "qemu-virt-rv32" in names and len(REAL_BOARDS) >= 2
    for name in names:
        b = load_board(name)
        assert b.board_json.is_file() and b.ldscript().is_file()
        for key in ("pj_per_cycle", "idle_mw", "voltage_v", "source"):
            assert key in b.data["power"], f"{name}: [power] lacks {key}"
        # The MCU's clock has one home, [cpu]; its cycle costs are board data too.
        assert "clock_hz" not in b.data["power"] and b.data["cpu"]["clock_hz"] > 0
        assert (b.path.parent / b.data["cpu"]["cycle_costs"]).is_file()


def test_hello_builds_for_qemu(hello_qemu: Path):
    assert hello_qemu.name == "firmware.elf" and hello_qemu.parent.name == "firmware"
    assert hello_qemu.with_suffix(".bin").stat().st_size > 0
    cls, machine, entry, flags = _elf_header(hello_qemu)
    assert (cls, machine) == (1, 243)  # ELFCLASS32, EM_RISCV
    assert entry == 0x80000000
    assert flags & 0x1  # RVC: rv32imac
    # Nothing is linked into the mailbox window at the top of RAM.
    secs = _sections(hello_qemu)
    assert ".text" in secs and ".bss" in secs
    assert all(vma + size <= WINDOW[0] for vma, _, size in secs.values() if vma >= 0x80000000)
    syms = _symbols(hello_qemu)
    assert syms["__stack_top"] <= WINDOW[0]
    # --gc-sections: the soft backend and the other boards' UART drivers are not in the binary.
    assert "board_uart_init" in syms and "cim_hal_mailbox_command" in syms
    assert "cim_soft_run_op" not in syms


@pytest.mark.parametrize("name", REAL_BOARDS)
def test_hello_builds_for_real_board(name: str, tmp_path: Path):
    elf = build_firmware(tmp_path / name, name, app=HELLO, quiet=True)
    board = tomllib.loads((project_root() / "boards" / name / "board.toml").read_text())
    cls, machine, entry, _ = _elf_header(elf)
    assert (cls, machine) == (1, 243)
    assert entry == board["memory"]["flash"]["origin"]
    secs = _sections(elf)
    ram, flash = board["memory"]["ram"], board["memory"]["flash"]
    # Code executes from flash, or (.ramtext: icebreaker-cim, whose SPI flash is slow to execute from) is
    # loaded from flash and copied to RAM by the start-up code that runs from flash; .data runs in RAM
    # and is loaded from flash; the stack fits in RAM.
    if ".ramtext" in secs:
        vma, lma, size = secs[".ramtext"]
        assert size > 0 and ram["origin"] <= vma < ram["origin"] + ram["length"] and flash["origin"] <= lma
        assert secs[".boot"][0] == flash["origin"]
    else:
        assert secs[".text"][0] == flash["origin"]
    vma, lma, size = secs[".data"]
    assert size > 0
    assert ram["origin"] <= vma < ram["origin"] + ram["length"]
    assert board["memory"]["flash"]["origin"] <= lma
    assert _symbols(elf)["__stack_top"] <= ram["origin"] + ram["length"]


def test_xip_layout_runs_code_from_flash0(tmp_path: Path):
    elf = build_firmware(tmp_path / "xip", "qemu-virt-rv32", "mailbox", app=HELLO, layout="xip", quiet=True)
    assert _elf_header(elf)[2] == 0x20000000
    secs = _sections(elf)
    assert secs[".text"][0] == 0x20000000
    vma, lma, size = secs[".data"]
    assert size > 0  # hello keeps an initialised variable so the copy is exercised
    assert 0x80000000 <= vma < WINDOW[0] and 0x20000000 <= lma < 0x22000000


def test_embed_image_links_the_bytes(tmp_path: Path):
    image = tmp_path / "w.cimg"
    payload = os.urandom(3001)
    image.write_bytes(payload)
    elf = build_firmware(tmp_path / "emb", "qemu-virt-rv32", "mailbox", app=HELLO, embed_image=image, quiet=True)
    syms = _symbols(elf)
    raw = tmp_path / "rodata.bin"
    subprocess.run(["riscv64-unknown-elf-objcopy", "-O", "binary", "-j", ".rodata", str(elf), str(raw)], check=True)
    blob = raw.read_bytes()
    start = syms["cim_embedded_image"] - _sections(elf)[".rodata"][0]
    assert blob[start:start + len(payload)] == payload
    size_off = syms["cim_embedded_image_size"] - _sections(elf)[".rodata"][0]
    assert struct.unpack_from("<I", blob, size_off)[0] == len(payload)


def test_ops_become_defines(tmp_path: Path):
    proj = generate_project(tmp_path, load_board("qemu-virt-rv32"), "soft", HELLO, ops=["CONV_2D", "fully_connected"])
    ini = (proj / "platformio.ini").read_text()
    assert "-DCIM_USE_CONV_2D=1" in ini and "-DCIM_USE_FULLY_CONNECTED=1" in ini
    assert "-DCIM_BACKEND_SOFT" in ini and "cimsdk flash" in ini
    with pytest.raises(UserError):
        generate_project(tmp_path, load_board("qemu-virt-rv32"), "soft", HELLO, ops=["CONV-2D;rm"])


def test_bad_board_and_backend_are_user_errors(tmp_path: Path):
    with pytest.raises(UserError, match="known boards"):
        build_firmware(tmp_path, "no-such-board", app=HELLO)
    with pytest.raises(UserError, match="backend"):
        build_firmware(tmp_path, "qemu-virt-rv32", "fpga", app=HELLO)
    with pytest.raises(UserError, match="no .c sources"):
        build_firmware(tmp_path, "qemu-virt-rv32", app=tmp_path)


def test_missing_toolchain_is_a_user_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match="riscv64-unknown-elf-gcc"):
        check_tools()


def test_cli_build_error_is_one_line(tmp_path: Path):
    proc = subprocess.run(["cimsdk", "firmware", "build", str(tmp_path / "o"), "--board", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown board 'nope'") and "Traceback" not in proc.stderr


def test_uart_registers_only_in_the_board_layer():
    """The application, slot application and bootloader reach the UART through board.h only: no UART base
    address arithmetic outside firmware/board/uart_*.c (one driver per UART kind)."""
    import re

    fw = Path(__file__).resolve().parent.parent / "firmware"
    offenders = [str(p.relative_to(fw)) for p in fw.rglob("*.[ch]")
                 if not (p.parent.name == "board" and p.name.startswith("uart_"))
                 and re.search(r"BOARD_UART_BASE\b", p.read_text())]
    assert offenders == [], offenders
    assert not (fw / "bootloader" / "slotapp").exists()  # the slot app is firmware/app built with CIM_SLOT_APP
