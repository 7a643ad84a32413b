"""A firmware.bin beside its ELF is checked section by section: alignment gaps between sections may
hold any fill (objcopy's 0 or --gap-fill 0xff), so whether a build's .text happens to end 4 bytes short
of .rodata's alignment must not decide whether `pio run -t upload` works (it did: CI failed on it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cimconv.errors import UserError

pytestmark = pytest.mark.skipif(shutil.which("riscv64-unknown-elf-gcc") is None, reason="needs the RISC-V toolchain")
BOARD = "qemu-virt-rv32"
TC = "riscv64-unknown-elf-"


def _app_with_gap(tmp_path: Path) -> Path:
    """An ELF linked at the board's application entry whose .rodata starts 12 bytes after .text ends."""
    from cimsdk.flash.layout import layout_for

    src = tmp_path / "app.s"
    src.write_text(".section .text\n.globl _start\n_start: j _start\n.word 0x11223344\n"
                   ".section .rodata\n.balign 16\n.word 0xcafef00d, 0x01020304\n")
    ld = tmp_path / "app.ld"
    ld.write_text(f"ENTRY(_start)\nSECTIONS {{\n  . = 0x{layout_for(BOARD).app_entry:x};\n"
                  "  .text : { *(.text) }\n  .rodata : ALIGN(16) { *(.rodata) }\n}\n")
    elf = tmp_path / "firmware.elf"
    subprocess.run([TC + "gcc", "-march=rv32imac", "-mabi=ilp32", "-nostdlib", "-T", str(ld), str(src), "-o",
                    str(elf)], check=True, capture_output=True)
    return elf


def _bin(elf: Path, *extra: str) -> bytes:
    out = elf.with_suffix(".bin")
    subprocess.run([TC + "objcopy", "-O", "binary", *extra, str(elf), str(out)], check=True)
    return out.read_bytes()


def test_elf_gives_objcopys_bytes(tmp_path: Path) -> None:
    from cimsdk.flash.package import elf_to_image

    elf = _app_with_gap(tmp_path)
    plain = _bin(elf)
    assert len(plain) == 24 and plain[8:16] == bytes(8)  # 8 bytes of code, an 8-byte gap, 8 of rodata
    assert elf_to_image(elf, elf.read_bytes())[0] == plain  # flashing the ELF or its .bin: one SHA-256


@pytest.mark.parametrize("fill", [[], ["--gap-fill", "0xff"]], ids=["zero-gaps", "ff-gaps"])
def test_bin_with_any_gap_fill_is_accepted(tmp_path: Path, fill: list[str]) -> None:
    from cimsdk.flash.package import read_flash_image

    elf = _app_with_gap(tmp_path)
    raw = _bin(elf, *fill)
    img = read_flash_image(elf.with_suffix(".bin"), BOARD)
    assert img.data == raw and img.entry is not None


def test_bin_differing_inside_a_section_is_refused(tmp_path: Path) -> None:
    from cimsdk.flash.package import read_flash_image

    elf = _app_with_gap(tmp_path)
    raw = bytearray(_bin(elf))
    raw[20] ^= 1  # a byte of .rodata
    elf.with_suffix(".bin").write_bytes(bytes(raw))
    with pytest.raises(UserError, match="does not match"):
        read_flash_image(elf.with_suffix(".bin"), BOARD)
    elf.with_suffix(".bin").write_bytes(bytes(raw[:-4]))  # truncated
    with pytest.raises(UserError, match="does not match"):
        read_flash_image(elf.with_suffix(".bin"), BOARD)
