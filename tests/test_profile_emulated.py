"""`cimsdk profile --meter emulated` against the emulated board, end to end (issue 5 must-shows).

The board is started the way a user starts it, `cimsdk emulate` in its own process, and the profiler
only has its UART (`socket://`): the emulated meter learns the activity from the counters the
device reports after each marked inference. Expected values come from outside the code under test:
the converter's report (its counts and `totals.energy_uj`), the target and board TOML files, and the
coprocessor's own counters in the shared mailbox window.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cimconv.errors import UserError
from cimsdk import procs, project_root
from cimsdk.power.emulated_activity import ImageActivity, InferenceCounters, inference_segments

SHARED = project_root().parent / "shared"
KWS = SHARED / "models" / "kws_ref_model.tflite"
RECORDING = SHARED / "data" / "yes_1000ms.wav"
TARGETS = ("nor-acim", "sram-dcim")
REPORT_KEYS = ("avg_mw", "peak_mw", "idle_mw", "uj_per_inference", "inference_ms", "windows", "meter",
               "sample_rate_hz")
N = 4

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
    reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain")


# -- helpers ----------------------------------------------------------------------------------------
def _cli(*args: str) -> str:
    from click.testing import CliRunner

    from cimsdk.cli import cli

    res = CliRunner().invoke(cli, list(args), standalone_mode=False)
    assert res.exit_code == 0, f"{args}: {res.output}\n{res.exception!r}"
    return res.output


def _free_port() -> int:
    from cimsdk.emulator.board import free_port

    return free_port()


@contextlib.contextmanager
def _emulate(elf: Path, backend: str) -> Iterator[str]:
    """`cimsdk emulate` in its own process (as a user runs it); yields the UART URL."""
    port = _free_port()
    proc = procs.spawn(
        [sys.executable, "-m", "cimsdk.cli", "emulate", "--firmware", str(elf), "--backend", backend,
         "--port", str(port)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert "UART at socket://" in line, line + proc.stderr.read().decode()
        yield f"socket://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the emulator stops QEMU and the coprocessor
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


def _profile(url: str, image: Path, report: Path, out: Path, n: int = N) -> dict:
    # a recording, as docs/energy-model.md measures: the SOFTMAX's fixed-point exps take a data-dependent
    # time (KWS: 5.8-6.0 k cycles on its recordings, 2.3-4.6 k on random logits), which is 10 % of the
    # sram-dcim energy since the pool runs on the macro; the cycle costs are measured on recordings
    _cli("profile", "--port", url, "--meter", "emulated", "--image", str(image), "--compare", str(report),
         "--input", str(RECORDING), "-n", str(n), "-o", str(out))
    return json.loads((out / "report.json").read_text())


def _energy_tables(target: str) -> tuple[dict, dict]:
    board = tomllib.loads((project_root() / "boards" / "qemu-virt-rv32" / "board.toml").read_text())["power"]
    tgt = tomllib.loads((project_root() / "converter" / "targets" / f"{target}.toml").read_text())["energy"]
    return board, tgt


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """The KWS model converted for each target: (model.cimg, report.json)."""
    if not KWS.exists():
        pytest.skip(f"{KWS} missing")
    out: dict[str, tuple[Path, Path]] = {}
    for t in TARGETS:
        d = tmp_path_factory.mktemp(f"kws-{t}") / "kws"
        _cli("convert", str(KWS), "--target", t, "-o", str(d), "-q")
        out[t] = (d / "model.cimg", d / "report.json")
    return out


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from cimsdk.build import build_firmware

    return {b: build_firmware(tmp_path_factory.mktemp(f"fw-{b}"), board="qemu-virt-rv32", backend=b, quiet=True)
            for b in ("mailbox", "soft")}


@pytest.fixture(scope="module")
def profiles(kws, firmware, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[dict, Path]]:
    """report.json and output folder of every (backend, target), each board from `cimsdk emulate`."""
    out: dict[tuple[str, str], tuple[dict, Path]] = {}
    for backend in ("mailbox", "soft"):
        with _emulate(firmware[backend], backend) as url:
            for t in TARGETS:
                d = tmp_path_factory.mktemp(f"profile-{backend}-{t}")
                # soft: every inference is ~16 M emulated instructions; two windows are plenty.
                out[(backend, t)] = (_profile(url, *kws[t], d, N if backend == "mailbox" else 2), d)
    return out


# -- tests on the emulated board --------------------------------------------------------------------------
@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("backend", ["mailbox", "soft"])
@pytest.mark.parametrize("target", TARGETS)
def test_report_trace_and_plot(profiles, backend: str, target: str) -> None:
    report, out = profiles[(backend, target)]
    for key in REPORT_KEYS:
        assert key in report and report[key] is not None, key
    assert report["meter"] == "emulated" and report["sample_rate_hz"] >= 10_000
    assert report["windows"] == (N if backend == "mailbox" else 2)
    assert report["peak_mw"] > report["avg_mw"] > report["idle_mw"] > 0
    assert report["device"]["backend"] == backend and report["device"]["image_target"] == target
    # trace.csv: one row per sample, the marker high in exactly `windows` runs.
    from cimsdk.power.trace import read_csv

    trace = read_csv(out / "trace.csv")
    assert len(trace) == report["samples"]
    rises = int(np.count_nonzero(np.diff(trace.marker.astype(int)) == 1))
    assert rises == report["windows"]
    # trace.png: a real plot, not an empty canvas.
    from PIL import Image

    png = out / "trace.png"
    assert png.stat().st_size > 10_000
    with Image.open(png) as im:
        px = np.asarray(im.convert("L"), dtype=np.float64)
    assert px.shape[0] > 200 and px.shape[1] > 400
    assert px.std() > 10 and (px < 128).mean() > 0.005  # lines, text and shading, not a flat image


@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("target", TARGETS)
def test_energy_is_the_model_of_the_measured_counts(profiles, kws, target: str) -> None:
    """Energy above idle = measured CPU cycles x pJ/cycle (board) + the converter's macro counts x the
    target's pJ per operation: the meter adds nothing and loses nothing between counters and report."""
    report, _ = profiles[("mailbox", target)]
    board, tgt = _energy_tables(target)
    conv = json.loads(kws[target][1].read_text())
    counts = conv["totals"]["counts"]
    cim_pj = (counts["macs"] * tgt["pj_per_mac"] + counts["adc_conversions"] * tgt["pj_per_adc_conversion"]
              + counts["input_bit_pulses"] * tgt["pj_per_input_bit"]
              + counts["digital_ops"] * tgt["pj_per_digital_op"])
    dev = report["device"]["per_inference"]
    assert dev["cim_ops"] == sum(1 for layer in conv["layers"] if layer["runs_on"] == "cim")
    assert 0 < dev["cpu_cycles"] < dev["cycles"]
    truth_uj = (cim_pj + dev["cpu_cycles"] * board["pj_per_cycle"]) * 1e-6
    assert report["uj_per_inference_above_idle"] == pytest.approx(truth_uj, rel=0.01)
    # Idle is the board's idle power plus the macro's leakage.
    assert report["idle_mw"] == pytest.approx(board["idle_mw"] + tgt["leakage_uw"] * 1e-3, rel=1e-3)


