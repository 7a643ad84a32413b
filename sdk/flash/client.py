"""Host side of the bootloader protocol (docs/bootloader.md): a `Device` that speaks the
bootloader commands, takes a running application over, and uploads with resume."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from cimconv.errors import UserError
from cimsdk.device import Device, DeviceError
from cimsdk.flash.layout import SLOT_RECORD, SlotFlag, SlotKind, SlotRole, SlotState
from cimsdk.protocol import InfoTag, Status, tlv_decode, tlv_int
from cimsdk.protocol.constants import ROLE_BOOTLOADER, BootOpcode
from cimsdk.transport import DeviceNotAnswering


@dataclass
class SlotInfo:
    """One BL_SLOTS record."""

    index: int
    kind: int
    state: SlotState
    flags: int
    base: int
    capacity: int
    size: int
    seq: int
    received: int
    sha256: bytes

    @property
    def active(self) -> bool:
        return bool(self.flags & SlotFlag.ACTIVE)

    @property
    def name(self) -> str:
        return SlotRole(self.index).name.lower()


@dataclass
class LoaderInfo:
    board: str
    version: str
    max_payload: int
    signed_only: bool
    sector: int
    targets: list[str]
    app_entry: int


class Bootloader(Device):
    """The board's bootloader. `enter()` reboots a running cimsdk application into it."""

    def enter(self, timeout: float = 15.0) -> dict:
        """PING until the bootloader answers; an application answering is asked to reboot into it."""
        deadline = time.monotonic() + timeout
        kicked = False
        last: Exception | None = None
        while time.monotonic() < deadline:
            retries, self.retries = self.retries, 0  # one try per PING: the deadline bounds the wait
            try:
                info = self.ping()
            except DeviceNotAnswering as exc:
                last = exc
                continue
            finally:
                self.retries = retries
            if info["role"] == ROLE_BOOTLOADER:
                return info
            if not kicked:
                # A bootloader opcode makes a cimsdk slot application reboot into the bootloader.
                try:
                    self.request(BootOpcode.BL_SLOTS, check=False, timeout=0.5)
                except DeviceNotAnswering:
                    pass
                kicked = True
            time.sleep(0.2)
        if kicked:
            raise UserError(f"the application at {self.url} did not reboot into the bootloader; reset the board "
                            "by hand while `cimsdk flash` waits, or flash it with the vendor tool once")
        raise DeviceNotAnswering(f"device at {self.url} is not answering ({last}); check that the board runs the "
                                 "cimsdk bootloader, the port and the baud rate")

    def loader_info(self) -> LoaderInfo:
        items = tlv_decode(self.request(0x02).payload)
        targets = items.get(InfoTag.TARGETS, b"").decode()
        return LoaderInfo(
            board=items.get(InfoTag.BOARD, b"").decode(),
            version=items.get(InfoTag.FW_VERSION, b"").decode(),
            max_payload=tlv_int(items.get(InfoTag.MAX_PAYLOAD, b"")),
            signed_only=bool(tlv_int(items.get(InfoTag.SIGNED_ONLY, b"\0"))),
            sector=tlv_int(items.get(InfoTag.FLASH_SECTOR, b"")),
            targets=[t for t in targets.split(",") if t],
            app_entry=tlv_int(items.get(InfoTag.APP_ENTRY, b"")),
        )

    def slots(self) -> list[SlotInfo]:
        p = self.request(BootOpcode.BL_SLOTS).payload
        out = []
        for i in range(len(p) // SLOT_RECORD.size):
            idx, kind, state, flags, base, cap, size, seq, recv, sha = SLOT_RECORD.unpack_from(p, i * SLOT_RECORD.size)
            out.append(SlotInfo(idx, kind, SlotState(state), flags, base, cap, size, seq, recv, sha))
        return out

    def begin(self, kind: SlotKind, size: int, sha256: bytes, signature: bytes | None = None) -> tuple[int, int]:
        """Open (or resume) an upload; returns (slot, confirmed offset)."""
        payload = struct.pack("<BBHI", int(kind), 0, 0, size) + sha256 + (signature or b"")
        r = self.request(BootOpcode.BL_BEGIN, payload, timeout=self.timeout + 2.0)
        slot, _a, _b, _c, nxt, _chunk = struct.unpack_from("<BBBBII", r.payload)
        return slot, nxt

    def write(self, offset: int, data: bytes) -> tuple[int, int]:
        """One chunk; returns (status, device's confirmed offset). ERR_RANGE means "resume from there"."""
        r = self.request(BootOpcode.BL_WRITE, struct.pack("<I", offset) + data, check=False,
                         timeout=self.timeout + 1.0)
        nxt = struct.unpack_from("<I", r.payload)[0] if len(r.payload) >= 4 else -1
        return r.status, nxt

    def finish(self, timeout: float) -> tuple[int, bytes]:
        """Commit the upload; returns (status, payload) -- the caller interprets ERR_STATE after a resend."""
        r = self.request(BootOpcode.BL_FINISH, check=False, timeout=timeout)
        return r.status, r.payload

    def slot_hash(self, slot: int, offset: int, length: int, timeout: float = 30.0) -> bytes:
        return self.request(BootOpcode.BL_HASH, struct.pack("<BxxxII", slot, offset, length), timeout=timeout).payload

    def set_baud(self, baud: int) -> None:
        self.request(BootOpcode.BL_BAUD, struct.pack("<I", baud))
        time.sleep(0.05)
        self.transport.set_baudrate(baud)

    def erase_slot(self, slot: int) -> None:
        self.request(BootOpcode.BL_ERASE, bytes([slot]), timeout=self.timeout + 5.0)

    def boot(self) -> None:
        """Reset the board: the bootloader re-checks the slots and starts the application."""
        try:
            self.request(0x03, timeout=2.0)
        except (DeviceNotAnswering, DeviceError):
            pass
        self._decoder.reset()


__all__ = ["Bootloader", "LoaderInfo", "SlotInfo", "Status"]
