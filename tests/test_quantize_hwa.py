"""Hardware-aware fine-tuning: the injected weight errors follow the simulator's device model, training
leaves clean weights behind, and `cimsdk quantize --hwa` runs end to end on a small Keras model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cimconv.target import load_target
from cimsdk.quant.hwa import NoiseInjector, fine_tune, weight_error_stats
from cimsdk.sim.noise import NoiseModel

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def test_weight_error_stats_follow_cell_encoding():
    """nor-acim holds |w| on two 4-bit cells (high digit x16 + low digit) of a differential pair, the other
    polarity off. With programming error sigma (fraction of g_max) on tuned cells only, a digit's error is
    15 * sigma digits: |w| < 16 (high cell off, untuned) errs 15 sigma LSB, |w| >= 16 errs
    sqrt(16^2 + 1) * 15 sigma LSB (the low cell counts when it holds a digit > 0)."""
    sigma = 0.004
    nz = NoiseModel(name="t", device="flash", prog_sigma_abs=sigma, off_state_exact=True)
    w = np.array([[0, 5, -7, 16 * 3 + 2, -(16 * 7 + 9), 127, -112, 16]], np.int8)
    mean, std = weight_error_stats(w, load_target("nor-acim"), nz, chips=2000, seed=1)
    d = 15 * sigma
    expect = np.array([0.0, d, d, np.hypot(16 * d, d), np.hypot(16 * d, d), np.hypot(16 * d, d), 16 * d, 16 * d])
    np.testing.assert_allclose(std[0], expect, rtol=0.08, atol=1e-6)
    assert np.all(np.abs(mean) < 4 * expect / np.sqrt(2000) + 1e-6)
    ideal_mean, ideal_std = weight_error_stats(w, load_target("nor-acim"), NoiseModel(), chips=4)
    assert not ideal_std.any() and not ideal_mean.any()


def tiny_model():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    L = tf.keras.layers
    return tf.keras.Sequential([tf.keras.Input((6, 4, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                                L.DepthwiseConv2D(3, padding="same", activation="relu"), L.Flatten(), L.Dense(3),
                                L.Softmax()])


def test_injector_scales_with_channel_scale_and_training_restores_clean_weights():
    m = tiny_model()
    nz = NoiseModel(name="t", device="flash", prog_sigma_abs=0.004, read_sigma_abs=0.002, off_state_exact=True)
    inj = NoiseInjector(m, load_target("nor-acim"), nz)
    assert [s.kind for s in inj.slots] == ["Conv2D", "DepthwiseConv2D", "Dense"]
    inj.refresh()
    conv = inj.slots[0]
    k = conv.layer.kernel.numpy()
    # per output channel, the noise is in units of that channel's scale max|w| / 127
    amax = np.abs(k.reshape(-1, k.shape[-1])).max(axis=0)
    ratio = conv.std.reshape(-1, k.shape[-1]).max(axis=0) / (amax / 127)
    assert np.all(ratio > 16 * 15 * 0.004 * 0.9) and np.all(ratio < 16 * 15 * 0.02)
    x = np.random.default_rng(0).normal(0, 1, (64, 6, 4, 1)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 64)
    before = [s.layer.kernel.numpy().copy() for s in inj.slots]
    rep = fine_tune(m, x, y, load_target("nor-acim"), nz, epochs=1, lr=0.0, clip_sigmas=None)
    after = [s.layer.kernel.numpy() for s in inj.slots]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)  # noise is removed after every step
    assert len(rep["loss_per_epoch"]) == 1 and np.isfinite(rep["loss_per_epoch"][0])
    rep = fine_tune(m, x, y, load_target("nor-acim"), nz, epochs=2, lr=1e-2, clip_sigmas=2.0)
    assert any(not np.array_equal(s.layer.kernel.numpy(), b) for s, b in zip(inj.slots, before, strict=True))


def test_channel_clipping():
    """Conv2D channels are clipped to +- sigmas x their own root mean square; Dense (per-tensor scale) to
    the tensor's."""
    from cimsdk.quant.hwa import clip_channels

    m = tiny_model()
    nz = NoiseModel()
    inj = NoiseInjector(m, load_target("nor-acim"), nz)
    conv, dense = inj.slots[0], inj.slots[2]
    k = np.random.default_rng(3).normal(0, 1, conv.layer.kernel.shape).astype(np.float32)
    k[0, 0, 0, 1] = 40.0  # an outlier in channel 1
    conv.layer.kernel.assign(k)
    kd = dense.layer.kernel.numpy()
    kd[0, 0] = 25.0
    dense.layer.kernel.assign(kd)
    clip_channels([conv.layer.kernel, dense.layer.kernel], [conv, dense], 2.5)
    flat = k.reshape(-1, k.shape[-1])
    lim = 2.5 * np.sqrt((flat.astype(np.float64) ** 2).mean(axis=0))
    np.testing.assert_allclose(conv.layer.kernel.numpy().reshape(-1, k.shape[-1]), np.clip(flat, -lim, lim),
                               rtol=1e-6)
    assert conv.layer.kernel.numpy()[0, 0, 0, 1] == pytest.approx(lim[1], rel=1e-6)
    np.testing.assert_allclose(dense.layer.kernel.numpy(), np.clip(kd, -2.5 * np.sqrt(np.mean(kd.astype(np.float64) ** 2)),
                                                                   2.5 * np.sqrt(np.mean(kd.astype(np.float64) ** 2))),
                               rtol=1e-5)


