"""`cimsdk explore --search tune`: Ray Tune trials proposed by Optuna, on a local one-node Ray cluster the
command starts and stops itself; each point's numbers equal the plain evaluation of that point."""

from __future__ import annotations

import json
import sys

import pytest
from explore_helpers import KWS, make_kws_set, write_space
from leftovers import run_and_find_leftovers

pytest.importorskip("ray")
pytest.importorskip("optuna")
pytestmark = pytest.mark.slow  # a Ray start and Tune's trial machinery: minutes on a loaded 2-core machine


def test_tune_points_equal_direct_evaluation_and_leave_nothing(tmp_path):
    data = make_kws_set(tmp_path)
    space = write_space(tmp_path / "s.toml", '"macro.rows_active" = [16, 32, 64]\n'
                        '"energy.pj_per_mac" = { min = 0.05, max = 0.2, log = true }', chips=1, samples=12)
    out = tmp_path / "out"
    res, left = run_and_find_leftovers(
        [sys.executable, "-m", "cimsdk.cli", "explore", str(KWS), "--space", str(space), "--data", str(data),
         "-o", str(out), "--search", "tune", "--points", "3", "-j", "2"], cwd=tmp_path, timeout=1800)
    assert res.returncode == 0, res.stdout + res.stderr
    assert left == set(), f"processes left running: {left}"
    d = json.loads((out / "points.json").read_text())
    assert d["method"] == "tune" and d["runner"].startswith("Ray Tune on a local one-node cluster")
    assert 1 <= len(d["points"]) <= 3
    from cimsdk.explore import sweep
    from cimsdk.explore.cache import point_key
    from cimsdk.explore.point import Job, evaluate
    from cimsdk.explore.space import parse_space

    ctx = sweep.build_context([KWS], [data], parse_space(space))
    for p in d["points"]:
        assert 0.05 <= p["params"]["energy.pj_per_mac"] <= 0.2 and p["params"]["macro.rows_active"] in (16, 32, 64)
        rec = evaluate(ctx, Job(0, p["params"], point_key(ctx, 0, p["params"])))
        got = dict(p["models"][0])
        for r in (rec, got):
            r.pop("seconds")
        assert got == rec
