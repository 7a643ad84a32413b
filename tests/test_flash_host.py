"""The bootloader core on the host (the same C as on the board, simulated NOR flash) driven by the
real flasher: A/B slots, resume, power cuts, signatures, and fuzzing with >= 10,000 frames."""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from cimconv.errors import UserError
from cimsdk.flash.client import Bootloader
from cimsdk.flash.flasher import flash
from cimsdk.flash.layout import SlotKind, SlotRole, SlotState
from cimsdk.flash.package import make_package, read_flash_image
from cimsdk.protocol import Frame, decode_all, encode_frame
from cimsdk.protocol.constants import BootOpcode, Status
from cimsdk.testing.flash_host import HostLoader, check_boot
from tests.flash_helpers import convert

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")


@pytest.fixture(scope="module")
def exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cimsdk.flash.build import build_host_bootloader

    return build_host_bootloader(tmp_path_factory.mktemp("blhost"))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("models")
    return convert("kws_ref_model.tflite", d / "kws"), convert("hello_world_int8.tflite", d / "hello")


def app_bin(path: Path, seed: int, size: int = 20_000) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def slots_of(exe: Path, flash_file: Path, **kw) -> list:
    link = HostLoader(exe, flash_file, **kw)
    with Bootloader(link, timeout=2.0) as bl:
        bl.enter()
        s = bl.slots()
    assert link.close() == 0, link.stderr
    return s


def test_flash_app_and_models_ab(exe: Path, models: tuple[Path, Path], tmp_path: Path) -> None:
    kws, hello = models
    f = tmp_path / "flash.img"
    app = app_bin(tmp_path / "app.bin", 1)
    link = HostLoader(exe, f)
    rep = flash(link, [app, kws], verify=True, baud=921600)  # BL_BAUD after sync, then the upload
    assert link.close() == 0, link.stderr
    assert link.baudrate == 921600
    assert [r.verified for r in rep.results] == [True, True]
    s = slots_of(exe, f)
    assert s[SlotRole.APP_PRIMARY].state == SlotState.VALID and s[SlotRole.APP_PRIMARY].active
    assert s[SlotRole.APP_PRIMARY].sha256 == hashlib.sha256(app.read_bytes()).digest()
    assert s[SlotRole.APP_STAGING].state == SlotState.INSTALLED
    assert s[SlotRole.MODEL_A].active and s[SlotRole.MODEL_A].sha256 == hashlib.sha256(kws.read_bytes()).digest()
    assert check_boot(exe, f)
    # The flash file really holds the bytes at the documented places.
    raw = f.read_bytes()
    assert raw[0x40100 : 0x40100 + 20_000] == app.read_bytes()
    assert raw[0x440100 : 0x440100 + kws.stat().st_size] == kws.read_bytes()

    # Model-only update: goes to the other model slot, which becomes active; the app is untouched.
    link = HostLoader(exe, f)
    rep = flash(link, [app, hello])
    assert link.close() == 0
    assert rep.results[0].skipped and not rep.results[1].skipped
    s = slots_of(exe, f)
    assert s[SlotRole.MODEL_B].active and not s[SlotRole.MODEL_A].active
    assert s[SlotRole.MODEL_A].state == SlotState.VALID  # the previous model is kept (rollback material)
    assert s[SlotRole.MODEL_B].seq == s[SlotRole.MODEL_A].seq + 1
    # The same again: skipped by hash.
    link = HostLoader(exe, f)
    rep = flash(link, [hello])
    link.close()
    assert rep.results[0].skipped