def test_quantize_hwa_cli(tmp_path):
    m = tiny_model()
    m.save(tmp_path / "tiny.keras")
    rng = np.random.default_rng(2)
    for label in ("a", "b", "c"):
        (tmp_path / "train" / label).mkdir(parents=True)
        for i in range(12):
            np.save(tmp_path / "train" / label / f"{i}.npy", rng.normal(0, 1, (1, 6, 4, 1)).astype(np.float32))
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "quantize", str(tmp_path / "tiny.keras"), "--hwa",
                          "--train", str(tmp_path / "train"), "--calib", str(tmp_path / "train"), "--epochs", "1",
                          "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path / "out" / "quantize.json").read_text())
    assert rep["hwa"]["target"] == "nor-acim" and rep["hwa"]["epochs"] == 1
    assert (tmp_path / "out" / "model_int8.tflite").stat().st_size > 0
    assert "hardware-aware fine-tuning" in res.stdout


@pytest.mark.parametrize("extra,words", [((), ("--train",)), (("--train", "T", "-t", "sram-dcim"), ("exact",))])
def test_quantize_hwa_bad_input(tmp_path, extra, words):
    m = tiny_model()
    m.save(tmp_path / "tiny.keras")
    (tmp_path / "T" / "a").mkdir(parents=True)
    np.save(tmp_path / "T" / "a" / "0.npy", np.zeros((1, 6, 4, 1), np.float32))
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "quantize", str(tmp_path / "tiny.keras"), "--hwa",
                          "--calib", str(tmp_path / "T"), *extra, "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert all(w in res.stderr for w in words)
    assert not (tmp_path / "out").exists()


NOISE_LEVEL = 6.0  # x the nor-flash preset: where naive quantization of the model below loses >= 3 points
CHIPS = 10


def _cim_top1(keras_path, calib_x, test_dir, calib_dir, tmp_path, name):
    """Quantize (TensorFlow's path), convert for nor-acim, simulate: (int8 top-1, CiM top-1 mean, std)."""
    from cimconv.image import parse_image
    from cimconv.pipeline import convert
    from cimconv.quantize import QuantOptions
    from cimconv.quantize.keras_path import quantize_tf
    from cimsdk.sim import simulate as sim
    from cimsdk.sim.noise import load_noise

    q = tmp_path / f"{name}.tflite"
    q.write_bytes(quantize_tf(keras_path, calib_x, QuantOptions(method="minmax")).model)
    img = parse_image(convert(q, "nor-acim").image_bytes)
    res = sim.simulate(img, sim.load_data(img, test_dir), load_noise("nor-flash").scaled(NOISE_LEVEL), trials=CHIPS,
                       seed=0, configs=("calibrated",), progress=False, calib=sim.load_data(img, calib_dir).inputs)
    c = res["configs"]["calibrated"]
    return res["reference_accuracy"], c["accuracy_mean"], c["accuracy_std"]


@pytest.mark.slow
def test_hwa_recovers_half_the_analog_loss(tmp_path):
    """A keyword model of our own trained on kws-synth; at nor-flash x6 on nor-acim naive quantization loses
    >= 3 points of top-1 on 10 simulated chips; hardware-aware fine-tuning recovers >= half of it on the same
    chips (seed) and clips."""
    import tensorflow as tf

    from cimsdk.data.folder import load_folder
    from cimsdk.inputs import InputSpec

    for name, per_word, seed in (("train", "100", "31"), ("test", "40", "32"), ("calib", "10", "33")):
        res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "data", "kws-synth", "-o", str(tmp_path / name),
                              "--per-word", per_word, "--seed", seed], capture_output=True, text=True, timeout=1800)
        assert res.returncode == 0, res.stderr
    spec = InputSpec(shape=(1, 49, 10, 1), dtype="float32")
    tr = load_folder(tmp_path / "train", spec)
    calib_x = load_folder(tmp_path / "calib", spec).inputs
    tf.keras.utils.set_random_seed(0)
    L = tf.keras.layers
    m = tf.keras.Sequential([
        tf.keras.Input((49, 10, 1)), L.Conv2D(24, (10, 4), strides=2, padding="same", activation="relu"),
        L.DepthwiseConv2D(3, padding="same", activation="relu"), L.Conv2D(24, 1, activation="relu"),
        L.DepthwiseConv2D(3, padding="same", activation="relu"), L.Conv2D(24, 1, activation="relu"),
        L.AveragePooling2D((25, 5)), L.Flatten(), L.Dense(12), L.Softmax()])
    m.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    m.fit(tr.inputs, tr.labels, epochs=30, batch_size=32, verbose=0)
    m.save(tmp_path / "float.keras")
    ref, naive, naive_sd = _cim_top1(tmp_path / "float.keras", calib_x, tmp_path / "test", tmp_path / "calib",
                                     tmp_path, "naive")
    rep = fine_tune(m, tr.inputs, tr.labels, load_target("nor-acim"),
                    load_noise_scaled(NOISE_LEVEL), epochs=30, seed=0, clip_sigmas=1.5)
    m.save(tmp_path / "hwa.keras")
    ref_h, hwa, hwa_sd = _cim_top1(tmp_path / "hwa.keras", calib_x, tmp_path / "test", tmp_path / "calib",
                                   tmp_path, "hwa")
    loss = ref - naive
    print(f"\nHWA, nor-flash x{NOISE_LEVEL} on nor-acim, {CHIPS} chips: naive int8 {100 * ref:.2f}% -> CiM "
          f"{100 * naive:.2f} +- {100 * naive_sd:.2f}%; HWA int8 {100 * ref_h:.2f}% -> CiM {100 * hwa:.2f} +- "
          f"{100 * hwa_sd:.2f}%; loss {100 * loss:.2f} pp, recovered {100 * (hwa - naive):.2f} pp; "
          f"training loss {rep['loss_per_epoch']}")
    assert loss >= 0.03
    assert hwa - naive >= loss / 2


def load_noise_scaled(level: float):
    from cimsdk.sim.noise import load_noise

    return load_noise("nor-flash").scaled(level)
