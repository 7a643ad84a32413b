"""`cimsdk demo` end to end, as a newcomer runs it: a subprocess in an empty folder.

Expected labels come from ../shared/README.md (measured with TFLM), not from cimsdk: yes -> Yes,
silence -> Silence. Leftover processes are found by PID: the test process becomes a child
subreaper, so anything the demo leaves running is re-parented to it and shows up in its children.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from leftovers import alive, run_and_find_leftovers

from cimsdk import project_root

SHARED = project_root().parent / "shared"


def _run_demo(cwd: Path, *args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess, set[int]]:
    """Run `cimsdk demo` in `cwd`; return its result and the PIDs it left running."""
    return run_and_find_leftovers([sys.executable, "-m", "cimsdk.cli", "demo", *args], cwd, timeout)


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                    reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain")
@pytest.mark.skipif(not (SHARED / "models" / "kws_ref_model.tflite").is_file(), reason="../shared missing")
@pytest.mark.parametrize("backend", [
    "mailbox",
    pytest.param("soft", marks=pytest.mark.slow),
])
def test_demo_classifies_on_device(tmp_path: Path, backend: str) -> None:
    args = ["--backend", backend] + (["--no-power"] if backend == "soft" else [])
    res, left = _run_demo(tmp_path, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not left, f"processes left running by the demo: {left}"

    out = tmp_path / "cimsdk-demo"
    data = json.loads((out / "results.json").read_text())
    by_file = {r["file"]: r for r in data["recordings"]}
    assert by_file["yes_1000ms.wav"]["label"] == "Yes"
    assert by_file["silence_1000ms.wav"]["label"] == "Silence"
    assert set(by_file) == {"yes_1000ms.wav", "no_1000ms.wav", "silence_1000ms.wav"}
    for r in data["recordings"]:
        assert r["golden_equal"], r
        assert r["cpu_instructions"] > 0 and r["cim_ops"] > 0 and r["energy_uj"] > 0
        if backend == "mailbox":
            assert r["macs"] > 1_000_000 and not r["count_problems"], r
    assert data["device"]["backend"] == backend
    for pid in data["processes"].values():  # the board's own processes, by PID
        assert pid is None or not alive(pid)

    # One printed line per recording, with the device's label.
    lines = res.stdout.splitlines()
    assert any("yes_1000ms.wav" in ln and " Yes " in ln for ln in lines), res.stdout
    assert any("silence_1000ms.wav" in ln and " Silence " in ln for ln in lines), res.stdout

    html = (out / "index.html").read_text()
    assert "yes_1000ms.wav" in html and "Macro utilization" in html and "data:image/png;base64," in html
    assert (out / "macro_utilization.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("model.cimg", "report.json", "firmware/firmware.elf"):
        assert (out / name).is_file(), name
    assert not list(tmp_path.glob(".cimsdk-demo.*")), "temporary output folder left behind"


def test_demo_bad_input_is_one_line(tmp_path: Path) -> None:
    """A missing recording is a user error: one line, exit 2, no traceback, no report folder."""
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "demo", "-i", "nope.wav"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith("error:") and "nope.wav" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "cimsdk-demo").exists()


def test_demo_rejects_unknown_backend(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "demo", "--backend", "fpga"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "fpga" in res.stderr
