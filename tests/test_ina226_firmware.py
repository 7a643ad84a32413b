"""The INA226 firmware half: the C driver (firmware/power/cim_ina226.c) against a simulated INA226 on
a simulated I2C bus (tests/c/ina226_sim.c, the chip's register behaviour from TI SBOS547), its $INA lines
read back by the host's parser (cimsdk.power.meters.ina226), and the streaming example built for both
real boards with their I2C pins from board data.

Expected values are the ones the script feeds the simulated chip; the host module's `format_line` is
the other implementation of the line format (Python), so the C and Python writers must agree byte for
byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cimsdk import project_root
from cimsdk.power.meters.ina226 import format_line, parse_line

ROOT = project_root()
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cc") is None:
        pytest.skip("needs a host C compiler")
    exe = tmp_path_factory.mktemp("ina") / "ina226_sim"
    power = ROOT / "firmware" / "power"
    subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{power}",
                    str(power / "cim_ina226.c"), str(ROOT / "tests" / "c" / "ina226_sim.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


def _run(exe: Path, script: str, addr: str = "40", manufacturer: str = "5449") -> list[str]:
    res = subprocess.run([str(exe), addr, manufacturer], input=script, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.replace("\r\n", "\n").splitlines()


def test_driver_streams_what_the_chip_converts(sim: Path) -> None:
    samples = [(1000, -1234, 9876, 1), (2000, 0, 0, 0), (3000, 32767, 32767, 1), (4_294_967_295, -32768, 1, 0),
               (17, 5, 2640, 1)]
    script = "config\npoll 5 0\n"  # no conversion yet: nothing to stream
    for t, shunt, bus, mark in samples:
        script += f"conv {shunt} {bus}\npoll {t} {mark}\npoll {t + 1} {mark}\n"  # the second finds CVRF cleared
    out = _run(sim, script)
    assert out[0] == "init 0" and out[1] == "config 0x4007" and out[2] == "none"
    lines = out[3:]
    assert lines[1::2] == ["none"] * len(samples)
    for line, (t, shunt, bus, mark) in zip(lines[0::2], samples, strict=True):
        assert parse_line(line.encode()) == (t, shunt, bus, mark)
        assert (line + "\r\n").encode() == format_line(t, shunt, bus, mark)  # C and Python agree


def test_driver_refuses_a_missing_or_foreign_chip(sim: Path) -> None:
    assert _run(sim, "", addr="41") == ["init -1"]  # nothing acknowledges 0x40
    assert _run(sim, "", manufacturer="1234") == ["init -2"]  # something else at 0x40
    assert _run(sim, "config\n", addr="41")[1] == "config 0x4127"  # ... and its configuration is left alone


@pytest.mark.skipif(shutil.which("riscv64-unknown-elf-gcc") is None, reason="needs riscv64 GCC")
@pytest.mark.parametrize("board", ["sipeed-longan-nano", "sifive-hifive1-revb"])
def test_streaming_example_builds_for_the_real_boards(board: str, tmp_path: Path) -> None:
    from cimsdk.build import build_firmware, load_board

    ina = load_board(board).section("ina226")
    assert {"gpio_family", "gpio_base", "sda_pin", "scl_pin"} <= set(ina)
    elf = build_firmware(tmp_path, board, app=ROOT / "firmware" / "examples" / "ina226", quiet=True)
    syms = subprocess.run(["riscv64-unknown-elf-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    for name in ("cim_i2c_gpio_xfer", "cim_ina226_init", "cim_ina226_sample_line", "main"):
        assert f" T {name}\n" in syms, name
    header = (tmp_path / "project" / "include" / "board_config.h").read_text()
    assert f"#define BOARD_I2C_GPIO_BASE 0x{ina['gpio_base']:08X}u" in header
    assert f"#define BOARD_I2C_SDA_PIN {ina['sda_pin']}u" in header