@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("target", TARGETS)
def test_coprocessor_costs_less_than_soft(profiles, target: str) -> None:
    """The macro doing the MACs beats the CPU doing them (soft backend: cycles x pJ per cycle)."""
    cim, _ = profiles[("mailbox", target)]
    soft, _ = profiles[("soft", target)]
    board, _ = _energy_tables(target)
    assert soft["device"]["per_inference"]["wait_instructions"] == 0
    soft_truth = soft["device"]["per_inference"]["cycles"] * board["pj_per_cycle"] * 1e-6
    assert soft["uj_per_inference_above_idle"] == pytest.approx(soft_truth, rel=0.01)
    assert cim["uj_per_inference"] < soft["uj_per_inference"]
    assert cim["uj_per_inference_above_idle"] < soft["uj_per_inference_above_idle"]


@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("target", TARGETS)
def test_energy_agrees_with_converter(profiles, kws, target: str) -> None:
    """Measured energy per inference vs the converter's totals.energy_uj (same model, target and board),
    and the reconciliation table that explains the difference (report.json, report.html)."""
    report, out = profiles[("mailbox", target)]
    conv = json.loads(kws[target][1].read_text())
    predicted = conv["totals"]["energy_uj"]
    assert report["converter"]["energy_uj"] == predicted
    assert report["uj_per_inference"] == pytest.approx(predicted, rel=0.05)
    rows = {r["source"]: r for r in report["reconciliation"]["rows"]}
    assert set(rows) == {"converter", "counters", "meter"}
    assert rows["converter"]["total_uj"] == predicted
    assert rows["counters"]["cpu_cycles"] == report["device"]["per_inference"]["cpu_cycles"]
    assert rows["meter"]["total_uj"] == report["uj_per_inference"]
    assert rows["meter"]["total_uj"] == pytest.approx(rows["counters"]["total_uj"], rel=0.01)
    html = (out / "report.html").read_text()
    assert 'id="reconciliation"' in html
    from report_formulas import check_traceable

    assert check_traceable(html) == []


