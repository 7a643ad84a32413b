"""Shared pieces of the reliability suites (tests/test_flash_faults.py, tests/test_fuzz_console.py):
builds cached for the whole session, emulated boards booting from a flash file, and the one
question every fault test asks afterwards: which image does the board run now?"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from cimsdk.device import Device
from cimsdk.protocol.constants import ROLE_BOOTLOADER
from cimsdk.transport import DeviceNotAnswering
from tests.flash_helpers import convert

BACKENDS = ("soft", "mailbox")

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
    reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain")

_cache: dict[tuple[str, str], Path] = {}


def cached(key: tuple[str, str], make) -> Path:
    """One build per session, whichever test module asks first."""
    if key not in _cache:
        _cache[key] = make()
    return _cache[key]


def bootloader_bin(tmp: pytest.TempPathFactory) -> Path:
    from cimsdk.flash.build import build_bootloader

    return cached(("bootloader", ""), lambda: build_bootloader(tmp.mktemp("bl")).with_suffix(".bin"))


def slot_app(tmp: pytest.TempPathFactory, backend: str) -> Path:
    from cimsdk.flash.build import build_slot_app

    return cached(("slot_app", backend), lambda: build_slot_app(tmp.mktemp(f"app_{backend}"), backend=backend))


def app_firmware(tmp: pytest.TempPathFactory, backend: str) -> Path:
    """The plain console application (image over the link into RAM), no bootloader."""
    from cimsdk.build import build_firmware

    return cached(("app", backend), lambda: build_firmware(tmp.mktemp(f"fw_{backend}"), board="qemu-virt-rv32",
                                                           backend=backend, quiet=True))


def model(tmp: pytest.TempPathFactory, name: str) -> Path:
    return cached(("model", name), lambda: convert(name, tmp.mktemp(Path(name).stem)))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def board(flash_file: Path, backend: str, **kw):
    from cimsdk.emulator import EmulatedBoard

    return EmulatedBoard(flash=flash_file, backend=backend, icount=False, **kw)


def wait_role(url: str, role: int, timeout: float = 30.0) -> None:
    """Until PING answers with `role` (the board may be rebooting)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    with Device(url, timeout=2.0, retries=1) as dev:
        while time.monotonic() < deadline:
            try:
                if dev.ping()["role"] == role:
                    return
            except Exception as exc:  # noqa: BLE001 - rebooting board: keep asking
                last = exc
            time.sleep(0.2)
    raise AssertionError(f"board did not answer as role {role} within {timeout} s ({last})")


#: How long a board may take to start its application after a flash attempt. A starved emulated
#: board (load 10-19 on 2 cores) can spend many seconds on frames a failed flasher left on the link
#: (each resent chunk a flash program, each resent FINISH a hash) before it reads ours.
SETTLE_S = 120.0


def running_image(url: str, shas: dict[str, str], timeout: float = SETTLE_S) -> str:
    """Reset a board held in its bootloader, then name the image its application runs:
    a key of `shas`, 'no-image' (the application runs without a model), 'unknown' (another image) or
    'unbootable' (at the deadline the board still answers as its bootloader, or not at all).

    Both programs answer INFO with their role, so INFO is asked until the application answers, and
    the bootloader is reset whenever it answers. One short PING used to decide whether to reset: a
    board still busy with the failed flasher's frames missed it and was never reset ('unbootable'),
    and an INFO answered by the bootloader was read as an application without a model."""
    from cimsdk.flash.client import Bootloader

    deadline = time.monotonic() + timeout
    with Bootloader(url, timeout=3.0, retries=0) as bl:
        while time.monotonic() < deadline:
            try:
                info = bl.info()
            except DeviceNotAnswering:
                continue  # busy or rebooting: ask again (the deadline bounds it)
            if info.role == ROLE_BOOTLOADER:
                bl.boot()
                continue
            if not info.image_loaded:
                return "no-image"
            return next((k for k, v in shas.items() if v == info.image_sha256), "unknown")
    return "unbootable"
