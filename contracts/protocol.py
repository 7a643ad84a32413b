"""The one definition of the serial link's numbers (the third contract).

The C header `firmware/include/cim_protocol.h` is generated from this module by
`python -m cimcontracts.gen`; `--check` (in the default test run) fails when it is stale.
The spec page is `docs/serial-protocol.md`.
"""

from __future__ import annotations

from enum import IntEnum

from cimcontracts.fields import Field, record

#: Bumped when a frame layout or a command's payload changes incompatibly.
PROTOCOL_VERSION = 1

# SLIP (RFC 1055) special bytes: every frame starts and ends with END.
SLIP_END = 0xC0
SLIP_ESC = 0xDB
SLIP_ESC_END = 0xDC
SLIP_ESC_ESC = 0xDD

#: Header: opcode u8, flags u8, seq u16, length u16, status u8, reserved u8 (little-endian).
FRAME_HEADER = record(
    "frame header", "CIM_FRAME_HDR",
    Field("opcode", "u8", "command; a response repeats the request's opcode"),
    Field("flags", "u8", "bit 0 `FLAG_RESPONSE`; other bits 0"),
    Field("seq", "u16", "chosen by the host, echoed in the response; a resend keeps it"),
    Field("length", "u16", "payload bytes (at most `MAX_PAYLOAD`)"),
    Field("status", "u8", "0 in requests; in responses 0 = ACK, else a NAK code"),
    Field("reserved", "u8", "0"),
)
HEADER_SIZE = FRAME_HEADER.size
#: CRC-32 (IEEE 802.3 / zlib: reflected poly 0xEDB88320, init and xorout 0xFFFFFFFF), little-endian.
CRC_SIZE = 4
#: Largest data chunk in one LOAD_IMAGE / SET_INPUT / GET_OUTPUT frame (a flash sector).
MAX_DATA = 4096
#: Largest payload: a data chunk plus up to 16 bytes of arguments (offsets, sizes).
MAX_PAYLOAD = MAX_DATA + 16
#: Largest decoded frame (header + payload + CRC): the receive buffer a device needs.
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
#: Frames shorter than this are line noise and are dropped without a reply.
MIN_FRAME = HEADER_SIZE + CRC_SIZE

# Header flag bits.
FLAG_RESPONSE = 0x01

#: Who answers: the application console or the bootloader (PING / INFO report it).
ROLE_APP = 0
ROLE_BOOTLOADER = 1

#: SHA-256 digest size (image identity in COMMIT and INFO).
SHA256_SIZE = 32

#: Largest RUN_MARKED count; a larger one is refused with ERR_BAD_ARG (payload: this maximum, u32).
#: The host can stop a run early at any time by sending a byte (docs/serial-protocol.md, "Aborting a run").
RUN_MARKED_MAX = 100_000


class Opcode(IntEnum):
    """Commands. 0x01-0x3F console; 0x40-0x5F reserved for the bootloader (flasher, issue 4)."""

    PING = 0x01  # payload echoed; reply: version u16, role u8, reserved u8, max_payload u32, echo
    INFO = 0x02  # reply: TLV list (InfoTag)
    RESET = 0x03  # reply OK, then the device forgets image/input state (or reboots)
    LOAD_IMAGE = 0x10  # offset u32, data; invalidates the loaded image until COMMIT
    COMMIT_IMAGE = 0x11  # size u32, sha256[32]; device checks hash, runtime parses; reply: TLV
    SET_INPUT = 0x20  # offset u32, data
    INVOKE = 0x21  # one inference with the marker on around it; reply: cycles u64, instret u64
    GET_OUTPUT = 0x22  # offset u32, length u32 (0 = as much as fits); reply: data
    RUN_MARKED = 0x23  # count u32 (<= RUN_MARKED_MAX); n inferences, marker on/off around each; any byte from the
    #                    host stops it early (ERR_ABORTED); reply: count u32, cycles u64, instret u64
    RESET_STATE = 0x24  # no payload: the image's state tensors back to their values at load, so the next INVOKE
    #                     is a stream's first frame (stateful models, e.g. SVDF); reply: state bytes u32
    GET_COUNTERS = 0x30  # reply: TLV list (CounterTag)
    SET_MARKER = 0x31  # on u8: drives the power-profiling marker by hand


class BootOpcode(IntEnum):
    """Bootloader commands (0x40-0x5F, docs/bootloader.md); PING, INFO and RESET are shared with the console."""

    BL_SLOTS = 0x40  # reply: one 56-byte slot record per slot (docs/bootloader.md)
    BL_BEGIN = 0x41  # kind u8, flags u8, 0 u16, size u32, sha256[32], [ed25519 sig 64]; reply: slot u8, 0[3], next u32, chunk u32
    BL_WRITE = 0x42  # offset u32, data; sequential, erase as you go; reply: next u32
    # 0x43 is free: compressed chunks (BL_WRITE_Z) were reserved but no bootloader inflates, so it was removed
    BL_FINISH = 0x44  # - ; hash (+ signature) check, commit, install; reply: slot u8, state u8
    BL_HASH = 0x45  # slot u8, 0[3], offset u32, length u32; reply: sha256 of that slot range
    BL_BAUD = 0x46  # baud u32; ACK at the old rate, then both sides switch
    BL_BOOT = 0x47  # - ; ACK, then boot the installed application
    BL_ERASE = 0x48  # slot u8; invalidate (erase) a slot that is not the booting one


