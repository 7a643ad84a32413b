"""Flash layout, slot header format and slot states: the one definition (docs/bootloader.md).

Each board's layout is board data (`[flash_layout]` in boards/<name>/board.toml). The C header
`firmware/bootloader/cim_bl_layout.h` and the bootloader's linker scripts are generated from this module
by `python -m cimcontracts.gen`; `--check` exits 1 when a committed copy is stale.
Slots are whole erase sectors so erasing one never touches another.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from cimcontracts.boards import board_data, board_names
from cimcontracts.fields import Field, record

#: Slot header: the first 256 bytes of every slot; the image follows it. Fixed fields (up to `crc`) are
#: programmed once at BEGIN; each state word is programmed once later (NOR flash only clears bits), so
#: no header ever needs a rewrite.
SLOT_MAGIC = 0x544C5343  # "CSLT"
SLOT_LAYOUT_VERSION = 1
SLOT_HEADER = record(
    "slot header", "CIM_BL_SLOTHDR",
    Field("magic", "u32", "SLOT_MAGIC"),
    Field("version", "u8", "SLOT_LAYOUT_VERSION"),
    Field("kind", "u8", "SlotKind"),
    Field("flags", "u16", "HeaderFlag"),
    Field("size", "u32", "image bytes"),
    Field("seq", "u32", "generation: the highest committed one of a kind wins"),
    Field("sha256", "char", "of the image", 32),
    Field("sig", "char", "ed25519 signature (0xFF when unsigned)", 64),
    Field("crc", "u32", "CRC-32 over the fixed fields before it"),
    Field("pad0", "char", "erased", 12),
    Field("commit", "u32", "COMMIT_MAGIC once hash (and signature) verified"),
    Field("done", "u32", "DONE_MAGIC: staging slot copied into the primary slot"),
    Field("invalid", "u32", "0 = slot killed (failed a boot check or erased by command)"),
    Field("pad1", "char", "erased", 116),
)
HEADER_SIZE = SLOT_HEADER.size
HDR_MAGIC = SLOT_HEADER.offset("magic")
HDR_VERSION = SLOT_HEADER.offset("version")
HDR_KIND = SLOT_HEADER.offset("kind")
HDR_FLAGS = SLOT_HEADER.offset("flags")
HDR_SIZE = SLOT_HEADER.offset("size")
HDR_SEQ = SLOT_HEADER.offset("seq")
HDR_SHA256 = SLOT_HEADER.offset("sha256")
HDR_SIG = SLOT_HEADER.offset("sig")
HDR_CRC = SLOT_HEADER.offset("crc")
HDR_COMMIT = SLOT_HEADER.offset("commit")
HDR_DONE = SLOT_HEADER.offset("done")
HDR_INVALID = SLOT_HEADER.offset("invalid")
FIXED_SIZE = HDR_CRC
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
    driver: str = "cfi"  # the bootloader's flash driver: cfi (QEMU pflash), gd32_fmc, fe310_spi
    bootloader_stack: int = 0x4000  # the bootloader's stack (small-RAM boards set less)

    def slot_base(self, role: SlotRole) -> int:
        return self.flash_base + self.slots[role][2]

    def slot_size(self, role: SlotRole) -> int:
        return self.slots[role][3]

    @property
    def app_entry(self) -> int:
        """Address the application is linked for: the primary slot, after its header."""
        return self.slot_base(SlotRole.APP_PRIMARY) + HEADER_SIZE


def _from_board(name: str) -> FlashLayout:
    data = board_data(name)
    fl = data["flash_layout"]
    flash = data["memory"]["flash"]
    slots = tuple((SlotRole[s["role"]], SlotKind[s["kind"]], s["offset"], s["size"]) for s in fl["slots"])
    if [r for r, *_ in slots] != list(SlotRole):
        raise ValueError(f"boards/{name}/board.toml: [flash_layout] slots must list {[r.name for r in SlotRole]}")
    # The boot-request word: an absolute RAM address, or (boards whose mailbox window is in RAM) so many
    # bytes below the window.
    boot_req = fl["boot_req_addr"] if "boot_req_addr" in fl else data["cim"]["mailbox_base"] - fl["boot_req_below_mailbox"]
    lay = FlashLayout(board=name, flash_base=flash["origin"], flash_size=flash["length"], sector=fl["sector"],
                      bootloader_size=fl["bootloader_size"], slots=slots, boot_req_addr=boot_req,
                      driver=fl.get("driver", "cfi"), bootloader_stack=fl.get("bootloader_stack", 0x4000))
    _check(lay)
    return lay


def _check(lay: FlashLayout) -> None:
    """Slots are whole sectors, in order after the bootloader, inside the flash; the boot word in RAM."""
    where = f"boards/{lay.board}/board.toml [flash_layout]"
    end = lay.bootloader_size
    if lay.bootloader_size % lay.sector:
        raise ValueError(f"{where}: bootloader_size is not a whole number of {lay.sector:#x}-byte sectors")
    for role, _kind, off, size in lay.slots:
        if off % lay.sector or size % lay.sector:
            raise ValueError(f"{where}: slot {role.name} is not whole sectors")
        if off < end:
            raise ValueError(f"{where}: slot {role.name} at {off:#x} overlaps what comes before it (ends {end:#x})")
        end = off + size
    if end > lay.flash_size:
        raise ValueError(f"{where}: the slots end at {end:#x}, past the flash ({lay.flash_size:#x})")
    ram = board_data(lay.board)["memory"]["ram"]
    if not ram["origin"] <= lay.boot_req_addr <= ram["origin"] + ram["length"] - 4:
        raise ValueError(f"{where}: the boot-request word {lay.boot_req_addr:#x} is not in RAM")


#: Boards whose board.toml has a [flash_layout] table (the bootloader runs there).
LAYOUTS = {name: _from_board(name) for name in board_names() if "flash_layout" in board_data(name)}
QEMU_VIRT = LAYOUTS["qemu-virt-rv32"]


def linker_scripts(board: str) -> tuple[str, str]:
    """The bootloader's and the slot application's linker scripts for `board`, relative to the checkout
    (the emulated board's keep their first names)."""
    bl = "firmware/bootloader"
    if board == "qemu-virt-rv32":
        return f"{bl}/bootloader.ld", f"{bl}/slot-app.ld"
    return f"{bl}/bootloader-{board}.ld", f"{bl}/slot-app-{board}.ld"


def layout_for(board: str) -> FlashLayout:
    from cimcontracts.errors import UserError

    if board not in LAYOUTS:
        raise UserError(f"board {board} has no bootloader flash layout yet (known: {', '.join(LAYOUTS)}); "
                        "flash it with the vendor tool, see docs/bootloader.md")
    return LAYOUTS[board]
