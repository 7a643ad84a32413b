"""Flash layout, slot header format and slot states: the one definition (docs/bootloader.md).

The C header `firmware/bootloader/cim_bl_layout.h` is generated from this module by
`python -m cimsdk.flash.layout`; `--check` exits 1 when the committed header is stale.
Slots are whole erase sectors so erasing one never touches another.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

#: Slot header: the first HEADER_SIZE bytes of every slot; the image follows it.
SLOT_MAGIC = 0x544C5343  # "CSLT"
SLOT_LAYOUT_VERSION = 1
HEADER_SIZE = 256
#: Offsets inside the header. Fixed fields are programmed once at BEGIN; each state word is
#: programmed once later (NOR flash only clears bits), so no header ever needs a rewrite.
HDR_MAGIC = 0  # u32
HDR_VERSION = 4  # u8
HDR_KIND = 5  # u8 SlotKind
HDR_FLAGS = 6  # u16 HeaderFlag
HDR_SIZE = 8  # u32 image bytes
HDR_SEQ = 12  # u32 generation: the highest committed one of a kind wins
HDR_SHA256 = 16  # 32 bytes
HDR_SIG = 48  # 64 bytes ed25519 signature (0xFF when unsigned)
HDR_CRC = 112  # u32 CRC-32 over bytes [0, 112)
HDR_COMMIT = 128  # u32 COMMIT_MAGIC once hash (and signature) verified
HDR_DONE = 132  # u32 DONE_MAGIC: staging slot copied into the primary slot
HDR_INVALID = 136  # u32 0 = slot killed (failed a boot check or erased by command)
FIXED_SIZE = 112
COMMIT_MAGIC = 0xC0DE600D
DONE_MAGIC = 0xD0E5C0DE
#: Ed25519 signs SIG_PREFIX | kind u8 | size u32 | sha256[32] (45 bytes).
SIG_PREFIX = b"CIMSIG1\0"
SIG_SIZE = 64
#: Stay in the bootloader after reset: the app writes this word at BOOT_REQ_ADDR, then resets.
BOOT_REQ_MAGIC = 0xB007B007


class SlotKind(IntEnum):
    """What a slot holds."""

    APP = 1
    MODEL = 2


class HeaderFlag(IntEnum):
    """Header flag bits."""

    SIGNED = 0x0001


class SlotRole(IntEnum):
    """Which slot a BL_SLOTS record describes (its index)."""

    APP_PRIMARY = 0  # the application executes in place here
    APP_STAGING = 1  # uploads land here; copied to the primary slot once verified
    MODEL_A = 2
    MODEL_B = 3


class SlotState(IntEnum):
    """State of a slot as BL_SLOTS reports it."""

    EMPTY = 0  # erased or no valid header
    RECEIVING = 1  # header written, image not (yet) verified
    VALID = 2  # committed: hash (and signature) verified
    INSTALLED = 3  # staging slot already copied into the primary slot
    INVALID = 4  # killed: failed a check or erased by command


class SlotFlag(IntEnum):
    """BL_SLOTS record flags."""

    ACTIVE = 0x01  # the slot the board boots (app primary) or the model the app runs
    SIGNED = 0x02


#: BL_SLOTS record: id u8, kind u8, state u8, flags u8, base u32, capacity u32, size u32, seq u32,
#: received u32 (session's confirmed offset), sha256[32].
SLOT_RECORD = struct.Struct("<BBBBIIIII32s")


@dataclass(frozen=True)
class FlashLayout:
    """Where the bootloader and the slots live on one board's flash."""

    board: str
    flash_base: int
    flash_size: int
    sector: int
    bootloader_size: int
    slots: tuple[tuple[SlotRole, SlotKind, int, int], ...]  # role, kind, offset from flash_base, size
    boot_req_addr: int  # RAM word that survives a reset: BOOT_REQ_MAGIC keeps the bootloader in charge

    def slot_base(self, role: SlotRole) -> int:
        return self.flash_base + self.slots[role][2]

    def slot_size(self, role: SlotRole) -> int:
        return self.slots[role][3]

    @property
    def app_entry(self) -> int:
        """Address the application is linked for: the primary slot, after its header."""
        return self.slot_base(SlotRole.APP_PRIMARY) + HEADER_SIZE


