"""Issue 16: one energy model whose three figures reconcile.

On the emulated board, for KWS and VWW on both targets: the converter's estimate (modelled CPU
cycles, the image's macro counts) and the estimate from the device's counters (CPU cycles the device
measured, macro operations the coprocessor counted in its mailbox window) agree within 5 %. The
counter estimate is also recomputed here by hand from the board and target TOML files, so the shared
calculator cannot drift from the formula in docs/energy-model.md.
"""

from __future__ import annotations

import re
import shutil
import tomllib

import pytest
from paths import DATA, MODELS, ROOT

from cimcontracts.counts import COUNT_KEYS
from cimconv.pipeline import convert
from cimsdk.power import reconcile

MODELS_UNDER_TEST = ("kws_ref_model", "vww_96_int8")
REAL_INPUT = {"kws_ref_model": "yes_1000ms.wav", "vww_96_int8": "person.bmp"}
TARGETS = ("nor-acim", "sram-dcim")
BOARD = "qemu-virt-rv32"

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
    reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain")


def _toml(path) -> dict:
    return tomllib.loads(path.read_text())


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """One inference of every (model, target) on one emulated board: the device's and coprocessor's counts."""
    from cimsdk.build import build_firmware
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.inputs import InputSpec, load_input
    from cimsdk.power.emulated_activity import InferenceCounters

    elf = build_firmware(tmp_path_factory.mktemp("fw"), BOARD, "mailbox", quiet=True)
    out = {}
    with EmulatedBoard(BOARD, firmware=elf, backend="mailbox", wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        for name in MODELS_UNDER_TEST:
            for target in TARGETS:
                conv = convert(MODELS / f"{name}.tflite", target, BOARD)
                ensure_image(dev, conv.image_bytes, show_progress=False)
                # the model's own recording / image: the SOFTMAX's fixed-point exps take a data-dependent time
                # (KWS: 5.8-6.0 k cycles on its recordings, 2.3-4.6 k on random int8 logits), and the cycle
                # costs are measured on real inputs, as `cimsdk profile` runs them
                x = load_input(DATA / REAL_INPUT[name], InputSpec.from_tflite(MODELS / f"{name}.tflite"))
                out_bytes = conv.image.tensors[conv.image.output_tensor].nbytes
                dev.run(x.tobytes(), out_bytes, timeout=120.0)  # warm: the first run is not the one measured
                c0, m0 = dev.counters(), board.mailbox()
                _, cnt = dev.run(x.tobytes(), out_bytes, timeout=120.0)
                c1, m1 = dev.counters(), board.mailbox()
                inf = InferenceCounters(int(cnt["cycles"]), int(cnt["instret"]),
                                        int(c1["wait_insns"] - c0["wait_insns"]), int(c1["cim_ops"] - c0["cim_ops"]))
                counts = {k: m1[f"counter.{k}"] - m0[f"counter.{k}"] for k in COUNT_KEYS}
                out[(name, target)] = (conv.report, inf, counts)
    return out


@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", MODELS_UNDER_TEST)
def test_converter_and_counter_estimates_within_5_percent(measured, name: str, target: str) -> None:
    from cimsdk.power.energy_model import load_board, load_energy_table

    report, inf, counts = measured[(name, target)]
    assert report["board"] == BOARD
    # The coprocessor counted what the converter modelled (same tiles, same formula, other process).
    assert counts == report["totals"]["counts"]
    assert inf.cim_ops == sum(1 for layer in report["layers"] if layer["runs_on"] == "cim")
    cim_latency_us = sum(layer.get("cim_latency_us", 0.0) for layer in report["layers"])
    mcu = load_board(BOARD)
    conv = reconcile.converter_row(report)
    dev = reconcile.counters_row(inf.cpu_cycles, counts, cim_latency_us, mcu, load_energy_table(target, "target"),
                                 "device")
    assert dev.total_uj == pytest.approx(conv.total_uj, rel=0.05), (name, target, conv, dev)
    assert dev.latency_us == pytest.approx(conv.latency_us, rel=0.05)

    # The formula of docs/energy-model.md, from the TOML files, by hand.
    board = _toml(ROOT / "boards" / BOARD / "board.toml")
    tgt = _toml(ROOT / "converter" / "targets" / f"{target}.toml")["energy"]
    t_us = inf.cpu_cycles / board["cpu"]["clock_hz"] * 1e6 + cim_latency_us
    e_pj = (inf.cpu_cycles * board["power"]["pj_per_cycle"]
            + counts["macs"] * tgt["pj_per_mac"] + counts["adc_conversions"] * tgt["pj_per_adc_conversion"]
            + counts["input_bit_pulses"] * tgt["pj_per_input_bit"] + counts["digital_ops"] * tgt["pj_per_digital_op"]
            + (board["power"]["idle_mw"] * 1e3 + tgt["leakage_uw"]) * t_us)
    assert dev.total_uj == pytest.approx(e_pj * 1e-6, rel=1e-9)
    assert dev.latency_us == pytest.approx(t_us, rel=1e-9)


def test_boards_carry_the_mcu_targets_the_macro(tmp_path) -> None:
    """No MCU figure in a target file; `convert --board` prices the CPU with that board's clock."""
    from cimcontracts.errors import UserError
    from cimconv.target import load_target

    for path in sorted((ROOT / "converter" / "targets").glob("*.toml")):
        text = path.read_text()
        assert not re.search(r"^\s*(cpu_clock_mhz|pj_per_cpu_cycle|cpu_cycles_per_element)\s*=", text, re.M), path
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "converter" / "targets" / "sram-dcim.toml").read_text()
                   .replace("[timing]\n", "[timing]\ncpu_clock_mhz = 50.0\n"))
    with pytest.raises(UserError, match="MCU figure"):
        load_target(str(bad))
    kws = MODELS / "kws_ref_model.tflite"
    fast = convert(kws, "sram-dcim", "qemu-virt-rv32").report["totals"]["energy"]
    slow = convert(kws, "sram-dcim", "sipeed-longan-nano").report["totals"]["energy"]
    nano = _toml(ROOT / "boards" / "sipeed-longan-nano" / "board.toml")
    assert fast["cpu_cycles"] == slow["cpu_cycles"]  # same core, same cycle-cost file
    assert slow["cpu_us"] == pytest.approx(slow["cpu_cycles"] / nano["cpu"]["clock_hz"] * 1e6)
    assert slow["cpu_uj"] == pytest.approx(slow["cpu_cycles"] * nano["power"]["pj_per_cycle"] * 1e-6)
    assert fast["cim_uj"] == slow["cim_uj"]


