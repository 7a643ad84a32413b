"""`cimsdk explore --ray ADDRESS` on a real two-node Ray cluster started on this machine gives the numbers
of the local run, and the cluster leaves no process behind."""

from __future__ import annotations

import json
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


def test_ray_sweep_equals_local_and_leaves_nothing(tmp_path):
    data = make_kws_set(tmp_path)
    space = write_space(tmp_path / "s.toml", '"macro.rows_active" = [16, 64]\n"noise.level" = [2.0]',
                        chips=2, samples=16)
    args = ["explore", KWS, "--space", space, "--data", data, "--no-cache"]
    r = cli(*args, "-o", tmp_path / "local", "-j", "2")
    assert r.returncode == 0, r.stderr
    res, left = run_and_find_leftovers(
        [sys.executable, "-m", "cimsdk.explore.local_ray", "--nodes", "2", "--cpus", "1", "--",
         sys.executable, "-m", "cimsdk.cli", *map(str, args), "-o", str(tmp_path / "ray"), "--ray", "{address}"],
        cwd=tmp_path, timeout=1800)
    assert res.returncode == 0, res.stdout + res.stderr
    assert left == set(), f"Ray processes left running: {left}"
    assert "2 evaluated" in res.stdout and "on Ray at 127.0.0.2:" in res.stdout and "2 CPUs" in res.stdout
    local, ray = _points(tmp_path / "local"), _points(tmp_path / "ray")
    assert ray["runner"].startswith("Ray") and local["runner"].startswith("local")
    assert ray["points"] == local["points"]
    chips = [m["accuracy_per_chip"] for p in local["points"] for m in p["models"]]
    assert len(chips) == 2 and all(len(c) == 2 for c in chips)