def test_power_cut_mid_upload_keeps_previous_and_resume(exe: Path, models: tuple[Path, Path], tmp_path: Path) -> None:
    kws, hello = models
    f = tmp_path / "flash.img"
    app1, app2 = app_bin(tmp_path / "a1.bin", 1, 300_000), app_bin(tmp_path / "a2.bin", 2, 300_000)
    link = HostLoader(exe, f)
    flash(link, [app1, kws])
    link.close()
    img2 = read_flash_image(app2, "qemu-virt-rv32")
    # Upload half of app2, then cut the power.
    link = HostLoader(exe, f)
    bl = Bootloader(link, timeout=2.0)
    bl.enter()
    slot, nxt = bl.begin(SlotKind.APP, len(img2.data), img2.sha256)
    assert (slot, nxt) == (SlotRole.APP_STAGING, 0)
    for off in range(0, 150_000, 4096):
        st, nxt = bl.write(off, img2.data[off : off + 4096])
        assert st == Status.OK and nxt == off + len(img2.data[off : off + 4096])
    # Resume on the same session (a reconnect): BEGIN with the same image returns the confirmed offset.
    assert bl.begin(SlotKind.APP, len(img2.data), img2.sha256) == (slot, nxt)
    # A resent old chunk is acknowledged; a gap is refused with the device's offset.
    assert bl.write(0, img2.data[:4096]) == (Status.OK, nxt)
    assert bl.write(nxt + 4096, img2.data[nxt + 4096 : nxt + 8192]) == (Status.ERR_RANGE, nxt)
    link.kill()
    assert check_boot(exe, f)  # the board still boots: app1 untouched in the primary slot
    s = slots_of(exe, f)
    assert s[SlotRole.APP_PRIMARY].sha256 == hashlib.sha256(app1.read_bytes()).digest()
    assert s[SlotRole.APP_STAGING].state == SlotState.RECEIVING
    # Corrupted upload (FINISH with data not matching the hash): refused, previous still boots.
    link = HostLoader(exe, f)
    bl = Bootloader(link, timeout=2.0)
    bl.enter()
    bl.begin(SlotKind.MODEL, len(hello.read_bytes()), b"\x11" * 32)
    data = hello.read_bytes()
    for off in range(0, len(data), 4096):
        bl.write(off, data[off : off + 4096])
    st, payload = bl.finish(timeout=5)
    assert st == Status.ERR_HASH and payload == hashlib.sha256(data).digest()
    link.close()
    assert check_boot(exe, f)
    s = slots_of(exe, f)
    assert s[SlotRole.MODEL_A].active and s[SlotRole.MODEL_B].state == SlotState.RECEIVING


def test_power_cut_during_install_is_finished_at_boot(exe: Path, tmp_path: Path) -> None:
    """Staging committed but the copy into the primary slot interrupted: the next boot completes it."""
    f = tmp_path / "flash.img"
    app1, app2 = app_bin(tmp_path / "a1.bin", 3), app_bin(tmp_path / "a2.bin", 4)
    link = HostLoader(exe, f)
    flash(link, [app1])
    flash(link, [app2])
    link.close()
    raw = bytearray(f.read_bytes())
    # Simulate the cut: primary erased halfway (header gone), staging's DONE word never written.
    raw[0x40000 : 0x40000 + 0x40000] = b"\xff" * 0x40000
    raw[0x240000 + 132 : 0x240000 + 136] = b"\xff" * 4
    f.write_bytes(bytes(raw))
    assert check_boot(exe, f)
    s = slots_of(exe, f)
    assert s[SlotRole.APP_PRIMARY].state == SlotState.VALID
    assert s[SlotRole.APP_PRIMARY].sha256 == hashlib.sha256(app2.read_bytes()).digest()
    # A bit flip in the installed application: detected at boot, recovered from the staging copy.
    raw = bytearray(f.read_bytes())
    raw[0x40100 + 1000] ^= 0x01
    f.write_bytes(bytes(raw))
    assert check_boot(exe, f)
    assert f.read_bytes()[0x40100 : 0x40100 + 20_000] == app2.read_bytes()


