"""A farm of two emulated boards on this machine through labgrid: a coordinator, an exporter publishing both
boards' UARTs (boards/labgrid/exporter-emulated.yaml), two places, and `cimsdk validate` run on each board
through labgrid (RemotePlace + CimsdkDriver, boards/labgrid/qemu-virt-rv32.yaml)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from leftovers import alive
from paths import MODELS

from cimsdk import project_root

pytest.importorskip("labgrid")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("labgrid-coordinator") is None,
                       reason="needs qemu-system-riscv32 and labgrid"),
]
LABGRID = project_root() / "boards" / "labgrid"
PLACES = ("cimsdk-emu-a", "cimsdk-emu-b")


def _client(coordinator: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["labgrid-client", "-x", coordinator, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"labgrid-client {' '.join(args)}: {r.stdout}{r.stderr}"
    return r


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(30)


def test_validate_on_two_emulated_boards_through_labgrid(tmp_path: Path) -> None:
    from cimsdk.build import build_firmware
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.emulator.board import free_port

    model = MODELS / "hello_world_int8.tflite"
    if not model.exists():
        pytest.skip(f"{model} missing")
    r = subprocess.run([sys.executable, "-m", "cimsdk.cli", "convert", str(model), "-o", str(tmp_path / "conv"),
                        "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    image = tmp_path / "conv" / "model.cimg"
    elf = build_firmware(tmp_path / "fw", board="qemu-virt-rv32", backend="mailbox", quiet=True)

    coordinator = f"127.0.0.1:{free_port()}"
    procs: list[subprocess.Popen] = []
    with EmulatedBoard(firmware=elf) as a, EmulatedBoard(firmware=elf) as b:
        try:
            procs.append(subprocess.Popen(["labgrid-coordinator", "-l", coordinator], cwd=tmp_path,
                                          stdout=subprocess.DEVNULL, stderr=open(tmp_path / "coord.log", "w")))
            env = dict(os.environ, CIMSDK_EMU_A_PORT=str(a.port), CIMSDK_EMU_B_PORT=str(b.port))
            procs.append(subprocess.Popen(
                ["labgrid-exporter", "-c", coordinator, "--name", "emu-host", "--hostname", "127.0.0.1",
                 str(LABGRID / "exporter-emulated.yaml")], cwd=tmp_path, env=env,
                stdout=subprocess.DEVNULL, stderr=open(tmp_path / "exporter.log", "w")))
            deadline = time.monotonic() + 180
            while True:  # the exporter registers both boards with the coordinator
                res = _client(coordinator, "resources", check=False)
                if all(f"emu-host/{p}/NetworkSerialPort" in res.stdout for p in PLACES):
                    break
                assert time.monotonic() < deadline, res.stdout + res.stderr + (tmp_path / "exporter.log").read_text()
                assert all(p.poll() is None for p in procs), (tmp_path / "exporter.log").read_text()
                time.sleep(1)
            for p in PLACES:
                _client(coordinator, "-p", p, "create")
                _client(coordinator, "-p", p, "add-match", f"emu-host/{p}/*")
                _client(coordinator, "-p", p, "acquire")
            out = tmp_path / "farm.json"
            r = subprocess.run(
                [sys.executable, "-m", "cimsdk.farm.validate", "--env", str(LABGRID / "qemu-virt-rv32.yaml"),
                 "--place", PLACES[0], "--place", PLACES[1], "--inputs", "4", "--json", str(out), str(image)],
                env=dict(os.environ, LG_COORDINATOR=coordinator), capture_output=True, text=True, timeout=900)
            assert r.returncode == 0, r.stdout + r.stderr
            reports = json.loads(out.read_text())
            assert [x["place"] for x in reports] == list(PLACES)
            assert sorted(x["port"] for x in reports) == sorted([a.url, b.url])
            for x in reports:
                assert x["passed"] and x["mismatching_elements"] == 0 and x["inputs"] == 4
                assert x["device"]["image_sha256"] == x["sha256"]
            assert "cimsdk-emu-a (socket://127.0.0.1:" in r.stdout and "cimsdk-emu-b (socket://" in r.stdout
            for p in PLACES:
                _client(coordinator, "-p", p, "release")
        finally:
            for p in reversed(procs):
                _stop(p)
    assert not any(alive(p.pid) for p in procs)
