"""The two real boards' flash path, as far as it goes without the boards: their flash layouts
(boards/<name>/board.toml [flash_layout]) are consistent with the boards' memory maps; the bootloader and
a slot application cross-build and link inside the documented regions (checked on the ELF program
headers, read with riscv64-unknown-elf-readelf, not with cimsdk); and the bootloader core, built for
the host with each board's flash geometry, takes a real flash session from the real flasher (the app
and a model land at the documented offsets, the board boots, a power cut mid-upload keeps the previous
app).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from cimsdk import project_root
from tests.flash_helpers import convert

ROOT = project_root()
REAL = ["sipeed-longan-nano", "sifive-hifive1-revb"]
HELLO = ROOT / "firmware" / "examples" / "hello"
HEADER = 256  # slot header (docs/bootloader.md)
needs_cross = pytest.mark.skipif(shutil.which("riscv64-unknown-elf-gcc") is None, reason="needs riscv64 GCC")


def _toml(board: str) -> dict:
    return tomllib.loads((ROOT / "boards" / board / "board.toml").read_text())


def _slots(board: str) -> dict[str, tuple[int, int]]:
    return {s["role"]: (s["offset"], s["size"]) for s in _toml(board)["flash_layout"]["slots"]}


@pytest.mark.parametrize("board", REAL)
def test_layout_fits_the_board(board: str) -> None:
    d = _toml(board)
    fl, flash, ram = d["flash_layout"], d["memory"]["flash"], d["memory"]["ram"]
    regions = [(0, fl["bootloader_size"])] + [s for s in _slots(board).values()]
    assert list(_slots(board)) == ["APP_PRIMARY", "APP_STAGING", "MODEL_A", "MODEL_B"]
    for (off, size), (nxt, _) in zip(regions, regions[1:], strict=False):
        assert off + size <= nxt  # in order, no overlap
    for off, size in regions:
        assert off % fl["sector"] == 0 and size % fl["sector"] == 0  # whole erase sectors
    assert regions[-1][0] + regions[-1][1] <= flash["length"]
    assert ram["origin"] <= fl["boot_req_addr"] < ram["origin"] + ram["length"]


def _sections(elf: Path) -> list[tuple[str, int, int, int, bool]]:
    """(name, size, vma, lma, stored in the file) of each allocated section, from objdump -h."""
    out = subprocess.run(["riscv64-unknown-elf-objdump", "-h", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    rows = re.findall(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+\S+\n\s+(.*)$",
                      out, re.M)
    secs = [(n, int(size, 16), int(vma, 16), int(lma, 16), "LOAD" in flags)
            for n, size, vma, lma, flags in rows if "ALLOC" in flags]
    assert secs, out
    return secs


def _entry(elf: Path) -> int:
    out = subprocess.run(["riscv64-unknown-elf-readelf", "-hW", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"Entry point address:\s+(0x[0-9a-f]+)", out).group(1), 16)


def _symbol(elf: Path, name: str) -> int:
    out = subprocess.run(["riscv64-unknown-elf-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    m = re.search(rf"^([0-9a-f]+) \w {re.escape(name)}$", out, re.M)
    assert m, f"{name} not in {elf}"
    return int(m.group(1), 16)


def _check_inside(elf: Path, board: str, flash_lo: int, flash_hi: int) -> None:
    """Every byte stored in flash lies in [flash_lo, flash_hi); everything in RAM below the boot word."""
    d = _toml(board)
    ram_lo, boot_req = d["memory"]["ram"]["origin"], d["flash_layout"]["boot_req_addr"]
    ram_hi = ram_lo + d["memory"]["ram"]["length"]
    for name, size, vma, lma, stored in _sections(elf):
        if size == 0:
            continue
        if stored:
            assert flash_lo <= lma and lma + size <= flash_hi, (name, hex(lma), size)
        if ram_lo <= vma < ram_hi:
            assert vma + size <= boot_req, (name, hex(vma), size)
        else:
            assert flash_lo <= vma and vma + size <= flash_hi, (name, hex(vma), size)


@needs_cross
@pytest.mark.parametrize("board", REAL)
def test_bootloader_builds_inside_its_region(board: str, tmp_path: Path) -> None:
    from cimsdk.flash.build import build_bootloader

    elf = build_bootloader(tmp_path, board)
    d = _toml(board)
    base, size = d["memory"]["flash"]["origin"], d["flash_layout"]["bootloader_size"]
    assert _entry(elf) == base  # the reset / factory-bootloader jump address
    _check_inside(elf, board, base, base + size)
    assert (tmp_path / "bootloader.bin").stat().st_size <= size
    # The flash driver's routines execute from RAM (.ramfunc), not from the flash they program.
    ram = d["memory"]["ram"]
    routine = {"sipeed-longan-nano": "fmc_program_words", "sifive-hifive1-revb": "spi_program"}[board]
    assert ram["origin"] <= _symbol(elf, routine) < ram["origin"] + ram["length"]
    mapfile = (tmp_path / "bootloader.map").read_text()
    assert f"0x{base:016x}" in mapfile.lower() or f"0x{base:08x}" in mapfile.lower()


@pytest.fixture(scope="module", params=REAL)
def slot_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        pytest.skip("needs riscv64 GCC")
    from cimsdk.flash.build import build_slot_app

    board = request.param
    return board, build_slot_app(tmp_path_factory.mktemp(f"slot-{board}"), board, app=HELLO)


def test_slot_app_links_inside_the_primary_slot(slot_app: tuple[str, Path]) -> None:
    board, elf = slot_app
    base = _toml(board)["memory"]["flash"]["origin"]
    off, size = _slots(board)["APP_PRIMARY"]
    assert _entry(elf) == base + off + HEADER
    _check_inside(elf, board, base + off + HEADER, base + off + size)


def test_host_bootloader_with_board_geometry(slot_app: tuple[str, Path], tmp_path: Path) -> None:
    """The flasher against the bootloader core built with this board's flash geometry."""
    from cimsdk.flash.build import build_host_bootloader
    from cimsdk.flash.client import Bootloader
    from cimsdk.flash.flasher import flash
    from cimsdk.flash.layout import SlotKind, SlotRole, SlotState
    from cimsdk.flash.package import elf_to_image, read_flash_image
    from cimsdk.testing.flash_host import HostLoader, check_boot

    board, elf = slot_app
    d = _toml(board)
    exe = build_host_bootloader(tmp_path / "bl", board)
    model = convert("hello_world_int8.tflite", tmp_path / "hello")
    f = tmp_path / "flash.img"
    link = HostLoader(exe, f)
    rep = flash(link, [elf, model], board=board, verify=True)
    assert link.close() == 0, link.stderr  # 0: no write outside the slots the session may touch
    assert [r.verified for r in rep.results] == [True, True]
    raw = f.read_bytes()
    assert len(raw) == d["memory"]["flash"]["length"]
    app = elf_to_image(elf, elf.read_bytes())[0]
    off = _slots(board)["APP_PRIMARY"][0]
    assert raw[off + HEADER : off + HEADER + len(app)] == app  # at the documented place
    moff = _slots(board)["MODEL_A"][0]
    assert raw[moff + HEADER : moff + HEADER + model.stat().st_size] == model.read_bytes()
    assert check_boot(exe, f)

    link = HostLoader(exe, f)
    with Bootloader(link, timeout=2.0) as bl:
        bl.enter()
        info = bl.loader_info()
        slots = bl.slots()
    link.close()
    assert info.board == board and info.app_entry == d["memory"]["flash"]["origin"] + off + HEADER
    assert slots[SlotRole.APP_PRIMARY].state == SlotState.VALID
    assert slots[SlotRole.APP_PRIMARY].sha256 == hashlib.sha256(app).digest()

    # A power cut halfway through the next app upload: the board still boots the previous app.
    img2 = read_flash_image(elf, board)
    data2 = bytes(b ^ 0x5A for b in img2.data)
    link = HostLoader(exe, f)
    bl = Bootloader(link, timeout=2.0)
    bl.enter()
    bl.begin(SlotKind.APP, len(data2), hashlib.sha256(data2).digest())
    for o in range(0, len(data2) // 2, 1024):
        bl.write(o, data2[o : o + 1024])
    link.kill()
    assert check_boot(exe, f)
    assert f.read_bytes()[off + HEADER : off + HEADER + len(app)] == app


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "-m", "cimsdk", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@needs_cross
def test_bootloader_install_plans(tmp_path: Path) -> None:
    """The first-programming commands name the right tool, file and address (dry run: no board here)."""
    res = _cli("bootloader", "install", "--board", "sipeed-longan-nano", "-o", "bl", "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "dfu-util -d 28e9:0189 -a 0 -s 0x08000000:leave -D " in res.stdout
    assert str(tmp_path / "bl" / "bootloader.bin") in res.stdout
    hexfile = (tmp_path / "bl" / "bootloader.hex").read_text().splitlines()
    assert hexfile[0] == ":020000040800F2" and hexfile[-1] == ":00000001FF"  # Intel HEX at 0x0800_0000
    res = _cli("bootloader", "install", "--board", "sifive-hifive1-revb", "-o", "bl2", "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"program {tmp_path / 'bl2' / 'bootloader.elf'} verify reset exit" in res.stdout
    assert "-f board/sifive-hifive1-revb.cfg" in res.stdout


@needs_cross
@pytest.mark.parametrize("board,tool", [("sipeed-longan-nano", "dfu-util"), ("sifive-hifive1-revb", "openocd")])
def test_bootloader_install_without_the_board_is_one_line(board: str, tool: str, tmp_path: Path) -> None:
    """No board attached (or no tool): one line saying what to do, exit 2, no traceback."""
    res = _cli("bootloader", "install", "--board", board, "-o", "bl", cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    err = res.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    if shutil.which(tool) is None:
        assert f"{tool} not found: sudo apt-get install" in err
    else:
        assert f"{tool} failed:" in err


def test_emulated_board_has_no_first_programming(tmp_path: Path) -> None:
    res = _cli("bootloader", "install", "--board", "qemu-virt-rv32", cwd=tmp_path)
    assert res.returncode == 2 and "no [first_program]" in res.stderr, res.stderr
