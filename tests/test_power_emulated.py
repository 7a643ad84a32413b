"""Energy model and the emulated meter process (TCP) against analytic energies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimconv.errors import UserError
from cimsdk.power.analysis import analyse
from cimsdk.power.energy_model import ActivitySegment, EnergyModel, load_energy_table
from cimsdk.power.meters import create_meter
from cimsdk.power.meters.emulated import EmulatedMeter

BOARD = {"clock_hz": 100e6, "pj_per_cycle": 30.0, "idle_mw": 0.5, "voltage_v": 1.1}
TARGET = {"pj_per_mac": 0.1, "pj_per_adc_conversion": 0.5, "pj_per_input_bit": 0.02,
          "pj_per_digital_op": 0.02, "leakage_uw": 5.0}
KWS_MACS = 2_660_000


def _inference(t0: float, backend: str) -> tuple[list[ActivitySegment], float]:
    """One inference as layer-like segments; returns segments and its end time.

    cim: CPU does 200 k cycles of glue while the macro does the MACs (2 ms);
    soft: the CPU does the MACs itself at 2 cycles per MAC (53.4 ms at 100 MHz)."""
    if backend == "cim":
        ops = {"macs": KWS_MACS, "adc_conversions": 40_000, "input_bit_pulses": 320_000, "digital_ops": 40_000}
        segs = [ActivitySegment(t0, t0 + 0.0005, cpu_cycles=50_000, marker=True),
                ActivitySegment(t0 + 0.0005, t0 + 0.0015, cpu_cycles=100_000, cim_ops=ops, marker=True),
                ActivitySegment(t0 + 0.0015, t0 + 0.002, cpu_cycles=50_000, marker=True)]
        return segs, t0 + 0.002
    cycles = 2 * KWS_MACS + 200_000
    dur = cycles / 100e6
    return [ActivitySegment(t0, t0 + dur, cpu_cycles=cycles, marker=True)], t0 + dur


def _run(backend: str, n: int = 4) -> dict:
    segs: list[ActivitySegment] = []
    t = 0.002
    for _ in range(n):
        s, end = _inference(t, backend)
        segs += s
        t = end + 0.003  # 3 ms idle between inferences
    meter = EmulatedMeter(board=None, target=None, rate_hz=100_000)
    meter_model = {"board": BOARD, "target": TARGET}
    # The meter process takes files: write the energy tables as JSON.
    return _capture(meter, segs, meter_model)


def _capture(meter: EmulatedMeter, segs: list[ActivitySegment], tables: dict) -> dict:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        bp, tp = Path(d) / "board.json", Path(d) / "target.json"
        bp.write_text(json.dumps({"power": tables["board"]}))
        tp.write_text(json.dumps({"energy": tables["target"]}))
        meter.board, meter.target = str(bp), str(tp)
        with meter:
            trace = meter.capture(during=lambda: meter.send_activity(segs), timeout_s=30)
    return analyse(trace)


def test_cim_inference_energy_matches_analytic() -> None:
    r = _run("cim")
    static_mw = 0.5 + 5.0e-3
    dyn_pj = 200_000 * 30.0 + KWS_MACS * 0.1 + 40_000 * 0.5 + 320_000 * 0.02 + 40_000 * 0.02
    truth_uj = dyn_pj * 1e-6 + static_mw * 2.0  # mW x ms = uJ
    assert r["windows"] == 4
    assert r["sample_rate_hz"] == 100_000
    assert r["uj_per_inference"] == pytest.approx(truth_uj, rel=0.01)
    assert r["uj_per_inference_above_idle"] == pytest.approx(dyn_pj * 1e-6, rel=0.01)
    assert r["idle_mw"] == pytest.approx(static_mw, rel=1e-3)
    assert r["inference_ms"] == pytest.approx(2.0, abs=0.011)
    assert r["voltage_v"] == pytest.approx(1.1, rel=1e-6)
    # The MAC phase draws (100 k cycles x 30 pJ + CiM ops) over 1 ms on top of static power.
    peak_truth_mw = static_mw + (100_000 * 30.0 + dyn_pj - 200_000 * 30.0) * 1e-12 / 1e-3 * 1e3
    assert r["peak_mw"] == pytest.approx(peak_truth_mw, rel=1e-3)


def test_cim_beats_soft_backend() -> None:
    cim, soft = _run("cim", 2), _run("soft", 2)
    soft_truth_uj = (2 * KWS_MACS + 200_000) * 30e-6 + 0.505 * (2 * KWS_MACS + 200_000) / 100e6 * 1e3
    assert soft["uj_per_inference"] == pytest.approx(soft_truth_uj, rel=0.01)
    assert cim["uj_per_inference"] < soft["uj_per_inference"] / 10


def test_model_conserves_energy_across_bins() -> None:
    """Segments that do not line up with sample bins still sum to the model's energy."""
    model = EnergyModel(BOARD, TARGET)
    segs = [ActivitySegment(0.0000133, 0.0000411, cpu_cycles=1234, cim_ops={"macs": 5000}),
            ActivitySegment(0.0000411, 0.0000412, cpu_cycles=7, marker=True),
            ActivitySegment(0.00002, 0.00003, cim_ops={"adc_conversions": 100})]  # overlaps the first
    fs = 100_000.0
    cur, _ = model.sample(segs, 0, 10, fs)
    e = float(np.sum(cur * 1.1 / fs))
    truth = (1241 * 30 + 5000 * 0.1 + 100 * 0.5) * 1e-12 + 0.505e-3 * 10 / fs
    assert e == pytest.approx(truth, rel=1e-9)


