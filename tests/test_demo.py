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


needs_board = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                       reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain"),
    pytest.mark.skipif(not (SHARED / "models" / "kws_ref_model.tflite").is_file(), reason="../shared missing"),
]


@pytest.fixture(scope="module", params=["mailbox", pytest.param("soft", marks=pytest.mark.slow)])
def demo(request, tmp_path_factory) -> tuple[str, Path, subprocess.CompletedProcess, set[int]]:
    """One `cimsdk demo` per backend in an empty folder: (backend, folder, result, leftover PIDs)."""
    backend = request.param
    cwd = tmp_path_factory.mktemp(f"demo-{backend}")
    args = ["--backend", backend] + (["--no-power"] if backend == "soft" else [])
    res, left = _run_demo(cwd, *args)
    return backend, cwd, res, left


def on_board(test):
    """The marks of a test that runs the demo on the emulated board."""
    for mark in needs_board:
        test = mark(test)
    return test


@on_board
def test_demo_classifies_on_device(demo) -> None:
    backend, tmp_path, res, left = demo
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
    for png in ("macro_utilization.png", "layers.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    for name in ("model.cimg", "report.json", "firmware/firmware.elf"):
        assert (out / name).is_file(), name
    assert not list(tmp_path.glob(".cimsdk-demo.*")), "temporary output folder left behind"


@on_board
def test_demo_reconciles(demo) -> None:
    """Issue 16: one table, converter / counters / meter, with the differences explained; the converter
    and counter estimates within 5 %, the meter within 1 % of the counters it was fed from."""
    backend, tmp_path, res, _ = demo
    assert res.returncode == 0, res.stdout + res.stderr
    out = tmp_path / "cimsdk-demo"
    data = json.loads((out / "results.json").read_text())
    rows = {r["source"]: r for r in data["reconciliation"]["rows"]}
    if backend == "soft":
        assert set(rows) == {"counters"} and rows["counters"]["cim_uj"] == 0
        return
    assert set(rows) == {"converter", "counters", "meter"}
    assert rows["counters"]["total_uj"] == pytest.approx(rows["converter"]["total_uj"], rel=0.05)
    assert rows["meter"]["total_uj"] == pytest.approx(rows["counters"]["total_uj"], rel=0.01)
    assert rows["counters"]["cim_uj"] == rows["converter"]["cim_uj"]  # the coprocessor counted the model's ops
    diffs = data["reconciliation"]["differences"]
    assert [d["between"] for d in diffs] == [["counters", "converter"], ["meter", "counters"]]
    assert all(d["why"] for d in diffs)
    # The same model on the CPU alone costs more; TFLM's arena is there to compare with.
    soft = data["baseline_soft"]
    assert soft["golden_equal"] and soft["energy"]["total_uj"] > 10 * rows["counters"]["total_uj"]
    assert data["tflm"]["arena_bytes"] > 0
    # No host-speed figure on the page: the polling count is not shown.
    html = (out / "index.html").read_text()
    assert 'id="reconciliation"' in html and html.count("<tr data-source=") == 3
    for r in data["recordings"]:
        assert f"{r['host_wait_instructions']:,}" not in html


@on_board
def test_demo_figures_trace_to_the_docs(demo) -> None:
    from report_formulas import check_traceable

    _, tmp_path, res, _ = demo
    assert res.returncode == 0, res.stdout + res.stderr
    html = (tmp_path / "cimsdk-demo" / "index.html").read_text()
    assert check_traceable(html) == []


@on_board
def test_demo_page_screenshot(demo) -> None:
    """The page renders in headless Chromium: a non-blank screenshot of a page holding the table."""
    from report_formulas import chromium, screenshot

    if chromium() is None:
        pytest.skip("needs chromium (apt install chromium)")
    _, tmp_path, res, _ = demo
    assert res.returncode == 0, res.stdout + res.stderr
    page = tmp_path / "cimsdk-demo" / "index.html"
    assert '<table class="reconciliation" id="reconciliation">' in page.read_text()
    px = screenshot(page, tmp_path / "screenshot.png")
    assert px.shape[0] >= 2000 and px.shape[1] >= 1000
    assert px.std() > 20 and (px < 100).mean() > 0.003  # text, tables and charts, not a blank canvas
    # The table on its own, with the page's style: it renders to rows of text, not to nothing.
    html = page.read_text()
    style = html[html.index("<style>"):html.index("</style>") + len("</style>")]
    table = html[html.index('<table class="reconciliation"'):html.index("</table>", html.index(
        '<table class="reconciliation"')) + len("</table>")]
    alone = tmp_path / "reconciliation.html"
    alone.write_text(f"<!doctype html><html><head><meta charset=utf-8>{style}</head><body>{table}</body></html>")
    px = screenshot(alone, tmp_path / "reconciliation.png", height=400)
    ink = (px < 128).any(axis=1)  # rows of the screenshot holding dark pixels (text)
    assert ink.sum() > 30 and px.std() > 15, "the reconciliation table did not render"


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
    assert res.returncode == 64 and "fpga" in res.stderr  # not one of the choices: a usage error
