"""`cimsdk fpga build --board icebreaker-cim`: yosys, nextpnr-ice40 and icepack run on the whole system
(PicoRV32, SPRAM, flash reader, UART, timer, the coprocessor) and the report says whether it fits and
meets its 12 MHz constraint: it does (docs/fpga.md, "Does it fit"), so the bitstream is written and every
resource of the report is within the UP5K.

Slow (synthesis, placement and routing take several minutes); the default run still verilates and checks
the same RTL (tests/test_rtl_coprocessor.py, tests/test_fpga_soc_sim.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(shutil.which(t) is None for t in ("yosys", "nextpnr-ice40", "icepack")),
                       reason="needs yosys, nextpnr-ice40, icepack"),
]


def test_icebreaker_build_fits_and_meets_its_clock(tmp_path):
    pytest.importorskip("pythondata_cpu_picorv32")
    r = subprocess.run([sys.executable, "-m", "cimsdk.cli", "fpga", "build", "--board", "icebreaker-cim",
                        "--out", str(tmp_path), "--json"], capture_output=True, text=True, timeout=7200)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / "fpga-report.json").read_text())
    # an iCE40 UP5K bitstream (104,090 bytes for every design on that device)
    assert (tmp_path / "icebreaker_cim.bin").stat().st_size > 100_000
    assert rep["device"] == "iCE40UP5K-sg48"
    used = {u["cell"]: u for u in rep["utilization"]}
    for cell in ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_SPRAM", "ICESTORM_DSP"):
        assert 0 < used[cell]["used"] <= used[cell]["available"], used[cell]
    assert used["ICESTORM_LC"]["available"] == 5280
    # the one clock, the board's 12 MHz oscillator, met
    assert rep["clocks"] and all(c["constraint_mhz"] == 12.0 for c in rep["clocks"])
    assert rep["timing_met"] and all(c["achieved_mhz"] >= 12.0 for c in rep["clocks"])
    printed, end = json.JSONDecoder().raw_decode(r.stdout)  # --json prints the report it wrote ...
    assert printed == rep
    assert r.stdout[end:].strip() == f"bitstream: {tmp_path / 'icebreaker_cim.bin'}"  # ... and the bitstream
