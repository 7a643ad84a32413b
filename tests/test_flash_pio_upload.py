"""`pio run -t upload` flashes through `cimsdk flash`: the PlatformIO project that `cimsdk firmware
build --layout slot` generates uploads into the emulated board's bootloader, which then boots the app."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("pio") is None,
                       reason="needs qemu-system-riscv32 and PlatformIO"),
]


def test_pio_upload_goes_through_cimsdk_flash(tmp_path):
    from cimsdk.build import build_firmware
    from cimsdk.device import Device
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.flash.build import build_bootloader, prepare_flash

    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", "soft", layout="slot", quiet=True)
    flash = prepare_flash(tmp_path / "flash.img", build_bootloader(tmp_path / "bl").with_suffix(".bin"), erase=True)
    with EmulatedBoard(flash=flash, backend="soft", icount=False, wait_for_client=False) as board:
        with Device(board.url, timeout=3.0) as dev:
            assert dev.info().role == 1  # an erased board runs the bootloader only
        res = subprocess.run(["pio", "run", "-t", "upload", "--upload-port", board.url],
                             cwd=elf.parent.parent / "project", capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert "cimsdk" in res.stdout and "flashed 1 image" in res.stdout
        with Device(board.url, timeout=5.0) as dev:
            info = dev.info()
            assert (info.role, info.backend) == (0, "soft")  # the uploaded application runs from its slot
