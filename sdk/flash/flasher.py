"""`cimsdk flash`: put firmware and weight images into the board's slots through its bootloader.

Per chunk: the device's ACK carries its confirmed offset, resends are idempotent, an ERR_RANGE
reply says where to resume. Per session: when the link stays dead past the per-request retries
the flasher reconnects, re-enters the bootloader and BEGINs again, which resumes at the
confirmed offset. Nothing is bootable until FINISH has checked the SHA-256 (and signature).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cimconv.errors import UserError
from cimsdk.device import DeviceError
from cimsdk.flash.client import Bootloader, SlotInfo
from cimsdk.flash.layout import SlotKind, SlotRole, SlotState
from cimsdk.flash.package import FlashImage, read_flash_image
from cimsdk.protocol import MAX_DATA, Status
from cimsdk.protocol.constants import BootOpcode
from cimsdk.transport import DEFAULT_BAUD, DeviceNotAnswering, Transport

Progress = Callable[[str, int, int], None]

#: Give up once the board has not answered for this long (a board switched off or unplugged
#: mid-upload); the previous image still boots, so failing fast is safe.
GIVE_UP_S = 20.0


@dataclass
class FlashResult:
    """What happened to one file."""

    label: str
    kind: str
    size: int
    sha256: str
    skipped: bool = False
    slot: int = -1
    verified: bool | None = None
    seconds: float = 0.0
    wire_bytes: int = 0
    sessions: int = 0
    resends: int = 0


@dataclass
class FlashReport:
    results: list[FlashResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bytes_sent(self) -> int:
        return sum(r.size for r in self.results if not r.skipped)

    def summary(self) -> str:
        done = [r for r in self.results if not r.skipped]
        rate = self.bytes_sent / self.seconds if self.seconds > 0 else 0.0
        wire = sum(r.wire_bytes for r in done)
        eff = f", payload/wire {self.bytes_sent / wire:.3f}" if wire else ""
        return (f"flashed {len(done)} image(s), skipped {len(self.results) - len(done)}: {self.bytes_sent} bytes in "
                f"{self.seconds:.2f} s ({rate / 1024:.1f} KiB/s{eff})")


def _active(slots: list[SlotInfo], kind: SlotKind) -> SlotInfo | None:
    for s in slots:
        if s.kind == kind and s.active and s.state in (SlotState.VALID, SlotState.INSTALLED):
            return s
    return None


def _check_fit(bl: Bootloader, img: FlashImage, board: str) -> None:
    info = bl.loader_info()
    if info.board != board:
        raise UserError(f"the board at {bl.url} is a {info.board}, not a {board}; pass --board {info.board} "
                        "and an image built for it")
    if img.board and img.board != info.board:
        raise UserError(f"{img.path}: built for board {img.board}, the device is a {info.board}")
    if img.kind == SlotKind.APP and img.entry is not None and info.app_entry and img.entry != info.app_entry:
        raise UserError(f"{img.path}: firmware linked for 0x{img.entry:08x}, the bootloader starts applications "
                        f"at 0x{info.app_entry:08x}; it was built for another board or layout")
    if img.kind == SlotKind.MODEL and info.targets and img.target and img.target not in info.targets:
        raise UserError(f"{img.path}: weight image for target {img.target}, the board's firmware runs "
                        f"{', '.join(info.targets)}; convert the model for one of them")
    if info.signed_only and img.signature is None:
        raise UserError(f"{img.path}: the board only boots signed images; sign it with "
                        "`cimsdk sign --key KEY.pem FILE` and flash the .cpkg")


def _upload(bl: Bootloader, img: FlashImage, progress: Progress | None, max_sessions: int,
            give_up: float = GIVE_UP_S) -> tuple[int, int]:
    """Transfer and commit one image; returns (slot, sessions used). Gives up after `give_up` s of silence."""
    data, size = img.data, len(img.data)
    hash_failures = 0
    last = ""
    for session in range(1, max_sessions + 1):
        try:
            if session > 1:
                bl.enter(timeout=max(1.0, min(10.0, give_up - _silent(bl))))
            slot, nxt = bl.begin(img.kind, size, img.sha256, img.signature)
            top = max(4, min(MAX_DATA, bl.max_payload - 4) & ~3)
            step = top if session == 1 else max(256, top // 4)
            clean = 0
            while nxt < size:
                chunk = data[nxt : nxt + step]
                r0 = bl.resends
                st, dev_next = bl.write(nxt, chunk)
                # A noisy link: smaller frames get through more often; grow back once it is clean.
                if bl.resends > r0:
                    step, clean = max(256, step // 2), 0
                else:
                    clean += 1
                    if clean >= 8 and step < top:
                        step, clean = min(top, step * 2), 0
                if st == Status.OK or (st == Status.ERR_RANGE and 0 <= dev_next <= size):
                    nxt = dev_next
                elif st == Status.ERR_STATE:
                    raise _Restart("the device lost the upload session")
                else:
                    raise DeviceError(BootOpcode.BL_WRITE, st, b"", bl.url)
                if progress:
                    progress(img.label, nxt, size)
            st, payload = bl.finish(timeout=bl.timeout + 5.0 + size / 20_000)
            if st == Status.OK:
                return slot, session
            if st == Status.ERR_STATE:
                # Our FINISH was executed but its reply lost: the slot tells.
                if _committed(bl, img):
                    return slot, session
                raise _Restart("upload session closed before FINISH")
            if st == Status.ERR_HASH:
                hash_failures += 1
                if hash_failures >= 3:
                    raise UserError(f"{img.path}: the device computed another SHA-256 three times; the link corrupts "
                                    "data undetected or the flash fails")
                raise _Restart("image hash mismatch")
            raise DeviceError(BootOpcode.BL_FINISH, st, payload, bl.url)
        except (_Restart, DeviceNotAnswering) as exc:
            last = str(exc)
            if isinstance(exc, DeviceNotAnswering):
                try:
                    bl.transport.reconnect(timeout=min(5.0, max(0.5, give_up - _silent(bl))))
                except UserError:
                    time.sleep(0.5)
                bl._decoder.reset()
            if _silent(bl) > give_up:
                raise DeviceNotAnswering(
                    f"device at {bl.url} stopped answering during the upload of {img.path.name}: no reply for "
                    f"{_silent(bl):.0f} s (last: {_short(last)}); the previous image still boots; check that the "
                    "board is powered and connected, then retry") from None
            continue
    raise DeviceNotAnswering(f"device at {bl.url} kept breaking off the upload of {img.path.name}: {max_sessions} "
                             f"sessions ({_short(last)}); the previous image still boots; check the cable, then retry")


def _silent(bl: Bootloader) -> float:
    """Seconds since the board last answered."""
    return time.monotonic() - bl.last_reply


def _short(text: str) -> str:
    """The first clause of an error (they end with advice that does not fit inside another message)."""
    return text.split(";")[0]


class _Restart(Exception):
    pass


def _committed(bl: Bootloader, img: FlashImage) -> bool:
    slots = bl.slots()
    if img.kind == SlotKind.APP:
        p = slots[SlotRole.APP_PRIMARY]
        return p.state == SlotState.VALID and p.sha256 == img.sha256
    return any(s.kind == SlotKind.MODEL and s.active and s.sha256 == img.sha256 for s in slots)


def flash(port: str | Transport, files: Sequence[str | Path], *, board: str = "qemu-virt-rv32", baud: int | None = None,
          connect_baud: int = DEFAULT_BAUD, verify: bool = False, force: bool = False, reset: bool = True,
          progress: Progress | None = None, timeout: float = 2.0, retries: int = 4, max_sessions: int = 20,
          open_timeout: float = 0.0, log: Callable[[str], None] | None = None,
          give_up: float = GIVE_UP_S) -> FlashReport:
    """Flash every file (firmware and/or weight images) and reset the board into them."""
    images = [read_flash_image(f, board) for f in files]  # every file is checked before the board is touched
    if not images:
        raise UserError("nothing to flash: give a firmware (.elf/.bin), weight image (.cimg) or package (.cpkg)")
    kinds = [i.kind for i in images]
    if kinds.count(SlotKind.APP) > 1 or kinds.count(SlotKind.MODEL) > 1:
        raise UserError("give at most one firmware and one weight image per flash")
    say = log or (lambda _m: None)
    report = FlashReport()
    t0 = time.monotonic()
    transport = port if not isinstance(port, str) else Transport(port, baudrate=connect_baud,
                                                                 open_timeout=open_timeout)
    with Bootloader(transport, timeout=timeout, retries=retries) as bl:
        bl.give_up_after = give_up
        bl.enter()
        if baud and baud != connect_baud:
            bl.set_baud(baud)
            bl.ping()
        for img in images:
            _check_fit(bl, img, board)
        slots = bl.slots()
        for img in images:
            res = FlashResult(img.label, img.kind.name.lower(), len(img.data), img.sha256.hex())
            cur = _active(slots, img.kind)
            if cur is not None and cur.sha256 == img.sha256 and not force:
                res.skipped = True
                say(f"{img.label}: already on the device (slot {cur.name}, SHA-256 {img.sha256.hex()[:12]}), skipped")
                report.results.append(res)
                continue
            w0 = transport.bytes_in + transport.bytes_out
            r0 = bl.resends
            s0 = time.monotonic()
            res.slot, res.sessions = _upload(bl, img, progress, max_sessions, give_up)
            res.seconds = time.monotonic() - s0
            res.wire_bytes = transport.bytes_in + transport.bytes_out - w0
            res.resends = bl.resends - r0
            if verify:
                target = SlotRole.APP_PRIMARY if img.kind == SlotKind.APP else res.slot
                digest = bl.slot_hash(target, 0, len(img.data), timeout=bl.timeout + len(img.data) / 50_000)
                res.verified = digest == img.sha256
                if not res.verified:
                    raise UserError(f"{img.path}: read-back SHA-256 of slot {SlotRole(target).name.lower()} differs "
                                    "from the image; the flash part may be failing")
            say(f"{img.label}: {len(img.data)} bytes into slot {SlotRole(res.slot).name.lower()} in "
                f"{res.seconds:.2f} s" + (", verified" if res.verified else ""))
            report.results.append(res)
            slots = bl.slots()
        if reset:
            bl.boot()
    report.seconds = time.monotonic() - t0
    return report
