"""`cimsdk fpga build --board icebreaker-cim`: yosys, nextpnr-ice40 and icepack run on the whole system
(PicoRV32, SPRAM, flash, UART, timer, the coprocessor) and the report says whether it fits and meets
its 12 MHz constraint.

Today the system does not fit the UP5K (docs/fpga.md, "Does it fit"): block RAM, SPRAM and DSPs do,
the logic cells do not (7,568 of 5,280: two PicoRV32s, the system's with MUL/DIV), so the build fails
at placement with the utilization in the message. The test is strict-xfail, so it turns red the day
the design fits, to be made a plain pass then.
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


@pytest.mark.xfail(strict=True, reason="the system needs 143 % of the UP5K's logic cells (docs/fpga.md)")
def test_icebreaker_build_meets_its_clock(tmp_path):
    pytest.importorskip("pythondata_cpu_picorv32")
    r = subprocess.run([sys.executable, "-m", "cimsdk.cli", "fpga", "build", "--board", "icebreaker-cim",
                        "--out", str(tmp_path), "--json"], capture_output=True, text=True, timeout=7200)
    assert "ICESTORM_LC" in r.stderr or r.returncode == 0, r.stderr  # the flow ran to placement
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / "fpga-report.json").read_text())
    assert rep["timing_met"] and (tmp_path / "icebreaker_cim.bin").stat().st_size > 100_000
    lc = next(u for u in rep["utilization"] if u["cell"] == "ICESTORM_LC")
    assert 0 < lc["used"] <= lc["available"]
