"""Trace CSV, window alignment, figures, trace.png and `cimsdk profile --from`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cimconv.errors import UserError
from cimsdk.power.analysis import analyse, find_windows, parse_rate
from cimsdk.power.plot import plot_trace
from cimsdk.power.trace import Trace, read_csv

FS = 10_000.0


def _synthetic() -> Trace:
    """3.0 V; idle 1 mA; three 5 ms inferences at 10 mA starting at 10, 30, 50 ms; 80 ms total."""
    n = 800
    cur = np.full(n, 1e-3)
    mark = np.zeros(n, np.uint8)
    for a in (100, 300, 500):
        cur[a : a + 50] = 10e-3
        mark[a : a + 50] = 1
    return Trace.from_uniform(cur, 3.0, mark, FS, "test")


def test_find_windows_levels_and_edges() -> None:
    m = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1])
    # Level: the run cut by the start and the one cut by the end are dropped.
    assert find_windows(m, "level") == [(4, 7), (8, 9)]
    # Edges (EnergyRunner): intervals between successive falling edges.
    assert find_windows(m, "edges") == [(2, 7), (7, 9)]
    assert find_windows(np.zeros(5), "level") == []
    with pytest.raises(UserError):
        find_windows(m, "pulses")


def test_figures_of_a_known_trace() -> None:
    r = analyse(_synthetic(), rate_hz=2.0)
    assert r["windows"] == 3
    assert r["uj_per_inference"] == pytest.approx(10e-3 * 3.0 * 5e-3 * 1e6)  # 150 uJ
    assert r["uj_per_inference_above_idle"] == pytest.approx(9e-3 * 3.0 * 5e-3 * 1e6)  # 135 uJ
    assert r["inference_ms"] == pytest.approx(5.0)
    assert r["idle_mw"] == pytest.approx(3.0)
    assert r["peak_mw"] == pytest.approx(30.0)
    assert r["avg_mw"] == pytest.approx((650 * 3.0 + 150 * 30.0) / 800)
    assert r["charge_uc"] == pytest.approx((650 * 1e-3 + 150 * 10e-3) / FS * 1e6)
    assert r["uc_per_inference"] == pytest.approx(50.0)
    # 2 inferences/s: 3 mW idle + 2 x 135 uJ/s.
    assert r["avg_mw_at_rate"] == pytest.approx(3.0 + 2 * 0.135)
    assert r["rate_feasible"] is True
    assert [w["t_start_s"] for w in r["window_list"]] == pytest.approx([0.010, 0.030, 0.050])


def test_parse_rate() -> None:
    assert parse_rate("1/s") == 1.0
    assert parse_rate("2Hz") == 2.0
    assert parse_rate("30/min") == pytest.approx(0.5)
    assert parse_rate("0.25") == 0.25
    for bad in ("fast", "-1/s", "0"):
        with pytest.raises(UserError):
            parse_rate(bad)


def test_csv_roundtrip(tmp_path) -> None:
    t = _synthetic()
    t.meta["board"] = "qemu"
    p = tmp_path / "trace.csv"
    t.write_csv(p)
    header = p.read_text().splitlines()[:4]
    assert header[-1] == "time_s,current_a,voltage_v,power_w,marker"
    back = read_csv(p)
    assert back.meter == "test" and back.sample_rate_hz == FS and back.meta == {"board": "qemu"}
    assert np.allclose(back.current_a, t.current_a, rtol=1e-8)
    assert np.array_equal(back.marker, t.marker)
    assert analyse(back)["uj_per_inference"] == pytest.approx(analyse(t)["uj_per_inference"], rel=1e-8)
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,current_a\n0,1\n")
    with pytest.raises(UserError, match="lacks column"):
        read_csv(bad)


def test_trace_png_is_a_real_plot(tmp_path) -> None:
    t = _synthetic()
    out = tmp_path / "trace.png"
    plot_trace(t, analyse(t), out)
    assert out.stat().st_size > 10_000
    img = np.asarray(Image.open(out).convert("L"), dtype=np.float64)
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert img.std() > 10  # not blank: curve, shading, axes and text
    # The shaded windows leave coloured columns: count distinct colours.
    rgb = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 20


def test_cli_profile_from_csv(tmp_path) -> None:
    src = tmp_path / "in.csv"
    _synthetic().write_csv(src)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "profile", "--from", str(src), "-o", str(out),
                          "--rate", "2/s"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "report.json").read_text())
    for key in ("avg_mw", "peak_mw", "idle_mw", "uj_per_inference", "inference_ms", "windows", "meter",
                "sample_rate_hz"):
        assert key in report
    assert report["uj_per_inference"] == pytest.approx(150.0)
    assert report["meter"] == "test"
    assert (out / "trace.png").stat().st_size > 10_000
    assert read_csv(out / "trace.csv").sample_rate_hz == FS
    assert "150" in res.stdout


def test_cli_errors_are_one_line(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "profile", "--port", "/dev/null", "-o",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    # The console driver (cimsdk.power.device_driver) is registered: /dev/null is not a serial port.
    assert res.stderr.startswith("error: cannot open '/dev/null'") and "Traceback" not in res.stderr
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "profile", "--from", str(tmp_path / "x.csv"),
                          "-o", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "no such file" in res.stderr
