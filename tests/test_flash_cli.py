"""`cimsdk flash` / `cimsdk sign` user errors: one line, exit status 2, through the installed CLI."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flash_helpers import convert


def cimsdk(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def kws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert("kws_ref_model.tflite", tmp_path_factory.mktemp("kws") / "kws")


def one_line_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_port_missing(kws: Path) -> None:
    one_line_error(cimsdk("flash", "--port", "/dev/ttyUSB-nope", str(kws)), "does not exist")


def test_nothing_listening(kws: Path) -> None:
    one_line_error(cimsdk("flash", "--port", "socket://127.0.0.1:9", str(kws)), "nothing is listening")


def test_permission_denied(kws: Path) -> None:
    """A real pty the user may not open. As root, the check only bites once root's DAC-override
    capabilities are dropped (setpriv), which is what a user outside the dialout group meets."""
    master, slave = pty.openpty()
    try:
        name = os.ttyname(slave)
        os.chmod(name, 0o600)
        cmd = [sys.executable, "-m", "cimsdk.cli", "flash", "--port", name, str(kws)]
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv: cannot take the DAC override away")
            os.chown(name, 65534, -1)
            drop = "-dac_override,-dac_read_search"
            cmd = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        one_line_error(p, "permission denied")
    finally:
        os.close(master)
        os.close(slave)


def test_device_not_answering(kws: Path) -> None:
    """A real pty with nobody behind it: the port opens, no frame ever comes back."""
    master, slave = pty.openpty()
    try:
        name = os.ttyname(slave)
        p = cimsdk("flash", "--port", name, "--timeout", "0.3", "--retries", "1", str(kws), timeout=120)
        one_line_error(p, "not answering")
    finally:
        os.close(master)
        os.close(slave)


def test_corrupt_and_foreign_images(kws: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.cimg"
    bad.write_bytes(kws.read_bytes()[:5000])
    one_line_error(cimsdk("flash", "--port", "/dev/null", str(bad)), "corrupt")
    flipped = bytearray(kws.read_bytes())
    flipped[3000] ^= 1
    bad.write_bytes(bytes(flipped))
    one_line_error(cimsdk("flash", "--port", "/dev/null", str(bad)), "corrupt")
    junk = tmp_path / "junk.hex"
    junk.write_text(":00000001FF\n")
    one_line_error(cimsdk("flash", "--port", "/dev/null", str(junk)), "not a firmware")


@pytest.mark.skipif(shutil.which("riscv64-unknown-elf-gcc") is None, reason="needs the RISC-V toolchain")
def test_firmware_for_another_board_or_layout(tmp_path: Path) -> None:
    from cimsdk.flash.build import build_bootloader

    # The bootloader itself is linked for 0x20000000, not for the application slot.
    elf = build_bootloader(tmp_path / "bl")
    one_line_error(cimsdk("flash", "--port", "/dev/null", str(elf)), "another board or layout")
    # A host (x86-64) executable.
    one_line_error(cimsdk("flash", "--port", "/dev/null", sys.executable if Path(sys.executable).read_bytes()[:4]
                          == b"\x7fELF" else "/bin/ls"), "board")


def test_package_for_another_board(kws: Path, tmp_path: Path) -> None:
    out = tmp_path / "kws.cpkg"
    key = tmp_path / "k.pem"
    assert cimsdk("sign", "--gen-key", str(key)).returncode == 0
    assert len(key.with_suffix(".pub").read_text().strip()) == 64
    p = cimsdk("sign", str(kws), "--key", str(key), "--board", "sipeed-longan-nano", "-o", str(out))
    assert p.returncode == 0, p.stderr
    one_line_error(cimsdk("flash", "--port", "/dev/null", str(out)), "sipeed-longan-nano")
    one_line_error(cimsdk("sign", "--gen-key", str(key)), "exists")
    one_line_error(cimsdk("sign", str(kws), "--key", str(tmp_path / "none.pem")), "does not exist")
