"""Frames on the serial link: SLIP-delimited, CRC-32-checked, with sequence numbers.

The same state machine is implemented in C (`firmware/protocol/cim_frame.c`); the tests
feed both the same (also mutated) byte streams and compare what they decode.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from cimsdk.protocol.constants import (
    CRC_SIZE,
    FLAG_RESPONSE,
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    MIN_FRAME,
    SLIP_END,
    SLIP_ESC,
    SLIP_ESC_END,
    SLIP_ESC_ESC,
    Status,
)

_HEADER = struct.Struct("<BBHHBB")


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32/ISO-HDLC (the zlib/Ethernet CRC); pass a previous result to continue it."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def slip_escape(data: bytes) -> bytes:
    """Escape END and ESC (RFC 1055) so END only ever appears as a delimiter."""
    return data.replace(bytes([SLIP_ESC]), bytes([SLIP_ESC, SLIP_ESC_ESC])).replace(
        bytes([SLIP_END]), bytes([SLIP_ESC, SLIP_ESC_END])
    )


@dataclass(frozen=True)
class Frame:
    """One decoded frame; `status` is 0 in requests."""

    opcode: int
    seq: int
    payload: bytes = b""
    flags: int = 0
    status: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_RESPONSE)

    def body(self) -> bytes:
        """Header + payload + CRC: what SLIP wraps."""
        if len(self.payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(self.payload)} bytes exceeds MAX_PAYLOAD {MAX_PAYLOAD}")
        head = _HEADER.pack(self.opcode, self.flags, self.seq & 0xFFFF, len(self.payload), self.status, 0)
        raw = head + self.payload
        return raw + struct.pack("<I", crc32(raw))

    def encode(self) -> bytes:
        """The bytes on the wire: END, escaped body, END (the leading END flushes line noise)."""
        return bytes([SLIP_END]) + slip_escape(self.body()) + bytes([SLIP_END])


def encode_frame(
    opcode: int, seq: int, payload: bytes = b"", *, response: bool = False, status: int = 0
) -> bytes:
    """Shorthand for `Frame(...).encode()`."""
    return Frame(opcode, seq, bytes(payload), FLAG_RESPONSE if response else 0, status).encode()


@dataclass(frozen=True)
class FrameError:
    """A delimited frame that could not be accepted; `opcode`/`seq` are from its (unchecked) header."""

    status: Status
    opcode: int | None = None
    seq: int | None = None


def parse_body(body: bytes) -> Frame | FrameError | None:
    """Check one unescaped frame body; None for runts (noise, empty frames between two ENDs)."""
    if len(body) < MIN_FRAME:
        return None
    opcode, flags, seq, length, status, _reserved = _HEADER.unpack_from(body)
    (crc,) = struct.unpack_from("<I", body, len(body) - CRC_SIZE)
    if crc32(body[:-CRC_SIZE]) != crc:
        return FrameError(Status.ERR_CRC, opcode, seq)
    if length != len(body) - MIN_FRAME:
        return FrameError(Status.ERR_FRAME, opcode, seq)
    return Frame(opcode, seq, bytes(body[HEADER_SIZE:-CRC_SIZE]), flags, status)


@dataclass
class FrameDecoder:
    """Byte-stream to frames; the same states as the C parser (hunt-free: END delimits)."""

    capacity: int = MAX_FRAME
    _buf: bytearray = field(default_factory=bytearray)
    _escape: bool = False
    _bad_escape: bool = False
    _overflow: bool = False

    def reset(self) -> None:
        self._buf.clear()
        self._escape = self._bad_escape = self._overflow = False

    def _header_fields(self) -> tuple[int | None, int | None]:
        if len(self._buf) >= 4:
            return self._buf[0], self._buf[2] | (self._buf[3] << 8)
        return None, None

    def _end(self) -> Frame | FrameError | None:
        if self._overflow:
            opcode, seq = self._header_fields()
            result: Frame | FrameError | None = FrameError(Status.ERR_TOO_LONG, opcode, seq)
        elif self._bad_escape or self._escape:
            opcode, seq = self._header_fields()
            result = FrameError(Status.ERR_FRAME, opcode, seq) if len(self._buf) >= 4 else None
        else:
            result = parse_body(bytes(self._buf))
        self.reset()
        return result

    def feed(self, data: Iterable[int]) -> Iterator[Frame | FrameError]:
        """Consume bytes; yield every frame (or frame error) they complete."""
        for b in data:
            if b == SLIP_END:
                result = self._end()
                if result is not None:
                    yield result
                continue
            if self._escape:
                self._escape = False
                if b == SLIP_ESC_END:
                    b = SLIP_END
                elif b == SLIP_ESC_ESC:
                    b = SLIP_ESC
                else:
                    self._bad_escape = True
            elif b == SLIP_ESC:
                self._escape = True
                continue
            if len(self._buf) < self.capacity:
                self._buf.append(b)
            else:
                self._overflow = True


def decode_all(data: bytes, capacity: int = MAX_FRAME) -> list[Frame | FrameError]:
    """Decode a complete byte stream (tests, captures)."""
    return list(FrameDecoder(capacity).feed(data))


# --- TLV lists (INFO, GET_COUNTERS, COMMIT replies) ---------------------------------------


def tlv_encode(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Encode (tag, value) pairs; values are at most 255 bytes."""
    out = bytearray()
    for tag, value in items:
        if len(value) > 255:
            raise ValueError(f"TLV value for tag {tag} is {len(value)} bytes (max 255)")
        out += bytes([tag, len(value)]) + value
    return bytes(out)


def tlv_decode(data: bytes) -> dict[int, bytes]:
    """Decode a TLV list; a truncated last item is an error (the frame CRC passed, so it is a bug)."""
    items: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            raise ValueError(f"truncated TLV item at byte {i} of {len(data)}")
        tag, n = data[i], data[i + 1]
        items[tag] = bytes(data[i + 2 : i + 2 + n])
        i += 2 + n
    return items


def tlv_int(value: bytes) -> int:
    """Little-endian unsigned integer of any width (u8/u16/u32/u64 TLV values)."""
    return int.from_bytes(value, "little")