_MIB = 1 << 20
#: qemu-virt-rv32: pflash_cfi01, 32 MiB, 256 KiB erase blocks, 4-byte bank width.
QEMU_VIRT = FlashLayout(
    board="qemu-virt-rv32",
    flash_base=0x20000000,
    flash_size=32 * _MIB,
    sector=256 << 10,
    bootloader_size=256 << 10,
    slots=(
        (SlotRole.APP_PRIMARY, SlotKind.APP, 0x00040000, 2 * _MIB),
        (SlotRole.APP_STAGING, SlotKind.APP, 0x00240000, 2 * _MIB),
        (SlotRole.MODEL_A, SlotKind.MODEL, 0x00440000, 4 * _MIB),
        (SlotRole.MODEL_B, SlotKind.MODEL, 0x00840000, 4 * _MIB),
    ),
    boot_req_addr=0x83FEFFF0,  # just below the CiM mailbox window; no image links there
)
LAYOUTS = {QEMU_VIRT.board: QEMU_VIRT}


def layout_for(board: str) -> FlashLayout:
    from cimconv.errors import UserError

    if board not in LAYOUTS:
        raise UserError(f"board {board} has no bootloader flash layout yet (known: {', '.join(LAYOUTS)}); "
                        "flash it with the vendor tool, see docs/bootloader.md")
    return LAYOUTS[board]


def header_path() -> Path:
    from cimsdk import project_root

    return project_root() / "firmware" / "bootloader" / "cim_bl_layout.h"


def render() -> str:
    """The C header; deterministic so a test can compare it with the committed one."""
    g = globals()
    lines = [
        "/* GENERATED by `python -m cimsdk.flash.layout` from sdk/flash/layout.py. Do not edit.",
        " * Spec: docs/bootloader.md */",
        "#ifndef CIM_BL_LAYOUT_H",
        "#define CIM_BL_LAYOUT_H",
        "",
    ]
    for name in ("SLOT_MAGIC", "COMMIT_MAGIC", "DONE_MAGIC", "BOOT_REQ_MAGIC"):
        lines.append(f"#define CIM_BL_{name} 0x{g[name]:08X}u")
    for name in ("SLOT_LAYOUT_VERSION", "HEADER_SIZE", "FIXED_SIZE", "SIG_SIZE", "HDR_MAGIC", "HDR_VERSION",
                 "HDR_KIND", "HDR_FLAGS", "HDR_SIZE", "HDR_SEQ", "HDR_SHA256", "HDR_SIG", "HDR_CRC",
                 "HDR_COMMIT", "HDR_DONE", "HDR_INVALID"):
        lines.append(f"#define CIM_BL_{name} {g[name]}u")
    prefix = ", ".join(f"0x{b:02X}" for b in SIG_PREFIX)
    lines.append(f"#define CIM_BL_SIG_PREFIX {{{prefix}}}")
    lines.append(f"#define CIM_BL_SIG_PREFIX_LEN {len(SIG_PREFIX)}u")
    lines.append(f"#define CIM_BL_SLOT_RECORD_SIZE {SLOT_RECORD.size}u")
    for enum, prefix_ in ((SlotKind, "CIM_BL_KIND_"), (HeaderFlag, "CIM_BL_HFLAG_"), (SlotRole, "CIM_BL_SLOT_"),
                          (SlotState, "CIM_BL_STATE_"), (SlotFlag, "CIM_BL_SFLAG_")):
        lines += ["", f"/* {enum.__name__}: {(enum.__doc__ or '').strip()} */"]
        lines += [f"#define {prefix_}{m.name} {m.value}u" for m in enum]
    lines.append(f"#define CIM_BL_SLOT_COUNT {len(SlotRole)}u")
    for lay in LAYOUTS.values():
        define = "BOARD_" + lay.board.upper().replace("-", "_")
        lines += ["", f"#if defined({define}) || defined(CIM_BL_HOST)", f"/* {lay.board} */",
                  f"#define CIM_BL_FLASH_BASE 0x{lay.flash_base:08X}u",
                  f"#define CIM_BL_FLASH_SIZE 0x{lay.flash_size:08X}u",
                  f"#define CIM_BL_SECTOR 0x{lay.sector:08X}u",
                  f"#define CIM_BL_BOOTLOADER_SIZE 0x{lay.bootloader_size:08X}u"]
        for role, kind, off, size in lay.slots:
            lines.append(f"#define CIM_BL_{role.name}_OFFSET 0x{off:08X}u /* kind {kind.name} */")
            lines.append(f"#define CIM_BL_{role.name}_SIZE 0x{size:08X}u")
        lines.append(f"#define CIM_BL_APP_ENTRY 0x{lay.app_entry:08X}u")
        lines.append(f"#define CIM_BL_BOOT_REQ_ADDR 0x{lay.boot_req_addr:08X}u")
        lines.append("#endif")
    lines += ["", "#endif /* CIM_BL_LAYOUT_H */", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from cimconv.gen_headers import header_main

    return header_main(header_path(), render(), "python -m cimsdk.flash.layout", argv)

if __name__ == "__main__":
    sys.exit(main())
