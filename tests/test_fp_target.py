"""sram-fpcim, the floating-point (BF16) SRAM CiM target: float models convert without quantization, the
golden model computes the macro's arithmetic (exponent pre-alignment per group, integer mantissa sums,
normalization) exactly, agrees with the float model on top-1 for real and synthetic inputs, and the firmware
on the emulated board with the coprocessor equals it in every bit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from paths import DATA, MODELS, ROOT

from cimconv.bf16 import to_bf16
from cimconv.errors import UserError
from cimconv.pipeline import convert
from cimconv.target import load_target
from cimsdk.golden import Executor
from cimsdk.mac import fpcim
from cimsdk.reference import LiteRTRef

KWS = MODELS / "kws_ref_model_float32.tflite"
VWW = MODELS / "vww_96_float.tflite"
WAVS = ["yes_1000ms.wav", "no_1000ms.wav", "silence_1000ms.wav", "noise_1000ms.wav"]


@pytest.fixture(scope="module")
def kws():
    return convert(KWS, "sram-fpcim")


@pytest.fixture(scope="module")
def vww():
    return convert(VWW, "sram-fpcim")


def kws_real() -> np.ndarray:
    from cimsdk.frontend.mfcc import mfcc_float
    from cimsdk.frontend.wav import read_wav_16k

    return np.stack([mfcc_float(read_wav_16k(DATA / f))[0] for f in WAVS])[..., None].astype(np.float32)


def kws_synthetic(per_word: int) -> np.ndarray:
    """espeak-ng saying the keywords (and unknown words, silence) with noise: `cimsdk data kws-synth`'s clips."""
    from cimsdk.data import synth
    from cimsdk.frontend.mfcc import mfcc_float

    clips = [synth.render(p).astype(np.float32) / 32768 for p in synth.plan_clips(per_word, 19)]
    return mfcc_float(np.stack(clips))[..., None].astype(np.float32)


def vww_real() -> np.ndarray:
    """The shared test images and scikit-image's labelled samples, as the float model takes them ([0, 1])."""
    from PIL import Image
    from skimage import data as skdata

    pics = [np.asarray(Image.open(DATA / f).convert("RGB").resize((96, 96), Image.BILINEAR))
            for f in ("person.bmp", "no_person.bmp")]
    for name in ("astronaut", "camera", "coffee", "chelsea", "rocket"):
        img = Image.fromarray(getattr(skdata, name)()).convert("RGB").resize((96, 96), Image.BILINEAR)
        pics.append(np.asarray(img))
    return np.stack(pics).astype(np.float32) / 255.0


