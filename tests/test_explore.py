"""`cimsdk explore`: the space file, target files per point, Pareto fronts, and a real sweep with its cache."""

from __future__ import annotations

import csv
import json
import tomllib

import pytest
from explore_helpers import KWS, cli, make_kws_set, write_space

from cimconv.errors import UserError
from cimconv.pipeline import convert
from cimconv.target import load_target
from cimsdk.explore import pareto, target_file
from cimsdk.explore.space import parse_space


def test_space_grid_ranges_and_derived_cells(tmp_path):
    sp = parse_space(write_space(tmp_path / "s.toml", '''
"macro.bits_per_cell" = [2, 4]
"adc_bits" = { min = 6, max = 8, step = 2 }
"energy.pj_per_mac" = { min = 0.05, max = 0.2, num = 4 }
"noise.preset" = ["nor-flash", "reram"]
"noise.age" = "1y"
'''))
    assert [p.name for p in sp.params] == ["macro.bits_per_cell", "macro.adc_bits", "energy.pj_per_mac",
                                           "noise.preset", "noise.age"]
    grid = sp.grid()
    assert len(grid) == 2 * 2 * 4 * 2
    assert sorted({g["macro.adc_bits"] for g in grid}) == [6, 8]
    assert sorted({g["energy.pj_per_mac"] for g in grid}) == pytest.approx([0.05, 0.1, 0.15, 0.2])
    from cimsdk.explore.sweep import choose_points

    pts = choose_points(sp, "grid", 0)
    assert {(p["macro.bits_per_cell"], p["macro.cells_per_weight"]) for p in pts} == {(2, 4), (4, 2)}
    r1, r2 = sp.random(10), sp.random(10)
    assert r1 == r2 and len({json.dumps(p, sort_keys=True) for p in r1}) == 10
    assert all(0.05 <= p["energy.pj_per_mac"] <= 0.2 for p in r1)


@pytest.mark.parametrize("params, words", [
    ('"macro.no_such_key" = [1, 2]', "not a key of the base target"),
    ('"noise.wobble" = [1.0]', "not a noise setting"),
    ('"rows" = { min = 8 }', "needs min and max"),
    ('"energy.pj_per_mac" = { min = 0.1, max = 0.2 }', None),  # fine to parse; grid needs num
])
def test_space_errors_name_the_problem(tmp_path, params, words):
    path = write_space(tmp_path / "s.toml", params)
    if words is None:
        sp = parse_space(path)
        with pytest.raises(UserError, match="num"):
            sp.grid()
        return
    with pytest.raises(UserError, match=words):
        parse_space(path)


