"""The console and the bootloader under hostile input, and a long run, on the emulated board.

- RUN_MARKED is bounded: a count above RUN_MARKED_MAX (e.g. 0xFFFFFFFF) is refused, a long run
  is stopped by the host (one byte, checked between inferences), and the board answers at once.
- Frame fuzzing: bursts of random and mutated frames (valid frames with extreme fields, bit
  flips, truncations, stray delimiters, oversize frames); after every burst a PING must be
  answered, and at the end the board still runs the model bit-exactly. Console (application with
  the real runtime and the KWS image) and bootloader (real flash). A few hundred frames in the
  default run, 30,000+ in the slow one.
- Long run: the same input N times (100 / 2,000): every output equals the host golden model,
  instructions per inference never change after the first (soft backend, -icount: exact), the arena and the
  image stay as they were, the inference counter counts every run.
Tallies print with `pytest -s`.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cimconv.errors import UserError
from cimsdk.device import Device, DeviceError
from cimsdk.protocol import Opcode, Status
from cimsdk.protocol.constants import MAX_DATA, RUN_MARKED_MAX, BootOpcode
from cimsdk.protocol.framing import Frame, FrameDecoder, encode_frame
from cimsdk.transport import DeviceNotAnswering
from tests.reliability_helpers import app_firmware, board, bootloader_bin, model, needs_qemu, slot_app

pytestmark = [pytest.mark.qemu, needs_qemu]

KWS = "kws_ref_model.tflite"
PING_SEQ = 0xFFFF


@pytest.fixture(scope="module")
def kws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model(tmp_path_factory, KWS)


def _app_board(tmp: pytest.TempPathFactory, backend: str = "soft", icount: bool = False):
    """The console application; icount makes minstret exact (and the board slower)."""
    from cimsdk.emulator import EmulatedBoard

    return EmulatedBoard(firmware=app_firmware(tmp, backend), backend=backend, icount=icount)


def _golden(image: Path, x: np.ndarray) -> np.ndarray:
    from cimconv.image import parse_image
    from cimsdk.golden import Executor

    img = parse_image(image.read_bytes(), where=str(image))
    return np.asarray(Executor(img).run(x[None])).astype(np.int8).reshape(-1)


def _input(image: Path, seed: int) -> np.ndarray:
    from cimconv.image import parse_image

    img = parse_image(image.read_bytes(), where=str(image))
    shape = img.tensors[img.input_tensor].shape[1:]
    return np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)


# ---- RUN_MARKED bounds and abort ----------------------------------------------------------------


def test_run_marked_is_bounded_and_abortable(kws: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    with _app_board(tmp_path_factory) as b, Device(b.url, timeout=5.0) as dev:
        dev.load_image(kws.read_bytes())
        # The frame that used to silence the board for good: refused at once, the maximum in the reply.
        r = dev.request(Opcode.RUN_MARKED, struct.pack("<I", 0xFFFFFFFF), check=False)
        assert r.status == Status.ERR_BAD_ARG and struct.unpack("<I", r.payload)[0] == RUN_MARKED_MAX
        r = dev.request(Opcode.RUN_MARKED, struct.pack("<I", RUN_MARKED_MAX + 1), check=False)
        assert r.status == Status.ERR_BAD_ARG
        assert dev.ping()["role"] == 0
        with pytest.raises(UserError, match="outside 0..100000"):
            dev.run_marked(0xFFFFFFFF)
        # The longest run allowed, stopped by the host after its time budget.
        with pytest.raises(DeviceNotAnswering, match=r"did not finish within 2 s; stopped it after \d+ inferences"):
            dev.run_marked(RUN_MARKED_MAX, timeout=2.0)
        done_before = dev.counters()["inferences"]
        assert 0 < done_before < RUN_MARKED_MAX
        # A short run still completes and counts; the board is fully usable.
        assert dev.run_marked(3)["count"] == 3
        assert dev.counters()["inferences"] == done_before + 3
        x = _input(kws, 1)
        out, _ = dev.run(x.tobytes(), dev.info().output_size)
        np.testing.assert_array_equal(np.frombuffer(out, np.int8), _golden(kws, x))


# ---- frame fuzzing --------------------------------------------------------------------------------

_EXTREME = [0, 1, 2, 3, 4, 0x7F, 0xFF, 0x100, MAX_DATA - 1, MAX_DATA, MAX_DATA + 1, 0xFFFF, 0x10000, 0x7FFFFFFF,
            0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, RUN_MARKED_MAX, RUN_MARKED_MAX + 1]


def _u32(rng: random.Random) -> int:
    return rng.choice(_EXTREME) if rng.random() < 0.7 else rng.randrange(1 << 32)


def _data(rng: random.Random) -> bytes:
    # Mostly short: fields are what is fuzzed, and the emulated UART moves only ~10 KB/s.
    n = rng.choice([0, 1, 3, 4, 5, 16, 63]) if rng.random() < 0.97 else rng.choice([255, 1024, MAX_DATA])
    return rng.randbytes(n)


def _console_payload(rng: random.Random, op: int) -> bytes:
    u32 = struct.Struct("<I")
    if op == Opcode.LOAD_IMAGE or op == Opcode.SET_INPUT:
        return u32.pack(_u32(rng)) + _data(rng)
    if op == Opcode.COMMIT_IMAGE:
        return u32.pack(_u32(rng)) + rng.randbytes(rng.choice([32, 32, 31, 0]))
    if op == Opcode.GET_OUTPUT:
        return u32.pack(_u32(rng)) + u32.pack(_u32(rng))
    if op == Opcode.RUN_MARKED:
        # Counts that finish at once, the extremes, and the maximum (stopped by the next frame).
        return u32.pack(rng.choice([0, 1, 2, RUN_MARKED_MAX, RUN_MARKED_MAX + 1, 0xFFFFFFFF, _u32(rng)]))
    if op == Opcode.SET_MARKER:
        return rng.randbytes(rng.choice([1, 1, 0, 2]))
    return _data(rng)


def _mutate(rng: random.Random, wire: bytes) -> bytes:
    b = bytearray(wire)
    for _ in range(rng.randint(1, 4)):
        what = rng.random()
        if what < 0.4 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif what < 0.55:
            b = b[: rng.randrange(len(b) + 1)]
        elif what < 0.7:
            b.insert(rng.randrange(len(b) + 1), rng.choice([0xC0, 0xDB]))
        elif what < 0.8 and b:
            del b[rng.randrange(len(b))]
        else:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.randbytes(rng.randint(1, 8))
    return bytes(b)


def console_frame(rng: random.Random, allowed: list[int]) -> tuple[bytes, str]:
    """One fuzz item and its kind: a valid frame with extreme fields, a mutated one, or noise."""
    op = rng.choice(allowed) if rng.random() < 0.9 else rng.randrange(256)
    wire = encode_frame(op, rng.randrange(0xFFFF), _console_payload(rng, op))
    r = rng.random()
    if r < 0.5:
        return wire, "valid"
    if r < 0.9:
        return _mutate(rng, wire), "mutated"
    if r < 0.99:
        return rng.randbytes(rng.randint(1, 40)), "noise"
    return b"\xc0" + rng.randbytes(MAX_DATA + 64).replace(b"\xc0", b"\x00") + b"\xc0", "oversize"


class Fuzzer:
    """Sends bursts to a board and proves it alive after each one (a PING answered)."""

    def __init__(self, dev: Device, allowed: list[int], forbidden: set[int], seed: int) -> None:
        self.dev, self.allowed, self.forbidden = dev, allowed, forbidden
        self.rng = random.Random(seed)
        self.tally: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()

    def _safe(self, wire: bytes) -> bool:
        """Leave out frames that would legitimately reboot or re-clock the board."""
        dec = FrameDecoder()
        return not any(isinstance(x, Frame) and x.opcode in self.forbidden for x in dec.feed(b"\xc0" + wire + b"\xc0"))

    def burst(self, n: int, hang_timeout: float = 60.0) -> None:
        out = bytearray()
        while n:
            wire, kind = console_frame(self.rng, self.allowed)
            if not self._safe(wire):
                continue
            out += wire
            self.tally[kind] += 1
            self.tally["frames"] += 1
            n -= 1
        t = self.dev.transport
        t.write(bytes(out) + encode_frame(Opcode.PING, PING_SEQ, b"alive"))
        dec, deadline = FrameDecoder(), time.monotonic() + hang_timeout
        while True:
            if time.monotonic() > deadline:
                self.tally["hangs"] += 1
                raise AssertionError(f"board stopped answering after {self.tally['frames']} frames: {self.tally}")
            for item in dec.feed(t.read(0.2)):
                if isinstance(item, Frame) and item.is_response:
                    self.statuses[Status(item.status).name if item.status in Status._value2member_map_
                                  else str(item.status)] += 1
                    if item.opcode == Opcode.PING and item.seq == PING_SEQ and item.status == Status.OK:
                        self.tally["bursts"] += 1
                        return


def _console_fuzz(kws: Path, tmp: pytest.TempPathFactory, frames: int, seed: int,
                  check_every: int = 4) -> Counter[str]:
    """Bursts of 20; every `check_every` bursts the image is reloaded when the fuzz unloaded it."""
    allowed = [int(o) for o in Opcode]
    t0 = time.monotonic()
    x = _input(kws, 3)
    want = _golden(kws, x)
    with _app_board(tmp) as b, Device(b.url, timeout=5.0) as dev:
        dev.load_image(kws.read_bytes())
        fz = Fuzzer(dev, allowed, forbidden=set(), seed=seed)
        reloads = 0
        while fz.tally["frames"] < frames:
            fz.burst(20)
            assert b.alive, f"QEMU exited: {b.exit_reason}"
            if fz.tally["bursts"] % check_every == 0:
                dev._decoder.reset()
                if not dev.info().image_loaded:  # fuzzed LOAD_IMAGE/COMMIT/RESET unload it, by design
                    dev.load_image(kws.read_bytes())  # so that INVOKE/RUN_MARKED/GET_OUTPUT reach the runtime
                    reloads += 1
        time.sleep(0.5)
        dev.transport.drain_input()
        dev._decoder.reset()
        if not dev.info().image_loaded:
            dev.load_image(kws.read_bytes())
        out, _ = dev.run(x.tobytes(), len(want))
        np.testing.assert_array_equal(np.frombuffer(out, np.int8), want)  # still bit-exact afterwards
    fz.tally["image_reloads"] = reloads
    fz.tally["seconds"] = round(time.monotonic() - t0)
    print(f"\nconsole fuzz (seed {seed}): {dict(fz.tally)}, 0 crashes, 0 hangs; replies {dict(fz.statuses)}")
    return fz.tally


def _bootloader_fuzz(kws: Path, tmp: pytest.TempPathFactory, tmp_path: Path, frames: int, seed: int) -> Counter[str]:
    from cimsdk.flash.build import prepare_flash
    from cimsdk.flash.client import Bootloader
    from cimsdk.flash.flasher import flash
    from cimsdk.flash.layout import SlotRole

    f = prepare_flash(tmp_path / "flash.img", bootloader_bin(tmp), erase=True)
    t0 = time.monotonic()
    allowed = [int(o) for o in BootOpcode] + [Opcode.PING, Opcode.INFO]
    # Reboots and baud changes are legitimate answers to valid frames, not what is tested here.
    forbidden = {Opcode.RESET, BootOpcode.BL_BAUD, BootOpcode.BL_BOOT}
    with board(f, "soft") as b:
        flash(b.url, [slot_app(tmp, "soft"), kws], reset=False)
        with Bootloader(b.url, timeout=3.0) as bl:
            bl.enter()
            before = bl.slots()
            fz = Fuzzer(bl, allowed, forbidden, seed=seed)
            while fz.tally["frames"] < frames:
                fz.burst(20)
                assert b.alive, f"QEMU exited: {b.exit_reason}"
            time.sleep(0.5)
            bl.transport.drain_input()
            bl._decoder.reset()
            after = bl.slots()
            # The fuzz may open, erase and abandon uploads in the free slots; never the booting ones.
            assert after[SlotRole.APP_PRIMARY].sha256 == before[SlotRole.APP_PRIMARY].sha256
            active = [s for s in after if s.active and s.kind == 2]
            assert active and active[0].sha256 == hashlib.sha256(kws.read_bytes()).digest()
            bl.boot()
        from tests.reliability_helpers import running_image

        assert running_image(b.url, {"kws": hashlib.sha256(kws.read_bytes()).hexdigest()}) == "kws"
    fz.tally["seconds"] = round(time.monotonic() - t0)
    print(f"\nbootloader fuzz (seed {seed}): {dict(fz.tally)}, 0 crashes, 0 hangs, 0 bricked; "
          f"replies {dict(fz.statuses)}")
    return fz.tally


def test_fuzz_console_short(kws: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    t = _console_fuzz(kws, tmp_path_factory, 300, seed=5)
    assert t["frames"] >= 300 and t["hangs"] == 0 and t["valid"] > 0 and t["mutated"] > 0


def test_fuzz_bootloader_short(kws: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    t = _bootloader_fuzz(kws, tmp_path_factory, tmp_path, 200, seed=6)
    assert t["frames"] >= 200 and t["hangs"] == 0


@pytest.mark.slow
def test_fuzz_console_and_bootloader_long(kws: Path, tmp_path_factory: pytest.TempPathFactory,
                                          tmp_path: Path) -> None:
    n = int(os.environ.get("CIMSDK_FUZZ_FRAMES", "30000"))
    c = _console_fuzz(kws, tmp_path_factory, n, seed=2026, check_every=12)  # a reload costs ~2.5 s
    bl = _bootloader_fuzz(kws, tmp_path_factory, tmp_path, n // 3, seed=2027)
    print(f"\nfuzz total: {c['frames'] + bl['frames']} frames ({c['frames']} console, {bl['frames']} bootloader), "
          "0 crashes, 0 hangs, 0 bricked boards")
    assert c["frames"] >= n and bl["frames"] >= n // 3


# ---- long run ---------------------------------------------------------------------------------------


def long_run(kws: Path, tmp: pytest.TempPathFactory, n: int) -> dict:
    x = _input(kws, 9)
    want = _golden(kws, x)
    with _app_board(tmp, icount=True) as b, Device(b.url, timeout=5.0) as dev:
        dev.load_image(kws.read_bytes())
        info0 = dev.info()
        c0 = dev.counters()
        instret: list[int] = []
        for i in range(n):
            out, c = dev.run(x.tobytes(), info0.output_size, timeout=30.0)
            got = np.frombuffer(out, np.int8)
            assert np.array_equal(got, want), f"inference {i}: output differs from the golden model"
            instret.append(c["instret"])
        info1 = dev.info()
        c1 = dev.counters()
    # The first inference after a load takes a few instructions fewer (one-time setup paths); from
    # the second on, the count must never change.
    changes = [(i, a, b) for i, (a, b) in enumerate(zip(instret[1:], instret[2:], strict=False), 2) if a != b]
    assert not changes, f"instructions per inference changed at (inference, before, after): {changes[:5]}"
    assert c1["inferences"] - c0["inferences"] == n
    for key in ("arena_used", "image_sha256", "image_size", "input_size", "output_size", "image_loaded"):
        assert getattr(info1, key) == getattr(info0, key), key
    tally = {"inferences": n, "mismatches": 0, "instret_first": instret[0], "instret_per_inference": instret[-1], "arena_used": info1.arena_used,
             "stalls": 0}
    print(f"\nlong run: {tally}")
    return tally


def test_long_run_100(kws: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert long_run(kws, tmp_path_factory, 100)["inferences"] == 100


@pytest.mark.slow
def test_long_run_2000(kws: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert long_run(kws, tmp_path_factory, 2000)["inferences"] == 2000


def test_device_error_names_bootloader_opcodes() -> None:
    """Error messages name every opcode and status (no raw numbers)."""
    err = DeviceError(BootOpcode.BL_WRITE, Status.ERR_BOOTING, b"", "socket://x")
    assert "BL_WRITE" in str(err) and "ERR_BOOTING" in str(err) and "0x42" not in str(err)