def test_signed_only_refuses_unsigned_and_tampered(exe: Path, models: tuple[Path, Path], tmp_path: Path) -> None:
    from cimsdk.flash.package import generate_key, public_key_bytes

    kws, hello = models
    pem = generate_key()
    pub = public_key_bytes(pem)
    f = tmp_path / "flash.img"
    app = app_bin(tmp_path / "app.bin", 5)
    signed_app = tmp_path / "app.cpkg"
    signed_app.write_bytes(make_package(read_flash_image(app, "qemu-virt-rv32"), pem, "qemu-virt-rv32"))
    signed_kws = tmp_path / "kws.cpkg"
    signed_kws.write_bytes(make_package(read_flash_image(kws, "qemu-virt-rv32"), pem, "qemu-virt-rv32"))
    link = HostLoader(exe, f, pubkey=pub, signed_only=True)
    flash(link, [signed_app, signed_kws], verify=True)
    link.close()
    assert check_boot(exe, f, pubkey=pub, signed_only=True)
    # Unsigned: refused by the flasher before any byte moves (the device says signed_only).
    link = HostLoader(exe, f, pubkey=pub, signed_only=True)
    with pytest.raises(UserError, match="only boots signed"):
        flash(link, [hello])
    link.close()
    # Tampered payload (package re-hashed so only the signature can catch it): refused at FINISH.
    img = read_flash_image(hello, "qemu-virt-rv32")
    pkg = bytearray(make_package(img, pem, "qemu-virt-rv32"))
    head = 4 + 1 + 1 + 2 + 4
    pkg[-100] ^= 0x40
    pkg[head : head + 32] = hashlib.sha256(bytes(pkg[-len(img.data):])).digest()
    bad = tmp_path / "tampered.cpkg"
    bad.write_bytes(bytes(pkg))
    link = HostLoader(exe, f, pubkey=pub, signed_only=True)
    with pytest.raises(UserError, match="ERR_SIGNATURE"):
        flash(link, [bad])
    link.close()
    assert check_boot(exe, f, pubkey=pub, signed_only=True)
    s = slots_of(exe, f, pubkey=pub, signed_only=True)
    assert s[SlotRole.MODEL_A].active and s[SlotRole.MODEL_A].sha256 == hashlib.sha256(kws.read_bytes()).digest()
    assert s[SlotRole.MODEL_B].state == SlotState.RECEIVING
    # Signed by another key: refused too.
    other = make_package(img, generate_key(), "qemu-virt-rv32")
    (tmp_path / "other.cpkg").write_bytes(other)
    link = HostLoader(exe, f, pubkey=pub, signed_only=True)
    with pytest.raises(UserError, match="ERR_SIGNATURE"):
        flash(link, [tmp_path / "other.cpkg"])
    link.close()
    assert check_boot(exe, f, pubkey=pub, signed_only=True)


def _valid_session(kind: int, data: bytes, seq0: int) -> list[bytes]:
    sha = hashlib.sha256(data).digest()
    frames = [encode_frame(0x01, seq0, b"x"), encode_frame(BootOpcode.BL_SLOTS, seq0 + 1),
              encode_frame(BootOpcode.BL_BEGIN, seq0 + 2, struct.pack("<BBHI", kind, 0, 0, len(data)) + sha)]
    for i, off in enumerate(range(0, len(data), 4096)):
        frames.append(encode_frame(BootOpcode.BL_WRITE, seq0 + 3 + i, struct.pack("<I", off) + data[off : off + 4096]))
    frames.append(encode_frame(BootOpcode.BL_FINISH, seq0 + 100))
    return frames


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.3 and len(b) > 2:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.5 and len(b) > 2:
            del b[rng.randrange(1, len(b) - 1)]
        elif op < 0.7:
            b.insert(rng.randrange(1, max(2, len(b))), rng.choice([0xC0, 0xDB, rng.randrange(256)]))
        elif op < 0.85:
            # a valid frame with a mutated payload (CRC recomputed): reaches the command handlers
            fr = decode_all(bytes(frame))
            if fr and isinstance(fr[0], Frame):
                p = bytearray(fr[0].payload)
                if p:
                    p[rng.randrange(len(p))] = rng.randrange(256)
                if rng.random() < 0.3:
                    p = p[: rng.randrange(len(p) + 1)]
                return encode_frame(fr[0].opcode if rng.random() < 0.8 else rng.randrange(0x40, 0x60),
                                    fr[0].seq, bytes(p))
        else:
            b = b[: rng.randrange(1, len(b) + 1)]
    return bytes(b)