def test_unknown_operation_and_tables() -> None:
    model = EnergyModel(BOARD, TARGET)
    with pytest.raises(UserError, match="'popcount' is not a count key"):
        model.dynamic_j(ActivitySegment(0, 1, cim_ops={"popcount": 3}))
    with pytest.raises(UserError, match="mac"):  # the singular spelling is gone: one vocabulary
        model.dynamic_j(ActivitySegment(0, 1, cim_ops={"mac": 3}))
    with pytest.raises(UserError, match="no energy table"):
        load_energy_table("no-such-target", "target")
    # The board files in the checkout carry a [power] table the model can use.
    board = load_energy_table("qemu-virt-rv32", "board")
    assert board["clock_hz"] > 0 and board["pj_per_cycle"] > 0
    with pytest.raises(UserError, match="unknown"):
        create_meter("wattmeter")
    with pytest.raises(UserError, match="HOST:PORT"):
        create_meter("emulated:nowhere")


class _SegmentDriver:
    """Stands in for the emulator's counter bridge: each inference is one activity segment."""

    def __init__(self, meter: EmulatedMeter) -> None:
        self.meter = meter

    def run_marked(self, n: int) -> None:
        segs = [ActivitySegment(0.001 + 0.004 * i, 0.003 + 0.004 * i, cpu_cycles=100_000, marker=True)
                for i in range(n)]
        self.meter.send_activity(segs)

    def close(self) -> None:
        pass


def test_cli_with_a_registered_driver(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cimsdk.commands.profile import command
    from cimsdk.power import session

    monkeypatch.setattr(session, "_factories", [])
    session.register_driver("segments", lambda port, meter, inp: _SegmentDriver(meter))
    board = tmp_path / "board.json"
    board.write_text(json.dumps({"power": BOARD}))
    res = CliRunner().invoke(command, ["--port", "emulated", "--meter", "emulated", "--meter-opt",
                                       f"board={board}", "--meter-opt", "target=soft", "-n", "3",
                                       "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["windows"] == 3
    # 100 k cycles x 30 pJ + 0.5 mW x 2 ms.
    assert report["uj_per_inference"] == pytest.approx(3.0 + 1.0, rel=0.01)
