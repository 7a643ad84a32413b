"""The CiM mailbox register map: the one definition shared by the firmware and the coprocessor.

The mailbox is a fixed window of guest RAM (docs/mailbox.md). The C header
`firmware/hal/cim_mailbox.h` and the register tables of docs/mailbox.md are generated from this module
by `python -m cimcontracts.gen`. Where the window sits is board data (`[cim] mailbox_base` in
boards/<name>/board.toml); the linker scripts' MAILBOX region is generated from it.
"""

from __future__ import annotations

from cimcontracts.boards import board_data

MAGIC = 0x424D4943  # "CIMB" read as a little-endian word; written by the coprocessor when attached
VERSION = 1

# Where the window sits on the emulated board: its board.toml (the last 64 KiB of its 64 MiB RAM).
_QEMU = board_data("qemu-virt-rv32")
QEMU_RAM_BASE: int = _QEMU["memory"]["ram"]["origin"]
QEMU_RAM_SIZE: int = _QEMU["memory"]["ram"]["length"]
WINDOW_SIZE: int = _QEMU["cim"]["mailbox_size"]
QEMU_WINDOW_BASE: int = _QEMU["cim"]["mailbox_base"]

# Registers: (name, byte offset, who writes it, meaning). All little-endian 32-bit words.
REGISTERS: list[tuple[str, int, str, str]] = [
    ("MAGIC", 0x000, "coprocessor", "CIM_MB_MAGIC once the coprocessor is attached and serving"),
    ("VERSION", 0x004, "coprocessor", "mailbox layout version (CIM_MB_VERSION)"),
    ("DOORBELL", 0x008, "firmware", "sequence number of the posted command; writing it rings the bell"),
    ("ACCEPTED", 0x00C, "coprocessor", "sequence number of the command the coprocessor has started"),
    ("DONE", 0x010, "coprocessor", "sequence number of the last finished command; STATUS/RESULT* valid"),
    ("STATUS", 0x014, "coprocessor", "CIM_MB_OK or a CIM_MB_ERR_* code for command DONE"),
    ("COMMAND", 0x018, "firmware", "CIM_MB_CMD_* of the posted command"),
    ("ERROR_DETAIL", 0x01C, "coprocessor", "command-specific detail for a failed command (e.g. bad address)"),
    ("ARG0", 0x020, "firmware", "command argument 0"),
    ("ARG1", 0x024, "firmware", "command argument 1"),
    ("ARG2", 0x028, "firmware", "command argument 2"),
    ("ARG3", 0x02C, "firmware", "command argument 3"),
    ("ARG4", 0x030, "firmware", "command argument 4"),
    ("ARG5", 0x034, "firmware", "command argument 5"),
    ("ARG6", 0x038, "firmware", "command argument 6"),
    ("ARG7", 0x03C, "firmware", "command argument 7"),
    ("RESULT0", 0x040, "coprocessor", "command result 0"),
    ("RESULT1", 0x044, "coprocessor", "command result 1"),
    ("RESULT2", 0x048, "coprocessor", "command result 2"),
    ("RESULT3", 0x04C, "coprocessor", "command result 3"),
    ("MARKER", 0x050, "firmware", "inference marker: 1 inside an inference, 0 outside (board_marker)"),
    ("MARKER_SEQ", 0x054, "firmware", "incremented on every marker write, after MARKER"),
    ("MARKER_INSTRET_LO", 0x058, "firmware", "minstret at the last marker write, low word"),
    ("MARKER_INSTRET_HI", 0x05C, "firmware", "minstret at the last marker write, high word"),
    ("HEARTBEAT", 0x060, "coprocessor", "incremented while the coprocessor polls (liveness, diagnostics)"),
    ("COUNTERS", 0x080, "coprocessor", "COUNTER_COUNT 64-bit counters (lo word first), see CIM_MB_CNT_*"),
    ("SCRATCH", 0x100, "either", "scratch area to the end of the window (diagnostics, small buffers)"),
]
REG = {name: off for name, off, _, _ in REGISTERS}

# Commands: (name, code, arguments, results, meaning).
COMMANDS: list[tuple[str, int, str, str, str]] = [
    ("NOP", 0, "-", "-", "does nothing; round-trip latency probe"),
    ("MEMCPY", 1, "ARG0 src, ARG1 dst, ARG2 length", "RESULT0 CRC-32 of the bytes copied",
     "diagnostic: the coprocessor copies guest memory and checksums it (tests the data path, not inference)"),
    ("LOAD_IMAGE", 2, "ARG0 image address, ARG1 image size", "RESULT0 number of ops, RESULT1 number of CiM ops",
     "the coprocessor reads the weight image from guest memory and keeps its weights resident"),
    ("RUN_OP", 3, "ARG0 op index, ARG1 input address, ARG2 output address",
     "RESULT0 output bytes written",
     "runs one CiM op of the image's layer program: gather, all tiles, bias, requantization; reads and writes the "
     "dtypes of the op's tensors in the image: int8, or int16 in and out (16x8 mode), or int8 in and int16 out (a "
     "FULLY_CONNECTED writing an LSTM's gate pre-activations)"),
    ("RESET_COUNTERS", 4, "-", "-", "zeroes COUNTERS"),
]
CMD = {name: code for name, code, _, _, _ in COMMANDS}

# Status codes (STATUS); the HAL returns them negated.
ERRORS: list[tuple[str, int, str]] = [
    ("OK", 0, "success"),
    ("ERR_UNKNOWN_COMMAND", 1, "COMMAND is not a CIM_MB_CMD_*"),
    ("ERR_BAD_ADDRESS", 2, "an address/length falls outside guest RAM (ERROR_DETAIL = the address)"),
    ("ERR_NO_IMAGE", 3, "RUN_OP before a successful LOAD_IMAGE"),
    ("ERR_BAD_IMAGE", 4, "the image failed to parse"),
    ("ERR_BAD_OP", 5, "op index out of range or not a CiM op (ERROR_DETAIL = the index)"),
    ("ERR_INTERNAL", 6, "the coprocessor failed while executing (see its log)"),
]
ERR = {name: code for name, code, _ in ERRORS}

# Counter slots (64-bit each at COUNTERS + 8*i). Keys of the golden model's op_counters() map to
# slots by name; keys without a slot add to "other".
COUNTER_NAMES: list[str] = [
    "commands",  # commands executed (any kind)
    "ops",  # RUN_OP commands executed
    # the macro operations of cimconv.energy.COUNT_KEYS, one slot each:
    "macs",  # multiply-accumulates done in the arrays
    "adc_conversions",
    "input_bit_pulses",  # word-line pulses (DAC / bit-serial inputs)
    "tile_ops",  # matrix-vector products of one tile
    "digital_ops",  # shift-adds and requantizations in the digital periphery
    "weight_bytes",  # weight bytes held resident after LOAD_IMAGE
    "input_bytes",  # activation bytes read from guest RAM
    "output_bytes",  # activation bytes written to guest RAM
    "other",
]
COUNTER_COUNT = 16
assert len(COUNTER_NAMES) <= COUNTER_COUNT
assert REG["COUNTERS"] + 8 * COUNTER_COUNT <= REG["SCRATCH"]
SCRATCH_SIZE = WINDOW_SIZE - REG["SCRATCH"]