def _random_frame(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    op = rng.choice([0x01, 0x02, 0x03, *range(0x40, 0x49), rng.randrange(256)])
    n = rng.choice([0, 1, 4, 12, 40, 104, rng.randint(0, 300)])
    payload = bytes(rng.randrange(256) for _ in range(n))
    if op == BootOpcode.BL_HASH and rng.random() < 0.5:
        payload = struct.pack("<BxxxII", rng.randrange(5), rng.randrange(1 << 24), rng.randrange(1 << 16))
    if op == BootOpcode.BL_ERASE and rng.random() < 0.7:
        payload = bytes([rng.randrange(5)])
    return encode_frame(op, rng.randrange(65536), payload)


def run_fuzz(exe: Path, f: Path, n_frames: int, seed: int, data: tuple[bytes, bytes]) -> dict:
    """Feed n_frames random / mutated frames; returns counts. No RESET frames (they would reboot)."""
    rng = random.Random(seed)
    app_frames = _valid_session(SlotKind.APP, data[0], 1000)
    model_frames = _valid_session(SlotKind.MODEL, data[1], 2000)
    stream = bytearray()
    kinds = {"random": 0, "mutated": 0, "valid": 0}
    for _ in range(n_frames):
        r = rng.random()
        if r < 0.45:
            fr = _random_frame(rng)
            kinds["random"] += 1
        elif r < 0.9:
            fr = _mutate(rng, rng.choice(app_frames + model_frames))
            kinds["mutated"] += 1
        else:
            fr = rng.choice(model_frames)
            kinds["valid"] += 1
        dec = decode_all(b"\xc0" + fr + b"\xc0")
        if any(isinstance(x, Frame) and x.opcode in (0x03, BootOpcode.BL_BOOT) for x in dec):
            continue
        stream += fr
    proc = subprocess.run([str(exe), "serve", str(f)], input=bytes(stream), capture_output=True, timeout=600)
    replies = decode_all(proc.stdout)
    return {"rc": proc.returncode, "stderr": proc.stderr.decode(), "replies": len(replies), **kinds,
            "bytes": len(stream), "naks": sum(1 for x in replies if isinstance(x, Frame) and x.status)}


def test_fuzz_10000_frames_no_crash_no_stray_write(exe: Path, models: tuple[Path, Path], tmp_path: Path) -> None:
    kws, hello = models
    f = tmp_path / "flash.img"
    app = app_bin(tmp_path / "app.bin", 9)
    link = HostLoader(exe, f)
    flash(link, [app, kws])
    link.close()
    before = f.read_bytes()
    res = run_fuzz(exe, f, 10_000, seed=1234, data=(random.Random(7).randbytes(9000), hello.read_bytes()))
    print(f"fuzz: {res}")
    assert res["rc"] == 0, res["stderr"]  # 3 would mean a write into a protected region; <0 a crash
    assert "violations=0" in res["stderr"]
    assert res["replies"] > 5000 and res["naks"] > 1000
    after = f.read_bytes()
    # The bootloader, the booting application and the active model are byte for byte unchanged ...
    assert after[:0x40000] == before[:0x40000]
    assert after[0x40000:0x240000] == before[0x40000:0x240000]
    assert after[0x440000:0x840000] == before[0x440000:0x840000] or slots_of(exe, f)[SlotRole.MODEL_B].active
    # ... and the board boots.
    assert check_boot(exe, f)
    s = slots_of(exe, f)
    assert s[SlotRole.APP_PRIMARY].sha256 == hashlib.sha256(app.read_bytes()).digest()
