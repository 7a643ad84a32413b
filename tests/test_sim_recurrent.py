"""`simulate` on a recurrent model: per-time-step agreement of the sequence layer with the ideal
(noise-free, bit-exact) outputs, in the JSON and plotted; the shared micro_speech LSTM under the target's
default noise preset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimsdk.sim import recurrent
from cimsdk.sim import simulate as sim
from cimsdk.sim.noise import load_noise


def test_step_agreement_by_hand() -> None:
    ideal = np.zeros((2, 3, 4), np.int8)  # 2 inputs, 3 steps, 4 units
    ideal[:, :, 0] = 10
    noisy = np.concatenate([ideal, ideal])  # 2 chips
    noisy[0, 2, 1] = 2  # chip 0, input 0, last step: one output off by 2 LSBs
    noisy[3, 1, 0] = 7  # chip 1, input 1, step 1: one off by 3
    r = recurrent.step_agreement(ideal, noisy, trials=2)
    assert r["steps"] == 3
    assert r["agreement"] == [1.0, 15 / 16, 15 / 16]  # 16 outputs per step over both chips
    assert r["mean_abs_lsb"] == [0.0, 3 / 16, 2 / 16]
    # signal: 4 of 16 outputs at 10 -> 25 LSB^2; noise: 9/16 and 4/16 LSB^2
    assert r["snr_db"][0] == float("inf")
    assert r["snr_db"][1] == pytest.approx(10 * np.log10(25 / (9 / 16)))
    assert r["snr_db"][2] == pytest.approx(10 * np.log10(25 / (4 / 16)))
    assert r["final_step_agreement_per_chip"] == [7 / 8, 1.0]


@pytest.fixture(scope="module")
def lstm(models_dir, tmp_path_factory):
    from cimsdk.api import convert

    return convert(models_dir / "real" / "tflm_micro_speech_lstm.tflite", target="nor-acim")


def _data(image, n: int) -> sim.Dataset:
    shape = image.tensors[image.input_tensor].shape[1:]
    x = np.random.default_rng(3).integers(-128, 128, (n, *shape), dtype=np.int8)
    return sim.Dataset(x, None, None)


def test_lstm_per_step_agreement_in_json_and_plot(lstm, tmp_path) -> None:
    image = lstm.image
    assert image.target == "nor-acim"
    noise = load_noise("nor-flash")  # nor-acim's default preset
    r = sim.simulate(image, _data(image, 8), noise, trials=2, configs=("naive",), progress=False)
    steps = r["recurrent_steps"]
    assert list(steps) == ["1"]  # the LSTM is op 1 (after its input products on the macro)
    st = steps["1"]
    assert st["steps"] == 49 and len(st["agreement"]) == len(st["snr_db"]) == 49
    assert all(0.0 <= a <= 1.0 for a in st["agreement"])
    assert min(st["agreement"]) < 1.0  # the noise reaches the recurrent outputs
    json.dumps(r)  # the whole result is JSON (simulate.json)
    files = sim.plots(r, tmp_path)
    assert tmp_path / "recurrent_steps.png" in files and (tmp_path / "recurrent_steps.png").stat().st_size > 5000


def test_lstm_without_noise_agrees_at_every_step(lstm) -> None:
    image = lstm.image
    r = sim.simulate(image, _data(image, 4), load_noise("nor-flash").scaled(0.0), trials=2, configs=("naive",),
                     progress=False)
    st = r["recurrent_steps"]["1"]
    assert st["agreement"] == [1.0] * 49 and st["mean_abs_lsb"] == [0.0] * 49


def test_feedforward_model_has_no_step_figures(models_dir) -> None:
    from cimsdk.api import convert

    image = convert(models_dir / "kws_ref_model.tflite", target="nor-acim").image
    assert recurrent.sequence_layers(image) == []
    r = sim.simulate(image, _data(image, 4), load_noise("nor-flash"), trials=2, configs=("naive",), progress=False)
    assert "recurrent_steps" not in r and "recurrent_steps" not in r["configs"]["naive"]
