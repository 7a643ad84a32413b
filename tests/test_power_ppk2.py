"""PPK2 backend against a simulated kit on a pty speaking the kit's serial protocol."""

from __future__ import annotations

import numpy as np
import pytest

from cimconv.errors import UserError
from cimsdk.power.analysis import analyse
from cimsdk.power.meters import create_meter
from cimsdk.power.meters.ppk2 import (
    DEFAULT_CALIBRATION,
    Cmd,
    Decoder,
    PPK2Meter,
    encode_samples,
    format_metadata,
    parse_metadata,
    regulator_bytes,
    regulator_mv,
)
from cimsdk.testing.ppk2_sim import SIM_CALIBRATION, PPK2Simulator

FS = 100_000


def _waveform() -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, float]]]:
    """Idle 80 uA; 6 inferences of different length and current (ranges 1 and 2); D0 marks them."""
    n = 40_000
    cur = np.full(n, 80e-6)
    logic = np.zeros(n, np.uint8)
    bursts = []
    for k, (length, amps) in enumerate([(900, 4.2e-3), (1100, 12.5e-3), (1000, 4.2e-3),
                                         (1300, 30e-3), (1000, 6e-3), (800, 12.5e-3)]):
        a = 2500 + k * 6000
        cur[a : a + length] = amps
        logic[a : a + length] |= 0x01  # D0: marker
        logic[a : a + 50] |= 0x80  # D7: unrelated activity, must be ignored
        bursts.append((a, length, amps))
    return cur, logic, bursts


def test_metadata_and_regulator_roundtrip() -> None:
    cal, other = parse_metadata(format_metadata(SIM_CALIBRATION, {"Calibrated": "1", "HW": "28113"}).decode())
    for key, values in SIM_CALIBRATION.items():
        assert cal[key] == pytest.approx(values, rel=1e-5)
    assert other == {"Calibrated": "1", "HW": "28113"}
    # Nordic's convention: 800 mV is (3, 32), one count per mV.
    assert regulator_bytes(800) == (3, 32)
    assert regulator_bytes(3300) == (3 + (2500 + 32) // 256, (2500 + 32) % 256)
    assert regulator_mv(*regulator_bytes(1234)) == 1234
    with pytest.raises(UserError):
        regulator_bytes(6000)


def test_nan_and_zero_calibration_keep_defaults() -> None:
    cal, _ = parse_metadata("R0: 0\nGS1: -nan\nO2: 12.5\nEND")
    assert cal["R"][0] == DEFAULT_CALIBRATION["R"][0]
    assert cal["GS"][1] == DEFAULT_CALIBRATION["GS"][1]
    assert cal["O"][2] == 12.5


def test_sample_word_layout() -> None:
    raw, nxt = encode_samples(np.array([100e-6]), np.array([0xA5]), 62, DEFAULT_CALIBRATION, 3.3)
    word = int.from_bytes(raw, "little")
    assert word >> 24 == 0xA5  # logic byte
    assert (word >> 18) & 0x3F == 62  # counter
    assert (word >> 14) & 0x7 == 0  # 100 uA fits the most sensitive range
    # Default calibration: I = x (x + 1), x = counts x 4 x (1.8 / 163840) / 1031.64.
    x = (-1 + (1 + 4 * 100e-6) ** 0.5) / 2
    assert word & 0x3FFF == round(x * 1031.64 / (1.8 / 163840) / 4)
    assert nxt == 63


def test_decoder_counts_lost_samples() -> None:
    cur = np.full(10, 1e-3)
    raw, _ = encode_samples(cur, np.zeros(10, np.uint8), 60, DEFAULT_CALIBRATION, 3.3)
    dec = Decoder(DEFAULT_CALIBRATION, 3.3, spike_filter=False)
    # Drop samples 3 and 4, and split a word across two reads.
    data = raw[:12] + raw[20:]
    a, _, _ = dec.feed(data[:7])
    b, _, _ = dec.feed(data[7:])
    assert len(a) + len(b) == 8
    assert dec.lost_samples == 2
    assert np.allclose(np.concatenate([a, b]), 1e-3, rtol=2e-3)


def test_ppk2_sim_average_power_and_energy_within_1_percent() -> None:
    cur, logic, bursts = _waveform()
    vdd = 1.8
    with PPK2Simulator(cur, logic) as sim:
        meter = create_meter(f"ppk2:{sim.port}", {"voltage_mv": "1800"})
        with meter:
            trace = meter.capture(n_samples=len(cur), timeout_s=30)
        assert sim.vdd_mv == 1800 and sim.power_mode == 2 and sim.dut_on
        assert Cmd.GET_META_DATA in sim.commands and Cmd.AVERAGE_STOP in sim.commands
    assert len(trace) == len(cur)
    assert trace.meta["lost_samples"] == "0"
    report = analyse(trace)
    # Truth, from the waveform definition only.
    true_avg_mw = float(np.mean(cur)) * vdd * 1e3
    true_uj = sorted(length / FS * amps * vdd * 1e6 for _, length, amps in bursts)
    true_median = (true_uj[2] + true_uj[3]) / 2
    assert report["windows"] == len(bursts)
    assert report["avg_mw"] == pytest.approx(true_avg_mw, rel=0.01)
    assert report["uj_per_inference"] == pytest.approx(true_median, rel=0.01)
    assert report["uj_per_inference_min"] == pytest.approx(true_uj[0], rel=0.01)
    assert report["uj_per_inference_max"] == pytest.approx(true_uj[-1], rel=0.01)
    assert report["idle_mw"] == pytest.approx(80e-6 * vdd * 1e3, rel=0.01)
    assert report["inference_ms"] == pytest.approx(10.0, abs=0.02)  # median of 9, 11, 10, 13, 10, 8 ms
    for w, (a, length, _) in zip(report["window_list"], bursts, strict=True):
        assert w["t_start_s"] == pytest.approx(a / FS)
        assert w["ms"] == pytest.approx(length / FS * 1e3)


def test_ignoring_calibration_would_be_wrong() -> None:
    """The simulated kit's calibration is off nominal: decoding with defaults misses by > 1 %."""
    cur = np.full(1000, 12.5e-3)
    raw, _ = encode_samples(cur, np.zeros(1000, np.uint8), 0, SIM_CALIBRATION, 3.3)
    good, _, _ = Decoder(SIM_CALIBRATION, 3.3).feed(raw)
    bad, _, _ = Decoder(DEFAULT_CALIBRATION, 3.3).feed(raw)
    assert np.mean(good) == pytest.approx(12.5e-3, rel=1e-3)
    assert abs(np.mean(bad) / 12.5e-3 - 1) > 0.01


def test_wrong_port_is_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="cannot open PPK2 port"):
        PPK2Meter(str(tmp_path / "ttyNOPE")).open()
    with pytest.raises(UserError, match="serial port"):
        create_meter("ppk2")
