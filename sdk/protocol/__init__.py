"""The serial link shared by the console and the bootloader: constants and framing (docs/serial-protocol.md)."""

from cimsdk.protocol.constants import (
    MAX_DATA,
    MAX_FRAME,
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    CounterTag,
    InfoTag,
    Opcode,
    Status,
)
from cimsdk.protocol.framing import (
    Frame,
    FrameDecoder,
    FrameError,
    crc32,
    decode_all,
    encode_frame,
    tlv_decode,
    tlv_encode,
    tlv_int,
)

__all__ = [
    "MAX_DATA",
    "MAX_FRAME",
    "MAX_PAYLOAD",
    "PROTOCOL_VERSION",
    "CounterTag",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "InfoTag",
    "Opcode",
    "Status",
    "crc32",
    "decode_all",
    "encode_frame",
    "tlv_decode",
    "tlv_encode",
    "tlv_int",
]