class Status(IntEnum):
    """Status byte of a response: 0 is ACK, anything else is a NAK saying why."""

    OK = 0
    ERR_CRC = 1  # frame CRC mismatch: resend
    ERR_FRAME = 2  # bad SLIP escape or length field disagrees with the frame: resend
    ERR_TOO_LONG = 3  # frame exceeds the receive buffer (see PING max_payload)
    ERR_UNKNOWN_OPCODE = 4
    ERR_BAD_ARG = 5  # payload too short/long or a field out of its domain
    ERR_RANGE = 6  # offset/size outside the target buffer
    ERR_STATE = 7  # command not valid now (no image loaded, ...)
    ERR_HASH = 8  # SHA-256 of the received image differs from COMMIT's
    ERR_IMAGE = 9  # runtime rejected the image; payload: runtime code i32
    ERR_RUNTIME = 10  # inference failed; payload: runtime code i32
    ERR_UNSUPPORTED = 11  # command known but not built into this firmware
    ERR_SIGNATURE = 12  # bootloader: image unsigned or its ed25519 signature does not verify
    ERR_FLASH = 13  # bootloader: flash erase/program failed (status register error or read-back mismatch)
    ERR_ABORTED = 14  # RUN_MARKED stopped early: a byte from the host arrived; payload: done u32, cycles u64, instret u64
    ERR_BOOTING = 15  # bootloader in its boot window got a console command: it starts the application now; resend


class InfoTag(IntEnum):
    """INFO reply: a list of (tag u8, length u8, value). Unknown tags are skipped by readers."""

    PROTO_VERSION = 0x01  # u16
    ROLE = 0x02  # u8
    MAX_PAYLOAD = 0x03  # u32
    BOARD = 0x04  # str
    FW_VERSION = 0x05  # str
    BACKEND = 0x06  # str (mailbox, soft)
    IMAGE_CAPACITY = 0x07  # u32: bytes of the image RAM buffer
    ARENA_SIZE = 0x08  # u32: activation arena the firmware reserves
    IMAGE_LOADED = 0x09  # u8: 1 once a COMMIT succeeded
    IMAGE_SIZE = 0x0A  # u32
    IMAGE_SHA256 = 0x0B  # 32 bytes
    INPUT_SIZE = 0x0C  # u32
    OUTPUT_SIZE = 0x0D  # u32
    ARENA_USED = 0x0E  # u32
    IMAGE_TARGET = 0x0F  # str: target named in the image header (when the image carries one)
    STATE_BYTES = 0x15  # u32: arena bytes of state kept between invocations (part of ARENA_USED; 0 stateless)
    # Bootloader only.
    SIGNED_ONLY = 0x10  # u8: 1 when the bootloader refuses unsigned images
    FLASH_SECTOR = 0x11  # u32: erase granularity
    TARGETS = 0x12  # str: comma-separated CiM targets the application accepts ("" = any)
    APP_ENTRY = 0x13  # u32: address an application must be linked for (primary slot, after its header)
    SLOT_COUNT = 0x14  # u8


class CounterTag(IntEnum):
    """GET_COUNTERS / COMMIT reply: TLV list like INFO."""

    CYCLES = 0x01  # u64: mcycle delta of the last INVOKE
    INSTRET = 0x02  # u64: minstret delta of the last INVOKE
    CIM_OPS = 0x03  # u64: macro operations issued by the HAL (total since reset)
    WAIT_INSNS = 0x04  # u64: instructions spent waiting on the coprocessor (total)
    ARENA_USED = 0x05  # u32
    INFERENCES = 0x06  # u32: inferences run since reset
    INPUT_SIZE = 0x07  # u32
    OUTPUT_SIZE = 0x08  # u32


#: Hints printed with a NAK so a user knows what to do.
STATUS_HINTS: dict[Status, str] = {
    Status.ERR_CRC: "frames are being corrupted on the link; check baud rate and cabling",
    Status.ERR_FRAME: "frames are being corrupted on the link; check baud rate and cabling",
    Status.ERR_TOO_LONG: "the device has a smaller receive buffer; use the max_payload PING reports",
    Status.ERR_UNKNOWN_OPCODE: "the firmware does not know this command; update the firmware",
    Status.ERR_BAD_ARG: "host and firmware disagree on the protocol; update both",
    Status.ERR_RANGE: "the data does not fit the device buffer; is the image/input for this model and board?",
    Status.ERR_STATE: "load an image first (cimsdk validate --port PORT IMAGE)",
    Status.ERR_HASH: "the image arrived corrupted; retry the upload",
    Status.ERR_IMAGE: "the firmware runtime rejected the image; was it converted for this target and board?",
    Status.ERR_RUNTIME: "the inference failed on the device",
    Status.ERR_UNSUPPORTED: "this firmware was built without that feature",
    Status.ERR_SIGNATURE: "the board only boots signed images; sign it with `cimsdk sign --key KEY.pem FILE`",
    Status.ERR_FLASH: "flash erase/program failed on the device; retry, then check the flash part",
    Status.ERR_ABORTED: "the run was stopped early by the host",
    Status.ERR_BOOTING: "the board was still in its bootloader, starting the application; ask again",
}


def opcode_name(opcode: int) -> str:
    """PING, BL_WRITE, ... for any console or bootloader opcode; hex for unknown ones."""
    for enum in (Opcode, BootOpcode):
        if opcode in enum._value2member_map_:
            return enum(opcode).name
    return f"opcode 0x{opcode:02x}"


def status_name(status: int) -> str:
    """OK, ERR_CRC, ... ; `status N` for a number this host does not know."""
    return Status(status).name if status in Status._value2member_map_ else f"status {status}"