@needs_qemu
@pytest.mark.qemu
def test_meter_activity_matches_coprocessor_counters(kws, firmware, tmp_path: Path) -> None:
    """The macro operations the meter was fed are the ones the coprocessor counted in its mailbox
    window (read here through the shared guest RAM, which the profiler never sees)."""
    from cimsdk.emulator import EmulatedBoard

    image, report = kws["nor-acim"]
    with EmulatedBoard(firmware=firmware["mailbox"], backend="mailbox") as board:
        time.sleep(0.5)
        # Load the image first so LOAD_IMAGE's own command is outside the window we compare.
        _profile(board.url, image, report, tmp_path / "warm", n=1)
        before = board.mailbox()
        r = _profile(board.url, image, report, tmp_path / "out", n=3)
        after = board.mailbox()
    fed = r["device"]["macro"]["counts_per_inference"]
    for name in ("macs", "adc_conversions", "input_bit_pulses", "tile_ops", "digital_ops"):
        assert after[f"counter.{name}"] - before[f"counter.{name}"] == 3 * fed[name], name
    assert after["counter.ops"] - before["counter.ops"] == 3 * r["device"]["per_inference"]["cim_ops"]


# -- host-only tests ------------------------------------------------------------------------------------
def test_segments_from_counters(kws) -> None:
    """Window layout: the macro's modelled latency per CiM op, then the measured CPU work."""
    image, report = kws["sram-dcim"]
    act = ImageActivity.from_image(image.read_bytes())
    conv = json.loads(report.read_text())
    assert act.totals == conv["totals"]["counts"]
    cim_latency_us = sum(layer["cim_latency_us"] for layer in conv["layers"] if layer["runs_on"] == "cim")
    assert act.latency_total_s * 1e6 == pytest.approx(cim_latency_us, rel=1e-9)

    c = InferenceCounters(cycles=1_000_000, instret=1_000_000, wait_instructions=900_000, cim_ops=act.n_cim_ops)
    segs, end = inference_segments(0.01, c, "mailbox", act, 100e6)
    assert all(s.marker for s in segs) and segs[0].t_start_s == 0.01
    assert sum(s.cpu_cycles for s in segs) == 100_000
    assert end == pytest.approx(0.01 + act.latency_total_s + 100_000 / 100e6)
    assert sum(s.cim_ops.get("macs", 0) for s in segs) == conv["totals"]["counts"]["macs"]
    soft, end = inference_segments(0.0, c, "soft", None, 100e6)
    assert len(soft) == 1 and soft[0].cpu_cycles == 1_000_000 and not soft[0].cim_ops
    with pytest.raises(UserError, match="CiM ops"):
        inference_segments(0.0, InferenceCounters(1, 1, 0, act.n_cim_ops + 1), "mailbox", act, 100e6)
    with pytest.raises(UserError, match="--image"):
        inference_segments(0.0, c, "mailbox", None, 100e6)


def test_profile_needs_a_board_that_answers(tmp_path: Path) -> None:
    """A port where no board answers is one error line, not a traceback (and no half-written output)."""
    port = _free_port()  # nothing listens there
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "profile", "--port", f"socket://127.0.0.1:{port}",
                          "--meter", "emulated", "-n", "1", "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error:") and "Traceback" not in res.stderr and str(port) in res.stderr
    assert not (tmp_path / "out").exists()
