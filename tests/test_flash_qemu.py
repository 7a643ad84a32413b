"""Flashing the emulated board over `socket://`: the real bootloader (XIP from QEMU's CFI flash),
the real console firmware linked for the primary slot, real weight images, persistent flash.

- KWS firmware + image flashed, board reset, inference checked against the host golden model
  (`cimsdk validate`); then another model's image only, checked the same way; QEMU restarted
  on the same flash file; --erase starts from a blank flash.
- Fault injection through a seeded TCP proxy (drops, corrupts, duplicates, cuts): every attempt
  ends with the new image or the previous one booting; the tally is printed.
- A tampered signed image is refused and the previous image still boots.
- A short fuzz run against the bootloader on QEMU.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cimsdk.cli import cli
from cimsdk.device import Device
from cimsdk.flash.client import Bootloader
from cimsdk.flash.layout import SlotRole
from cimsdk.protocol.constants import ROLE_APP, ROLE_BOOTLOADER
from tests.flash_helpers import convert
from tests.reliability_helpers import running_image

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                       reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain"),
]
BACKEND = "soft"


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from cimsdk.flash.build import build_bootloader, build_slot_app

    d = tmp_path_factory.mktemp("flashbuild")
    return {
        "bootloader": build_bootloader(d / "bl").with_suffix(".bin"),
        "app": build_slot_app(d / "app", backend=BACKEND),
        "kws": convert("kws_ref_model.tflite", d / "kws"),
        "speech": convert("micro_speech_quantized.tflite", d / "speech"),
    }


def board(flash_file: Path, **kw):
    from cimsdk.emulator import EmulatedBoard

    return EmulatedBoard(flash=flash_file, backend=BACKEND, icount=False, **kw)


def wait_role(url: str | Bootloader, role: int, timeout: float = 30.0) -> None:
    dev = url if isinstance(url, Device) else Device(url, timeout=2.0, retries=1)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    try:
        while time.monotonic() < deadline:
            try:
                if dev.ping()["role"] == role:
                    return
            except Exception as exc:  # noqa: BLE001 - rebooting board: keep asking
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"board did not answer as role {role} within {timeout} s ({last})")
    finally:
        if dev is not url:
            dev.close()


def run_cli(args: list[str]) -> tuple[int, str]:
    """Exit status and text as the installed CLI reports them (a UserError is status 2, one line)."""
    from cimconv.errors import UserError

    res = CliRunner().invoke(cli, args, standalone_mode=False)
    if isinstance(res.exception, UserError):
        return 2, str(res.exception)
    assert res.exception is None, res.exception
    return res.exit_code, res.output


def validate(url: str, image: Path, n: int = 5) -> str:
    res = CliRunner().invoke(cli, ["validate", "--port", url, str(image), "--inputs", str(n)], standalone_mode=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_flash_kws_then_model_only_persistent(builds: dict[str, Path], tmp_path: Path) -> None:
    from cimsdk.flash.build import prepare_flash

    f = prepare_flash(tmp_path / "flash.img", builds["bootloader"], erase=True)
    kws_sha = hashlib.sha256(builds["kws"].read_bytes()).hexdigest()
    speech_sha = hashlib.sha256(builds["speech"].read_bytes()).hexdigest()
    with board(f) as b:
        res = CliRunner().invoke(cli, ["flash", "--port", b.url, "--verify", "-q", str(builds["app"]),
                                       str(builds["kws"])], standalone_mode=False)
        assert res.exit_code == 0, res.output
        assert "flashed 2 image(s)" in res.output
        wait_role(b.url, ROLE_APP)  # reset into the new application
        with Device(b.url) as dev:
            info = dev.info()
        assert info.image_loaded and info.image_sha256 == kws_sha  # the app runs the image from its flash slot
        out = validate(b.url, builds["kws"])
        assert "already on device" in out  # nothing uploaded to RAM: the model came from flash
        # A different model, image only: the app keeps running from its slot.
        res = CliRunner().invoke(cli, ["flash", "--port", b.url, "-q", str(builds["app"]), str(builds["speech"])],
                                 standalone_mode=False)
        assert res.exit_code == 0, res.output
        assert "skipped 1" in res.output  # same firmware: hash compare, not re-sent
        wait_role(b.url, ROLE_APP)
        with Device(b.url) as dev:
            assert dev.info().image_sha256 == speech_sha
        validate(b.url, builds["speech"])
    # QEMU restarted on the same flash file: the board boots what was flashed. The link stays
    # silent for a second so the bootloader's window (a frame in it keeps the bootloader) passes.
    from cimsdk.transport import Transport

    with board(f) as b:
        with Device(Transport(b.url)) as dev:
            time.sleep(1.0)
            assert dev.ping()["role"] == ROLE_APP
            assert dev.info().image_sha256 == speech_sha
        with Bootloader(b.url) as bl:
            bl.enter()
            slots = bl.slots()
        assert slots[SlotRole.MODEL_A].sha256.hex() == kws_sha and not slots[SlotRole.MODEL_A].active
        assert slots[SlotRole.MODEL_B].sha256.hex() == speech_sha and slots[SlotRole.MODEL_B].active
    # --erase: a blank flash with only the bootloader, which stays in charge.
    prepare_flash(f, builds["bootloader"], erase=True)
    with board(f) as b, Bootloader(b.url) as bl:
        time.sleep(0.5)
        assert bl.ping()["role"] == ROLE_BOOTLOADER
        assert all(s.size == 0 for s in bl.slots())


def _check_board(url: str, shas: dict[str, str]) -> str:
    """After an attempt: reset the board over a clean link; which image runs? ('new'/'previous'/'unbootable')."""
    outcome = running_image(url, shas)
    return "unbootable" if outcome == "no-image" else outcome


def fault_injection(builds: dict[str, Path], tmp_path: Path, attempts: int, seed: int) -> dict[str, int]:
    from cimsdk.flash.build import prepare_flash
    from cimsdk.flash.flasher import flash
    from cimsdk.testing.faultproxy import FaultProxy

    f = prepare_flash(tmp_path / "flash.img", builds["bootloader"], erase=True)
    models = [builds["kws"], builds["speech"]]
    sha = [hashlib.sha256(m.read_bytes()).hexdigest() for m in models]
    rng = random.Random(seed)
    tally = {"new": 0, "previous": 0, "unbootable": 0, "unknown": 0, "flash_ok": 0, "flash_failed": 0}
    with board(f) as b:
        flash(b.url, [builds["app"], models[0]])
        current = 0
        proxy = FaultProxy(("127.0.0.1", b.port))
        try:
            for i in range(attempts):
                new = 1 - current
                proxy.configure(seed=rng.randrange(1 << 30), drop=rng.choice([0, 1e-5, 1e-4, 5e-4]),
                                corrupt=rng.choice([0, 1e-5, 1e-4, 5e-4]), duplicate=rng.choice([0, 1e-5, 1e-4, 5e-4]),
                                cut_every=rng.choice([0, 20_000, 60_000]),
                                blackout_after=rng.randrange(1000, 40_000) if i % 4 == 3 else 0)
                files = [models[new]] if i % 10 else [builds["app"], models[new]]
                try:
                    flash(proxy.url, files, force=i % 10 == 0, timeout=1.0, retries=3,
                          max_sessions=2 if i % 4 == 3 else 6, open_timeout=2.0)
                    tally["flash_ok"] += 1
                except Exception:  # noqa: BLE001 - a failed flash is allowed; an unbootable board is not
                    tally["flash_failed"] += 1
                proxy.enabled = False
                outcome = _check_board(proxy.url, {"new": sha[new], "previous": sha[current]})
                proxy.enabled = True
                tally[outcome] += 1
                if outcome == "new":
                    current = new
                if outcome in ("unbootable", "unknown"):
                    break
        finally:
            proxy.close()
        tally.update({f"link_{k}": v for k, v in proxy.stats.__dict__.items() if k != "lock"})
    print(f"\nfault injection, {attempts} attempts (seed {seed}): {tally}")
    return tally


def test_fault_injection_short(builds: dict[str, Path], tmp_path: Path) -> None:
    n = int(os.environ.get("CIMSDK_FLASH_FAULT_ATTEMPTS", "10"))  # the slow test below makes 200
    t = fault_injection(builds, tmp_path, n, seed=42)
    assert t["unbootable"] == 0 and t["unknown"] == 0
    assert t["new"] + t["previous"] == n
    assert t["new"] > 0 and t["previous"] > 0 and t["link_dropped"] + t["link_corrupted"] + t["link_duplicated"] + t["link_cuts"] > 0


@pytest.mark.slow
def test_fault_injection_200(builds: dict[str, Path], tmp_path: Path) -> None:
    t = fault_injection(builds, tmp_path, 200, seed=2024)
    assert t["unbootable"] == 0 and t["unknown"] == 0
    assert t["new"] + t["previous"] == 200 and t["new"] > 0 and t["previous"] > 0


def test_tampered_signed_image_refused_on_qemu(builds: dict[str, Path], tmp_path: Path) -> None:
    from cimsdk.flash.build import build_bootloader, prepare_flash

    key = tmp_path / "key.pem"
    res = CliRunner().invoke(cli, ["sign", "--gen-key", str(key)], standalone_mode=False)
    assert res.exit_code == 0, res.output
    pub = bytes.fromhex(key.with_suffix(".pub").read_text().strip())
    bl_bin = build_bootloader(tmp_path / "bl", pubkey=pub, signed_only=True).with_suffix(".bin")
    f = prepare_flash(tmp_path / "flash.img", bl_bin, erase=True)
    pkgs = {}
    for name in ("app", "kws", "speech"):
        out = tmp_path / f"{name}.cpkg"
        res = CliRunner().invoke(cli, ["sign", str(builds[name]), "--key", str(key), "-o", str(out)],
                                 standalone_mode=False)
        assert res.exit_code == 0, res.output
        pkgs[name] = out
    raw = bytearray(pkgs["speech"].read_bytes())
    raw[-50] ^= 0x01  # tamper with the payload and fix up the package hash: only the signature can tell
    import struct

    size = struct.unpack_from("<I", raw, 8)[0]
    raw[12:44] = hashlib.sha256(bytes(raw[-size:])).digest()
    tampered = tmp_path / "tampered.cpkg"
    tampered.write_bytes(bytes(raw))
    kws_sha = hashlib.sha256(builds["kws"].read_bytes()).hexdigest()
    with board(f) as b:
        code, text = run_cli(["flash", "--port", b.url, "-q", str(builds["kws"])])
        assert code == 2 and "only boots signed" in text  # unsigned: refused up front
        res = CliRunner().invoke(cli, ["flash", "--port", b.url, "-q", str(pkgs["app"]), str(pkgs["kws"])],
                                 standalone_mode=False)
        assert res.exit_code == 0, res.output
        wait_role(b.url, ROLE_APP)
        code, text = run_cli(["flash", "--port", b.url, "-q", str(tampered)])
        assert code == 2 and "ERR_SIGNATURE" in text, text
        with Bootloader(b.url) as bl:
            bl.enter()
            bl.boot()
        wait_role(b.url, ROLE_APP)
        with Device(b.url) as dev:
            assert dev.info().image_sha256 == kws_sha  # the previous image still boots
        validate(b.url, builds["kws"], n=2)


def test_fuzz_bootloader_on_qemu(builds: dict[str, Path], tmp_path: Path) -> None:
    from cimsdk.flash.build import prepare_flash
    from cimsdk.flash.flasher import flash
    from cimsdk.protocol import decode_all, encode_frame
    from tests.test_flash_host import _mutate, _random_frame, _valid_session

    f = prepare_flash(tmp_path / "flash.img", builds["bootloader"], erase=True)
    rng = random.Random(77)
    valid = _valid_session(1, rng.randbytes(1500), 10) + _valid_session(2, rng.randbytes(2500), 500)
    with board(f) as b:
        flash(b.url, [builds["app"], builds["kws"]], reset=False)
        with Bootloader(b.url, timeout=3.0) as bl:
            bl.enter()
            before = bl.slots()
            sent = silent = 0
            for _ in range(400):
                fr = _random_frame(rng) if rng.random() < 0.5 else _mutate(rng, rng.choice(valid))
                if any(getattr(x, "opcode", None) in (0x03, 0x46, 0x47) for x in decode_all(b"\xc0" + fr + b"\xc0")):
                    continue
                bl.transport.write(fr)
                sent += 1
                # paced: a PING after every frame must be answered, so the bootloader never hangs
                bl.transport.write(encode_frame(0x01, 0xFFFF, b""))
                got, deadline = b"", time.monotonic() + 10.0
                while not any(getattr(x, "seq", None) == 0xFFFF and getattr(x, "status", 1) == 0
                              for x in decode_all(got)):
                    assert time.monotonic() < deadline, f"bootloader hung after frame {sent}: {fr[:32].hex()}"
                    got += bl.transport.read(0.2)
                silent += 0 if len(decode_all(got)) > 1 else 1
            print(f"QEMU fuzz: {sent} frames, {silent} without a reply of their own (noise, runts)")
            time.sleep(1.0)
            bl.transport.drain_input()
            bl._decoder.reset()
            assert bl.ping()["role"] == ROLE_BOOTLOADER  # no hang, no crash
            after = bl.slots()
            assert after[SlotRole.APP_PRIMARY].sha256 == before[SlotRole.APP_PRIMARY].sha256
            assert after[SlotRole.MODEL_A].sha256 == before[SlotRole.MODEL_A].sha256
            bl.boot()
        wait_role(b.url, ROLE_APP)
        with Device(b.url) as dev:
            assert dev.info().image_sha256 == hashlib.sha256(builds["kws"].read_bytes()).hexdigest() or \
                dev.info().image_sha256 == hashlib.sha256(builds["speech"].read_bytes()).hexdigest()