def vww_synthetic(n: int) -> np.ndarray:
    """Smooth random images in [0, 1]: noise at 6x6 to 24x24 upsampled, plus its fine grain."""
    rng = np.random.default_rng(23)
    out = []
    for i in range(n):
        s = (6, 12, 24)[i % 3]
        coarse = rng.uniform(0, 1, size=(s, s, 3))
        img = np.kron(coarse, np.ones((96 // s, 96 // s, 1)))
        out.append(np.clip(img + rng.normal(0, 0.05, size=img.shape), 0, 1))
    return np.stack(out).astype(np.float32)


def float_top1(model, xs: np.ndarray) -> np.ndarray:
    ref = LiteRTRef(model)
    return np.array([ref.invoke(x[None]).reshape(-1).argmax() for x in xs])


# --- the arithmetic ---------------------------------------------------------------------------------------
def test_bf16_rounding_is_ieee_round_to_nearest_even():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(20000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 20000),
                        np.array([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 0.0, -0.0, 3.3895314e38], np.float32)])
    want = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    assert np.array_equal(to_bf16(x), want)


def scalar_dot(x: list[float], w: list[float], group: int) -> Fraction:
    """One output of the macro, written out with Python integers and fractions, group by group (docs/targets.md):
    BF16 mantissa integers aligned to the group's largest exponent, truncated, summed, scaled, then the groups
    added in float32."""

    def parts(v: float) -> tuple[int, int]:
        b = int(np.array([v], np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)[0])
        e = (b >> 7) & 0xFF
        m = 0 if e == 0 else 128 + (b & 0x7F)
        return (-m if b & 0x8000 else m), e

    total = np.float32(0.0)
    for g0 in range(0, len(x), group):
        xs = [parts(v) for v in x[g0 : g0 + group]]
        ws = [parts(v) for v in w[g0 : g0 + group]]
        ex, ew = max(e for _, e in xs), max(e for _, e in ws)

        def aligned(m: int, e: int, top: int) -> int:
            mag = abs(m) >> min(top - e, 31)
            return -mag if m < 0 else mag

        acc = sum(aligned(mx, e1, ex) * aligned(mw, e2, ew) for (mx, e1), (mw, e2) in zip(xs, ws, strict=True))
        value = Fraction(acc) * Fraction(2) ** (ex + ew - 2 * 134)
        total = np.float32(total + np.float32(float(value)))  # each group normalized to float32, added in order
    return total


@pytest.mark.parametrize("group", [1, 4, 64])
def test_macro_arithmetic_matches_a_scalar_restatement(group):
    rng = np.random.default_rng(group)
    k, n, m = 70, 5, 6  # K not a multiple of the group: the last group is short
    x = (rng.standard_normal((m, k)) * 2.0 ** rng.integers(-12, 12, (m, k))).astype(np.float32)
    w = (rng.standard_normal((n, k)) * 2.0 ** rng.integers(-12, 12, (n, k))).astype(np.float32)
    x[0, :10] = 0.0
    w[1, 5:9] = -w[1, 5:9]
    xm, xe = fpcim.encode(x)
    got = fpcim.dense(xm, xe, fpcim.aligned_weights(to_bf16(w), group), group, np.zeros(n, np.float32),
                      np.float32(-np.inf), np.float32(np.inf))
    want = np.array([[scalar_dot(list(x[i]), list(w[j]), group) for j in range(n)] for i in range(m)], np.float32)
    assert np.array_equal(got.view(np.int32), want.view(np.int32))
    # alignment truncates: wider groups lose more of the small terms than one row per group
    if group > 1:
        exact = x.astype(np.float64) @ w.T.astype(np.float64)
        plain = fpcim.dense(xm, xe, fpcim.aligned_weights(to_bf16(w), 1), 1, np.zeros(n, np.float32),
                            np.float32(-np.inf), np.float32(np.inf))
        assert np.abs(got - exact).sum() > np.abs(plain - exact).sum()


# --- the target -------------------------------------------------------------------------------------------
def test_target_figures_follow_the_cited_macro():
    t = load_target("sram-fpcim")
    data = tomllib.loads((ROOT / "converter" / "targets" / "sram-fpcim.toml").read_text())
    assert t.floating_point and t.number_format == "bf16"
    assert data["energy"]["pj_per_mac"] == round(2 / 31.6, 4)  # 31.6 TFLOPS/W [guo2023]: 2 FLOPs a MAC
    assert t.rows * t.weight_cols * 16 == 64 * 1024  # one array = the 64 kb macro [guo2023]


def test_report_energy_from_the_macro_figure(kws):
    tot = kws.report["totals"]
    assert tot["cim_macs"] == tot["macs"] == 2_656_768  # every MAC on the macro, none quantized away
    assert tot["energy"]["cim_uj"] == pytest.approx(tot["cim_macs"] * 2 / 31.6 * 1e-6, rel=1e-3)


def test_only_float_models_and_no_calibration():
    with pytest.raises(UserError, match="float32"):
        convert(MODELS / "kws_ref_model.tflite", "sram-fpcim")
    r = subprocess.run([sys.executable, "-m", "cimsdk.cli", "convert", str(KWS), "-t", "sram-fpcim", "--calib",
                        str(DATA), "-o", "/nonexistent/x"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "floating point" in r.stderr and "Traceback" not in r.stderr


# --- the models -------------------------------------------------------------------------------------------
def test_golden_is_deterministic_and_batch_independent(kws):
    xs = kws_real()
    ex = Executor(kws.image_bytes)
    whole = ex.predict([xs])[0]
    one_by_one = np.concatenate([Executor(kws.image_bytes).predict([x[None]])[0] for x in xs])
    assert np.array_equal(whole.view(np.int32), one_by_one.view(np.int32))


def test_kws_agrees_with_the_float_model_on_real_and_synthetic_speech(kws):
    real = kws_real()
    ex = Executor(kws.image_bytes)
    got = ex.predict([real])[0].argmax(-1)
    assert list(got) == [9, 1, 10, 11]  # Yes, Go (the model's known no/go confusion), Silence, Unknown
    assert np.array_equal(got, float_top1(KWS, real))
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed: no synthetic speech")
    syn = kws_synthetic(10)  # 120 clips
    agree = (ex.predict([syn])[0].argmax(-1) == float_top1(KWS, syn)).mean()
    assert agree >= 0.99


def test_vww_agrees_with_the_float_model_on_images(vww):
    ex = Executor(vww.image_bytes)
    xs = np.concatenate([vww_real(), vww_synthetic(93)])  # 100 images
    agree = (ex.predict([xs])[0].argmax(-1) == float_top1(VWW, xs)).mean()
    assert agree >= 0.99


def test_compare_reports_the_alignment_error(kws, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.cimg").write_bytes(kws.image_bytes)
    out = tmp_path / "c.json"
    r = subprocess.run([sys.executable, "-m", "cimsdk.cli", "compare", str(KWS), str(tmp_path / "m"),
                        "-i", str(DATA / "yes_1000ms.wav"), "-i", str(DATA / "no_1000ms.wav"), "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "top-1 agreement with the float model: 2 of 2" in r.stdout
    rep = json.loads(out.read_text())
    assert rep["align_group"] == 64 and rep["top1_agree"] == 2
    cim = [d for d in rep["layers"] if d["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert len(cim) == 10
    for d in cim:  # BF16 rounding alone is ~2^-9 relative; the 64-row alignment adds more, a few percent at most
        assert 0 < d["bf16_rel_rms"] < 0.005
        assert d["bf16_rel_rms"] < d["macro_rel_rms"] < 0.03
        assert 0 < d["alignment_rel_rms"] <= d["macro_rel_rms"] + d["bf16_rel_rms"]


def test_one_row_groups_add_no_alignment_error(tmp_path):
    text = (ROOT / "converter" / "targets" / "sram-fpcim.toml").read_text()
    one = tmp_path / "fp1.toml"
    one.write_text(text.replace("rows_active = 64 ", "rows_active = 1 "))
    conv = convert(KWS, str(one))
    from cimsdk.fp_compare import compare_float

    comp = compare_float(KWS, conv.image, kws_real()[:2])
    assert comp.align_group == 1
    assert all(d.alignment_rel_rms == 0.0 for d in comp.layers if d.alignment_rel_rms is not None)


# --- the device -------------------------------------------------------------------------------------------
@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32")
@pytest.mark.parametrize("backend", ["mailbox", "soft"])
def test_device_equals_golden_in_every_bit(kws, vww, tmp_path, backend):
    """The firmware runs the graph's float32 CPU ops itself and the CiM layers on the emulated coprocessor
    (mailbox) or in C on the MCU (soft, cim_soft_fp.c); float32 activations need 4x an int8 model's RAM, so the
    firmware is built with a larger arena and image buffer (-D CIM_ARENA_SIZE, CIM_IMAGE_BUF_SIZE)."""
    from cimsdk.build import build_firmware
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard

    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", backend, quiet=True,
                         defines={"CIM_ARENA_SIZE": "327680u", "CIM_IMAGE_BUF_SIZE": "786432u"})
    rng = np.random.default_rng(3)
    cases = [(kws, np.concatenate([kws_real(), rng.standard_normal((2, 49, 10, 1)).astype(np.float32) * 20])),
             (vww, np.concatenate([vww_real()[:2], vww_synthetic(1)])[: 3 if backend == "mailbox" else 1])]
    for conv, xs in cases:
        golden = Executor(conv.image_bytes).predict([xs])[0]
        assert conv.report["totals"]["activation_ram_bytes"] <= 327680
        with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, \
                Device(board.url, timeout=10.0) as dev:
            ensure_image(dev, conv.image_bytes, show_progress=False)
            for x, g in zip(xs, golden, strict=True):
                out, _ = dev.run(x.tobytes(), g.nbytes, timeout=300.0)
                assert np.array_equal(np.frombuffer(out, np.int32), g.view(np.int32).reshape(-1))


# --- other float graphs -----------------------------------------------------------------------------------
def _float_model(tmp_path, with_add: bool = False):
    """A float Keras model with what the shared models lack: dilation, VALID padding, RELU6, a depth
    multiplier of 2 with stride 2, SAME average pooling, a dense layer without activation."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(5)
    L = tf.keras.layers
    inp = tf.keras.Input(shape=(15, 13, 3), batch_size=1)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="valid", activation="relu6")(inp)
    x = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", activation="relu")(x)
    if with_add:
        x = L.Add()([x, x])
    x = L.AveragePooling2D(2, padding="same")(x)
    x = L.Reshape((-1,))(x)
    out = L.Softmax()(L.Dense(5)(x))
    path = tmp_path / ("add.tflite" if with_add else "float.tflite")
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, out)).convert())
    return path


def test_other_float_graphs_follow_the_float_model(tmp_path):
    model = _float_model(tmp_path)
    conv = convert(model, "sram-fpcim")
    ops = [op.opcode for op in conv.image.ops]
    assert ops.count("DEPTHWISE_CONV_2D") == 1 and "AVERAGE_POOL_2D" in ops
    xs = np.random.default_rng(4).standard_normal((40, 15, 13, 3)).astype(np.float32)
    got = Executor(conv.image_bytes).predict([xs])[0]
    ref = LiteRTRef(model)
    want = np.concatenate([ref.invoke(x[None]) for x in xs])
    assert np.abs(got - want).max() < 0.02  # probabilities: BF16 and the alignment, a few parts in a thousand
    assert (got.argmax(-1) == want.argmax(-1)).mean() >= 0.95
    from cimsdk.fp_compare import compare_float

    comp = compare_float(model, conv.image, xs[:4])
    for d in comp.layers:
        if d.macro_rel_rms is not None:
            assert d.macro_rel_rms < 0.03 and d.bf16_rel_rms < 0.005


def test_unsupported_float_ops_are_named(tmp_path):
    with pytest.raises(UserError, match="ADD at operator"):
        convert(_float_model(tmp_path, with_add=True), "sram-fpcim")