def test_cli_bad_space_is_one_line_exit_2(tmp_path):
    path = write_space(tmp_path / "s.toml", '"macro.colz" = [1]')
    r = cli("explore", KWS, "--space", path, "--data", tmp_path, "-o", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert "macro.colz" in r.stderr and not (tmp_path / "out").exists()


def test_target_file_keeps_comments_and_sets_values():
    base = (load_target("nor-acim").path)
    text = open(base).read()
    out = target_file.render(text, {"macro.rows_active": 64, "energy.pj_per_mac": 0.25, "timing.new_key": 1.5},
                             header="# changed")
    assert out.startswith("# changed\n") and "# rows summed per ADC conversion" in out
    d = tomllib.loads(out)
    assert d["macro"]["rows_active"] == 64 and d["energy"]["pj_per_mac"] == 0.25 and d["timing"]["new_key"] == 1.5
    assert d["macro"]["rows"] == 1024 and d["noise"]["simulate_preset"] == "nor-flash"
    t = target_file.load_text(out)
    assert (t.rows_active, t.energy["pj_per_mac"]) == (64, 0.25)


def test_front_by_hand():
    rows = [dict(score=0.9, energy_uj=5.0), dict(score=0.9, energy_uj=4.0), dict(score=0.95, energy_uj=6.0),
            dict(score=0.5, energy_uj=1.0), dict(score=0.4, energy_uj=1.0), dict(score=0.95, energy_uj=7.0)]
    # 1 beats 0 (cheaper, as good); 3 beats 4; 2 beats 5; 1, 2, 3 trade accuracy against energy
    assert sorted(pareto.front(rows, ("score", "energy_uj"))) == [1, 2, 3]


@pytest.fixture(scope="module")
def kws_set(tmp_path_factory):
    return make_kws_set(tmp_path_factory.mktemp("explore"))


def test_sweep_end_to_end_with_cache_and_resume(kws_set, tmp_path):
    space = write_space(tmp_path / "s.toml", '''
"macro.rows_active" = [16, 64]
"noise.preset" = ["ideal", "nor-flash"]
''', chips=2, samples=24)
    out = tmp_path / "out"
    r = cli("explore", KWS, "--space", space, "--data", kws_set, "-o", out, "-j", "1")
    assert r.returncode == 0, r.stderr
    assert "4 points (4 feasible), 4 evaluated, 0 from the cache" in r.stdout
    pts = json.loads((out / "points.json").read_text())["points"]
    assert len(pts) == 4
    for p in pts:
        # costs from the converter's report for this target, converted here independently
        t = load_target("nor-acim").with_overrides(rows_active=p["params"]["macro.rows_active"])
        tot = convert(KWS, t).report["totals"]
        assert p["energy_uj"] == pytest.approx(tot["energy_uj"]) and p["latency_us"] == pytest.approx(tot["latency_us"])
        assert p["array_cells"] == tot["arrays_used"] * 1024 * 1024
        m = p["models"][0]
        assert m["samples"] == 24 and len(m["accuracy_per_chip"]) == 2
        if p["params"]["noise.preset"] == "ideal" and t.adc_lossless:
            # no noise and a lossless ADC: every chip computes what TFLM computes
            assert m["agreement_mean"] == 1.0 and m["accuracy_mean"] == m["reference_accuracy"]
    lossy = [p for p in pts if p["params"] == {"macro.rows_active": 64, "noise.preset": "ideal"}][0]
    assert not lossy["models"][0]["adc_lossless"]
    with open(out / "points.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    fr = json.loads((out / "pareto.json").read_text())
    assert set(fr["per_condition"]) == {"preset=ideal", "preset=nor-flash"}
    best = tomllib.loads((out / "best_target.toml").read_text())
    assert best["macro"]["rows_active"] == fr["best"]["design"]["macro.rows_active"]
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a second run takes everything from the cache and writes the same numbers
    r2 = cli("explore", KWS, "--space", space, "--data", kws_set, "-o", out, "-j", "1")
    assert r2.returncode == 0 and "0 evaluated, 4 from the cache" in r2.stdout, r2.stdout + r2.stderr
    assert json.loads((out / "points.json").read_text())["points"] == pts
    # an interrupted sweep: the points whose entries are missing are evaluated again, the rest reused
    entries = sorted((out / "cache").rglob("*.json"))
    assert len(entries) == 4
    entries[0].unlink()
    r3 = cli("explore", KWS, "--space", space, "--data", kws_set, "-o", out, "-j", "2")
    assert r3.returncode == 0 and "1 evaluated, 3 from the cache" in r3.stdout, r3.stdout + r3.stderr
    again = json.loads((out / "points.json").read_text())["points"]
    strip = [lambda p: {k: v for k, v in p.items() if k != "models"}, lambda p: [
        {k: v for k, v in m.items() if k != "seconds"} for m in p["models"]]]
    for f in strip:
        assert [f(p) for p in again] == [f(p) for p in pts]


@pytest.mark.slow  # two more sweeps; the Ray test compares runners too
def test_same_numbers_with_one_or_two_worker_processes(kws_set, tmp_path):
    from cimsdk.explore import sweep
    from cimsdk.explore.runners import LocalRunner
    from cimsdk.explore.space import parse_space

    sp = parse_space(write_space(tmp_path / "s.toml", '"noise.level" = [3.0, 6.0]', chips=3, samples=16))

    def run(jobs, name):
        res = sweep.run([KWS], [kws_set], sp, tmp_path / name, LocalRunner(jobs), use_cache=False, progress=False)
        return [m["accuracy_per_chip"] + [m["agreement_mean"]] for p in res["rows"] for m in p["models"]]

    a = run(1, "a")
    assert min(r[-1] for r in a) < 1.0  # the noise is on: chips disagree with the int8 reference
    assert run(2, "b") == a
