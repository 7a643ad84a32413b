"""Host client of the on-device console (docs/serial-protocol.md, "Console commands").

`Device(url)` speaks the framed protocol over a `cimsdk.transport.Transport`: one request in
flight, resent on timeout, CRC error or NAK-for-corruption (every console command is
idempotent, so a resend after a lost reply is harmless), with a reconnect when the link drops.
A board still in its bootloader's boot window answers ERR_BOOTING and starts its application;
the request is then resent to the application (docs/bootloader.md, "Boot window").
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cimconv.errors import UserError
from cimsdk.protocol import (
    MAX_DATA,
    CounterTag,
    Frame,
    FrameDecoder,
    FrameError,
    InfoTag,
    Opcode,
    Status,
    encode_frame,
    tlv_decode,
    tlv_int,
)
from cimsdk.protocol.constants import (
    MAX_FRAME,
    PROTOCOL_VERSION,
    ROLE_APP,
    ROLE_BOOTLOADER,
    RUN_MARKED_MAX,
    STATUS_HINTS,
    opcode_name,
    status_name,
)
from cimsdk.transport import DEFAULT_BAUD, DeviceNotAnswering, LinkError, Transport

#: NAKs that mean "your frame arrived damaged": resend rather than fail. ERR_TOO_LONG joins them
#: when our frame fits the device's buffer (a damaged delimiter merged it with noise).
_RESEND = {Status.ERR_CRC, Status.ERR_FRAME}
#: How long a board may keep answering ERR_BOOTING (its bootloader starting the application).
BOOT_WAIT_S = 10.0


class DeviceError(UserError):
    """The device answered a command with an error status."""

    def __init__(self, opcode: int, status: int, payload: bytes, url: str) -> None:
        self.opcode = opcode
        self.status = status
        self.payload = payload
        sname, oname = status_name(status), opcode_name(opcode)
        hint = STATUS_HINTS.get(Status(status), "") if status in Status._value2member_map_ else ""
        detail = ""
        if status in (Status.ERR_IMAGE, Status.ERR_RUNTIME) and len(payload) >= 4:
            detail = f" (runtime code {struct.unpack_from('<i', payload)[0]})"
        super().__init__(f"device at {url} refused {oname}: {sname}{detail}; {hint}".rstrip("; "))


class BoardInBootloader(UserError):
    """A console command reached the bootloader: no application runs."""


@dataclass
class DeviceInfo:
    """INFO reply, decoded; `raw` keeps every tag (also ones this host does not know)."""

    proto_version: int
    role: int
    max_payload: int
    board: str
    fw_version: str
    backend: str
    image_capacity: int
    arena_size: int
    image_loaded: bool
    image_size: int = 0
    image_sha256: str = ""
    input_size: int = 0
    output_size: int = 0
    arena_used: int = 0
    image_target: str = ""
    state_bytes: int = 0  # of arena_used: state kept between invocations (SVDF memory)
    raw: dict[int, bytes] = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "raw"}
        d["role"] = "app" if self.role == ROLE_APP else "bootloader"
        return d


def _s(items: dict[int, bytes], tag: int) -> str:
    return items.get(tag, b"").decode(errors="replace")


def _i(items: dict[int, bytes], tag: int) -> int:
    return tlv_int(items.get(tag, b""))


#: Seconds to wait for a reply before resending, unless a caller says otherwise.
DEFAULT_REPLY_TIMEOUT = 2.0


def reply_timeout() -> float:
    """The reply timeout: $CIMSDK_REPLY_TIMEOUT, else 2 s. A board simulated in Verilator (docs/fpga.md)
    runs tens of times slower than the real one: a 4 KiB frame at 115200 baud takes it many seconds."""
    text = os.environ.get("CIMSDK_REPLY_TIMEOUT", "")
    try:
        value = float(text) if text else DEFAULT_REPLY_TIMEOUT
    except ValueError:
        raise UserError(f"CIMSDK_REPLY_TIMEOUT={text!r}: give seconds, e.g. 60") from None
    if value <= 0:
        raise UserError(f"CIMSDK_REPLY_TIMEOUT={text!r}: give a positive number of seconds")
    return value


class Device:
    """One board's console. Use as a context manager; every method is one or a few round trips."""

    def __init__(
        self,
        url: str | Transport,
        *,
        baudrate: int = DEFAULT_BAUD,
        timeout: float | None = None,
        retries: int = 4,
        open_timeout: float = 0.0,
    ) -> None:
        self.transport = url if isinstance(url, Transport) else Transport(url, baudrate=baudrate,
                                                                          open_timeout=open_timeout)
        self.url = self.transport.url
        self.timeout = reply_timeout() if timeout is None else timeout
        self.retries = retries
        self._seq = 0
        self._decoder = FrameDecoder(MAX_FRAME)
        self.max_payload = MAX_DATA + 4  # until PING tells us the device's buffer
        self.resends = 0  # resent requests (link quality, shown by benchmarks)
        self.last_reply = time.monotonic()  # when the device last answered anything of ours
        #: Stop resending once the device has been silent this long (None: only `retries` bound it).
        self.give_up_after: float | None = None

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, opcode: int, payload: bytes = b"", *, timeout: float | None = None,
                check: bool = True) -> Frame:
        """Send one command and return its reply; raise DeviceError on a NAK (unless `check=False`).

        Resent (up to `retries` times) on no reply, a damaged reply or a NAK saying the request
        arrived damaged; ERR_BOOTING (the bootloader is starting the application) is waited out for
        up to BOOT_WAIT_S without using up retries."""
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        wire = encode_frame(opcode, seq, payload)
        wait = self.timeout if timeout is None else timeout
        last_problem = "no reply"
        attempt = 0
        boot_deadline: float | None = None
        while attempt <= self.retries:
            if attempt:
                silent = time.monotonic() - self.last_reply
                if self.give_up_after is not None and silent > self.give_up_after:
                    last_problem = f"no reply for {silent:.0f} s"
                    break
                self.resends += 1
            attempt += 1
            try:
                self.transport.write(wire)
                reply = self._await(opcode, seq, wait)
            except LinkError as exc:
                last_problem = str(exc)
                self._reconnect()
                continue
            if reply is None:
                last_problem = f"no reply within {wait:g} s"
                continue
            if isinstance(reply, FrameError) or reply.status in _RESEND or (
                    reply.status == Status.ERR_TOO_LONG and len(payload) <= self.max_payload):
                last_problem = "replies arrive corrupted" if isinstance(reply, FrameError) else \
                    "the device reports corrupted requests"
                continue
            if reply.status == Status.ERR_BOOTING:
                # The bootloader starts the application now; ask it again in a moment.
                now = time.monotonic()
                boot_deadline = boot_deadline or now + BOOT_WAIT_S
                if now < boot_deadline:
                    attempt -= 1
                    time.sleep(0.05)
                    self._decoder.reset()
                    continue
                last_problem = f"its bootloader kept answering ERR_BOOTING for {BOOT_WAIT_S:g} s"
                break
            if check and reply.status != Status.OK:
                raise DeviceError(opcode, reply.status, reply.payload, self.url)
            return reply
        raise DeviceNotAnswering(
            f"device at {self.url} did not answer {opcode_name(opcode)} after {attempt} tries ({last_problem}); "
            "check that the board runs cimsdk firmware, the port and the baud rate"
        )

    def _reconnect(self) -> None:
        self._decoder.reset()
        try:
            self.transport.reconnect(timeout=self.timeout)
        except UserError:
            time.sleep(0.2)

    def _await(self, opcode: int, seq: int, wait: float) -> Frame | FrameError | None:
        """The reply to (opcode, seq); None on timeout; a FrameError / corruption NAK means resend."""
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.transport.read(min(left, 0.2))
            for item in self._decoder.feed(data):
                if isinstance(item, FrameError):
                    # A damaged reply (ours, most likely): resend at once.
                    self.last_reply = time.monotonic()
                    return item
                if not item.is_response:
                    continue  # our own echo on a loopback, or noise that happened to pass CRC
                self.last_reply = time.monotonic()  # the device is there, whatever it answered
                if item.seq == seq and item.opcode == opcode:
                    return item
                if item.status in _RESEND or item.status == Status.ERR_TOO_LONG:
                    # The device NAKed a damaged frame whose header no longer matches ours.
                    if item.status == Status.ERR_TOO_LONG:
                        return Frame(opcode, seq, b"", item.flags, Status.ERR_FRAME)
                    return item
                # Otherwise a stale reply to an earlier (resent) request: ignore it.

    # -- commands -------------------------------------------------------------------------------
    def ping(self, echo: bytes = b"") -> dict:
        r = self.request(Opcode.PING, echo)
        version, role, _res, max_payload = struct.unpack_from("<HBBI", r.payload)
        if version != PROTOCOL_VERSION:
            raise UserError(f"device at {self.url} speaks protocol {version}, this cimsdk speaks "
                            f"{PROTOCOL_VERSION}; update the firmware or cimsdk so they match")
        self.max_payload = min(max_payload, MAX_DATA + 16)
        return {"version": version, "role": role, "max_payload": max_payload, "echo": r.payload[8:]}

    def info(self) -> DeviceInfo:
        items = tlv_decode(self.request(Opcode.INFO).payload)
        sha = items.get(InfoTag.IMAGE_SHA256, b"")
        return DeviceInfo(
            proto_version=_i(items, InfoTag.PROTO_VERSION),
            role=_i(items, InfoTag.ROLE),
            max_payload=_i(items, InfoTag.MAX_PAYLOAD),
            board=_s(items, InfoTag.BOARD),
            fw_version=_s(items, InfoTag.FW_VERSION),
            backend=_s(items, InfoTag.BACKEND),
            image_capacity=_i(items, InfoTag.IMAGE_CAPACITY),
            arena_size=_i(items, InfoTag.ARENA_SIZE),
            image_loaded=bool(_i(items, InfoTag.IMAGE_LOADED)),
            image_size=_i(items, InfoTag.IMAGE_SIZE),
            image_sha256=sha.hex(),
            input_size=_i(items, InfoTag.INPUT_SIZE),
            output_size=_i(items, InfoTag.OUTPUT_SIZE),
            arena_used=_i(items, InfoTag.ARENA_USED),
            state_bytes=_i(items, InfoTag.STATE_BYTES),
            image_target=_s(items, InfoTag.IMAGE_TARGET),
            raw=items,
        )

    def app_info(self) -> DeviceInfo:
        """INFO from the application console; a clear error when the board sits in its bootloader."""
        info = self.info()
        if info.role == ROLE_BOOTLOADER:
            raise BoardInBootloader(
                f"the board at {self.url} is running its bootloader, not the application (no valid application "
                "in its primary slot, or a flasher left it there); flash one with `cimsdk flash --port PORT "
                "FIRMWARE`, or reset the board")
        return info

    def _chunk(self) -> int:
        return max(1, min(MAX_DATA, self.max_payload - 4))

    def load_image(self, image: bytes, *, progress: Callable[[int, int], None] | None = None) -> dict:
        """Upload in chunks, then COMMIT with size and SHA-256 so the device checks and parses it."""
        info = self.app_info()
        if info.image_capacity and len(image) > info.image_capacity:
            raise UserError(
                f"image of {len(image)} bytes does not fit the device's {info.image_capacity}-byte image buffer "
                f"(board {info.board}); build the firmware with --embed-image or a larger CIM_IMAGE_BUF_SIZE"
            )
        self.max_payload = min(self.max_payload, info.max_payload or self.max_payload)
        step = self._chunk()
        for off in range(0, len(image), step):
            chunk = image[off : off + step]
            self.request(Opcode.LOAD_IMAGE, struct.pack("<I", off) + chunk)
            if progress:
                progress(off + len(chunk), len(image))
        digest = hashlib.sha256(image).digest()
        # The device hashes and parses the whole image before it answers.
        r = self.request(Opcode.COMMIT_IMAGE, struct.pack("<I", len(image)) + digest,
                         timeout=self.timeout + len(image) / 100_000)
        items = tlv_decode(r.payload)
        return {"input_size": _i(items, CounterTag.INPUT_SIZE), "output_size": _i(items, CounterTag.OUTPUT_SIZE),
                "arena_used": _i(items, CounterTag.ARENA_USED), "sha256": digest.hex()}

    def set_input(self, data: bytes) -> None:
        step = self._chunk()
        for off in range(0, max(len(data), 1), step):
            self.request(Opcode.SET_INPUT, struct.pack("<I", off) + data[off : off + step])

    def invoke(self, *, timeout: float = 60.0) -> dict:
        r = self.request(Opcode.INVOKE, timeout=timeout)
        cycles, instret = struct.unpack_from("<QQ", r.payload)
        return {"cycles": cycles, "instret": instret}

    def get_output(self, size: int | None = None) -> bytes:
        """Read the whole output tensor (size from INFO when not given)."""
        if size is None:
            size = self.info().output_size
        out = bytearray()
        while len(out) < size:
            r = self.request(Opcode.GET_OUTPUT, struct.pack("<II", len(out), size - len(out)))
            if not r.payload:
                raise UserError(f"device at {self.url} returned an empty output chunk at byte {len(out)} of {size}")
            out += r.payload
        return bytes(out[:size])

    def run(self, x: bytes, output_size: int, *, timeout: float = 60.0) -> tuple[bytes, dict]:
        """One inference: input bytes in, output bytes and per-inference counters out."""
        self.set_input(x)
        counters = self.invoke(timeout=timeout)
        return self.get_output(output_size), counters

    def counters(self) -> dict[str, int]:
        items = tlv_decode(self.request(Opcode.GET_COUNTERS).payload)
        names = {t.value: t.name.lower() for t in CounterTag}
        return {names.get(tag, f"tag_{tag}"): tlv_int(v) for tag, v in items.items()}

    def run_marked(self, count: int, *, timeout: float = 600.0) -> dict:
        """`count` inferences with the marker around each (power profiling); totals of the run.

        Bounded on both sides: the device refuses counts above RUN_MARKED_MAX, and a run that has
        not finished within `timeout` (or is interrupted with Ctrl-C) is stopped by sending one
        byte, which the device checks between inferences (docs/serial-protocol.md, "Aborting a
        run"). A run stopped by line noise is continued for the inferences still owed."""
        if not 0 <= count <= RUN_MARKED_MAX:
            raise UserError(f"RUN_MARKED count {count} is outside 0..{RUN_MARKED_MAX}; run it in batches")
        total = {"count": 0, "cycles": 0, "instret": 0}
        for _ in range(self.retries + 1):
            r = self._run_marked_once(count - total["count"], timeout)
            done, cycles, instret = struct.unpack_from("<IQQ", r.payload)
            total = {"count": total["count"] + done, "cycles": total["cycles"] + cycles,
                     "instret": total["instret"] + instret}
            if r.status == Status.OK:
                return total
        raise UserError(f"RUN_MARKED on {self.url} was stopped {self.retries + 1} times by bytes on the line "
                        f"after {total['count']} of {count} inferences; check baud rate and cabling")

    def _run_marked_once(self, count: int, timeout: float) -> Frame:
        """One RUN_MARKED: resent only when the device did not start it (damaged or booting)."""
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        wire = encode_frame(Opcode.RUN_MARKED, seq, struct.pack("<I", count))
        boot_deadline = time.monotonic() + BOOT_WAIT_S
        for attempt in range(self.retries + 1 + int(BOOT_WAIT_S / 0.05)):
            self.transport.write(wire)
            try:
                reply = self._await(Opcode.RUN_MARKED, seq, timeout)
            except KeyboardInterrupt:
                self.abort_run(seq)
                raise
            if reply is None:
                stopped = self.abort_run(seq)
                what = (f"stopped it after {struct.unpack_from('<I', stopped.payload)[0]} inferences"
                        if stopped is not None and len(stopped.payload) >= 4 else "the device does not answer")
                raise DeviceNotAnswering(f"RUN_MARKED of {count} inferences on {self.url} did not finish within "
                                         f"{timeout:g} s; {what}")
            if isinstance(reply, FrameError) or reply.status in _RESEND or reply.status == Status.ERR_TOO_LONG:
                if attempt >= self.retries:
                    break
                self.resends += 1
                continue
            if reply.status == Status.ERR_BOOTING and time.monotonic() < boot_deadline:
                time.sleep(0.05)
                continue
            if reply.status not in (Status.OK, Status.ERR_ABORTED):
                raise DeviceError(Opcode.RUN_MARKED, reply.status, reply.payload, self.url)
            return reply
        raise DeviceNotAnswering(f"device at {self.url} did not take RUN_MARKED after {self.retries + 1} tries "
                                 "(requests arrive corrupted); check baud rate and cabling")

    def abort_run(self, seq: int | None = None, wait: float = 60.0) -> Frame | None:
        """Stop a running RUN_MARKED: one SLIP END byte (an empty frame, ignored by an idle device).
        Returns the run's reply (ERR_ABORTED, or OK when it had just finished), None when none came."""
        seq = self._seq if seq is None else seq
        try:
            self.transport.write(bytes([0xC0]))
            reply = self._await(Opcode.RUN_MARKED, seq, wait)
        except LinkError:
            return None
        return reply if isinstance(reply, Frame) else None

    def marker(self, on: bool) -> None:
        self.request(Opcode.SET_MARKER, bytes([1 if on else 0]))

    def reset_state(self) -> int:
        """The image's state back to its value at load (the next run is a stream's first frame); its bytes."""
        return struct.unpack_from("<I", self.request(Opcode.RESET_STATE).payload)[0]

    def reset(self) -> None:
        self.request(Opcode.RESET)
        self._decoder.reset()


def ensure_image(dev: Device, image: bytes, *, force: bool = False, show_progress: bool = True) -> bool:
    """Load `image` unless the device already holds it (SHA-256 from INFO); True when uploaded."""
    info = dev.app_info()
    digest = hashlib.sha256(image).hexdigest()
    if info.image_loaded and info.image_sha256 == digest and not force:
        return False
    if not show_progress:
        dev.load_image(image)
        return True
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("upload image"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  transient=True) as bar:
        task = bar.add_task("upload", total=len(image))
        dev.load_image(image, progress=lambda done, total: bar.update(task, completed=done))
    return True
