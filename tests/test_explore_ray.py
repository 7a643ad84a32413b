"""`cimsdk explore --ray ADDRESS` and `cimsdk simulate --ray ADDRESS` on a real two-node Ray cluster started on
this machine give the numbers of the local runs, and the cluster leaves no process behind."""

from __future__ import annotations

import json
import shlex
import sys

import pytest
from explore_helpers import KWS, cli, make_kws_set, write_space
from leftovers import run_and_find_leftovers

pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # two `ray start` nodes take a minute or more on a loaded 2-core machine


def _points(out):
    d = json.loads((out / "points.json").read_text())
    for p in d["points"]:
        for m in p["models"]:
            m.pop("seconds")  # wall time is the one thing that differs
    return d


def _simulate(out):
    d = json.loads((out / "simulate.json").read_text())
    for c in d["configs"].values():
        c.pop("inferences_per_s")
    d.pop("inferences_per_s")
    return d


def test_ray_sweep_and_simulate_equal_local_and_leave_nothing(tmp_path):
    data = make_kws_set(tmp_path)
    space = write_space(tmp_path / "s.toml", '"macro.rows_active" = [16, 64]\n"noise.level" = [2.0]',
                        chips=2, samples=16)
    explore = ["explore", KWS, "--space", space, "--data", data, "--no-cache"]
    r = cli(*explore, "-o", tmp_path / "local", "-j", "2")
    assert r.returncode == 0, r.stderr
    r = cli("convert", KWS, "-t", "nor-acim", "-o", tmp_path / "conv")
    assert r.returncode == 0, r.stderr
    simulate = ["simulate", tmp_path / "conv" / "model.cimg", "--data", data, "--trials", 3, "--chip-blocks", 3,
                "--no-sweeps", "--noise", "nor-flash", "--age", "1y"]
    r = cli(*simulate, "-o", tmp_path / "sim_local")
    assert r.returncode == 0, r.stderr

    py = [sys.executable, "-m", "cimsdk.cli"]
    both = " && ".join(shlex.join(map(str, c)) for c in (
        [*py, *explore, "-o", tmp_path / "ray", "--ray", "{address}"],
        [*py, *simulate, "-o", tmp_path / "sim_ray", "--ray", "{address}"]))
    res, left = run_and_find_leftovers(
        [sys.executable, "-m", "cimsdk.explore.local_ray", "--nodes", "2", "--cpus", "1", "--", "sh", "-c", both],
        cwd=tmp_path, timeout=2400)
    assert res.returncode == 0, res.stdout + res.stderr
    assert left == set(), f"Ray processes left running: {left}"
    assert "2 evaluated" in res.stdout and "on Ray at 127.0.0.2:" in res.stdout and "2 CPUs" in res.stdout
    local, ray = _points(tmp_path / "local"), _points(tmp_path / "ray")
    assert ray["runner"].startswith("Ray") and local["runner"].startswith("local")
    assert ray["points"] == local["points"]
    chips = [m["accuracy_per_chip"] for p in local["points"] for m in p["models"]]
    assert len(chips) == 2 and all(len(c) == 2 for c in chips)

    sl, sr = _simulate(tmp_path / "sim_local"), _simulate(tmp_path / "sim_ray")
    assert sr == sl
    per_chip = sl["configs"]["calibrated"]["agreement_per_trial"]
    assert len(per_chip) == 3