def test_convert_board_option(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from cimcontracts.errors import UserError
    from cimsdk.cli import cli

    out = tmp_path / "k"
    res = CliRunner().invoke(cli, ["convert", str(MODELS / "kws_ref_model.tflite"), "-t", "nor-acim",
                                   "--board", "sifive-hifive1-revb", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["board"] == "sifive-hifive1-revb"
    assert rep["totals"]["energy"]["cpu_us"] == pytest.approx(rep["totals"]["cpu_cycles"] / 16.0)  # 16 MHz
    res = CliRunner().invoke(cli, ["convert", str(MODELS / "kws_ref_model.tflite"), "--board", "nope",
                                   "-o", str(tmp_path / "x")])
    assert isinstance(res.exception, UserError) and "nope" in str(res.exception)
    assert not (tmp_path / "x").exists()


def test_reconciliation_names_each_difference() -> None:
    """Host-only: a counters row 1,000 CPU cycles above the converter's differs by exactly those cycles'
    energy and static power; the page renders every figure with a documented formula."""
    from report_formulas import check_traceable

    from cimsdk.power.energy_model import load_board, load_energy_table
    from cimsdk.power.report_page import profile_page

    report = convert(MODELS / "kws_ref_model.tflite", "nor-acim", BOARD).report
    board = _toml(ROOT / "boards" / BOARD / "board.toml")
    tgt = _toml(ROOT / "converter" / "targets" / "nor-acim.toml")["energy"]
    e = report["totals"]["energy"]
    mcu = load_board(BOARD)
    cnt = reconcile.counters_row(e["cpu_cycles"] + 1000, report["totals"]["counts"], e["cim_latency_us"], mcu,
                                 load_energy_table("nor-acim", "target"), "device")
    meter = {"meter": "emulated", "sample_rate_hz": 1e5, "windows": 4, "uj_per_inference": cnt.total_uj * 1.002,
             "inference_ms": cnt.latency_us / 1e3, "idle_mw": board["power"]["idle_mw"] + tgt["leakage_uw"] / 1e3}
    rec = reconcile.reconcile([reconcile.converter_row(report), cnt, reconcile.meter_row(meter)], mcu, 123.0)
    d_conv, d_meter = rec["differences"]
    t_extra_us = 1000 / board["cpu"]["clock_hz"] * 1e6
    by_hand = (1000 * board["power"]["pj_per_cycle"]
               + (board["power"]["idle_mw"] * 1e3 + tgt["leakage_uw"]) * t_extra_us) * 1e-6
    assert d_conv["delta_uj"] == pytest.approx(by_hand, rel=1e-9)
    assert any("+1,000" in w for w in d_conv["why"]) and any("polling" in w for w in d_conv["why"])
    assert d_meter["delta_pct"] == pytest.approx(0.2, rel=1e-6)
    assert "123" not in " ".join(d_conv["why"])  # the host-speed figure is named, not shown
    html = profile_page(meter | {"reconciliation": rec}, None)
    assert 'id="reconciliation"' in html and html.count("<tr data-source=") == 3
    assert check_traceable(html) == []


def test_accuracy_line_on_labelled_data(tmp_path) -> None:
    """The demo's accuracy line: int8 top-1 as LiteRT (an independent interpreter) computes it, and the
    CiM image's top-1, equal here because nor-acim is ADC-lossless with noise off."""
    from explore_helpers import make_kws_set

    from cimsdk.demo.baselines import accuracy
    from cimsdk.reference import LiteRTRef
    from cimsdk.sim.simulate import load_data

    data = make_kws_set(tmp_path)
    kws = MODELS / "kws_ref_model.tflite"
    conv = convert(kws, "nor-acim", BOARD)
    acc = accuracy(kws, conv.image, data)
    ds = load_data(conv.image, data)
    n = ds.inputs.shape[0]
    want = float((LiteRTRef(kws).run(ds.inputs).reshape(n, -1).argmax(1) == ds.labels).mean())
    assert acc["samples"] == n >= 100
    assert acc["int8_top1"] == pytest.approx(want) and acc["cim_top1"] == acc["int8_top1"]


def test_profile_of_a_real_meter_trace_reconciles_with_the_converter(tmp_path) -> None:
    """A real meter has no device counters: the table holds the converter's estimate and the measurement
    (here a saved trace: 150 uJ per 5 ms window over 3 mW idle, see test_power_trace)."""
    import json
    import subprocess
    import sys

    from report_formulas import check_traceable
    from test_power_trace import _synthetic

    src = tmp_path / "in.csv"
    _synthetic().write_csv(src)
    conv_dir = tmp_path / "conv"
    conv_dir.mkdir()
    report = convert(MODELS / "kws_ref_model.tflite", "nor-acim", BOARD).report
    (conv_dir / "report.json").write_text(json.dumps(report))
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "profile", "--from", str(src), "--compare",
                          str(conv_dir / "report.json"), "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rec = json.loads((out / "report.json").read_text())["reconciliation"]
    assert [r["source"] for r in rec["rows"]] == ["converter", "meter"]
    meter = rec["rows"][1]
    assert meter["total_uj"] == pytest.approx(150.0) and meter["static_uj"] == pytest.approx(3.0 * 5.0)
    (d,) = rec["differences"]
    assert d["between"] == ["meter", "converter"]
    assert d["delta_uj"] == pytest.approx(150.0 - report["totals"]["energy_uj"])
    html = (out / "report.html").read_text()
    assert 'id="reconciliation"' in html and (out / "layers.png").is_file()
    assert check_traceable(html) == []
