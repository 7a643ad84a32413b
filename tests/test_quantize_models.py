"""The quantizer on the shared float models, data-set sized (slow): KWS top-1 against the float and the
published int8 model, VWW agreement with the float model, ToyCar (Keras, TensorFlow's path) output SNR.
Figures are printed (`pytest -s`) for the README and the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from paths import MODELS

from cimsdk.reference import TFLM

pytestmark = pytest.mark.slow

KWS_FLOAT = MODELS / "kws_ref_model_float32.tflite"
KWS_INT8 = MODELS / "kws_ref_model.tflite"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimsdk.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=3600)


def litert_outputs(model: Path, x: np.ndarray) -> np.ndarray:
    """The float model run by LiteRT (TensorFlow's interpreter), one input at a time."""
    from ai_edge_litert import interpreter as lite

    it = lite.Interpreter(model_path=str(model))
    it.allocate_tensors()
    i0, o0 = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    out = []
    for row in x:
        it.set_tensor(i0, row[None].astype(np.float32))
        it.invoke()
        out.append(it.get_tensor(o0).copy())
    return np.concatenate(out)


@pytest.fixture(scope="module")
def kws_sets(tmp_path_factory) -> tuple[Path, Path]:
    """Calibration clips (20 per label) and 1,200 other evaluation clips (100 per label, another seed)."""
    root = tmp_path_factory.mktemp("kws-sets")
    for name, per_word, seed in (("calib", "20", "101"), ("eval", "100", "202")):
        res = cli("data", "kws-synth", "-o", str(root / name), "--per-word", per_word, "--seed", seed, cwd=root)
        assert res.returncode == 0, res.stderr
    return root / "calib", root / "eval"


@pytest.fixture(scope="module")
def kws_quantized(kws_sets, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kws-q") / "q"
    res = cli("quantize", str(KWS_FLOAT), "--calib", str(kws_sets[0]), "-o", str(out), cwd=out.parent)
    assert res.returncode == 0, res.stderr
    return out / "model_int8.tflite"


def test_kws_int8_top1_matches_float_and_published(kws_sets, kws_quantized):
    from cimsdk.data.folder import load_folder
    from cimsdk.inputs import InputSpec

    ev = kws_sets[1]
    fd = load_folder(ev, InputSpec.from_tflite(KWS_FLOAT))
    assert len(fd.labels) >= 1000
    top1 = {"float (LiteRT)": float((litert_outputs(KWS_FLOAT, fd.inputs).argmax(1) == fd.labels).mean())}
    for name, model in (("published int8", KWS_INT8), ("cimsdk int8", kws_quantized)):
        d = load_folder(ev, InputSpec.from_tflite(model))
        top1[name] = float((TFLM(model).run(d.inputs).argmax(1) == d.labels).mean())
    print("\nKWS top-1 on", len(fd.labels), "clips:", {k: f"{100 * v:.2f}%" for k, v in top1.items()})
    assert abs(top1["cimsdk int8"] - top1["float (LiteRT)"]) <= 0.005
    assert abs(top1["cimsdk int8"] - top1["published int8"]) <= 0.005


@pytest.mark.parametrize("target", ["nor-acim", "sram-dcim"])
def test_kws_quantized_image_bit_exact_on_host(kws_sets, kws_quantized, target):
    from cimconv.pipeline import convert
    from cimsdk.data.folder import load_folder
    from cimsdk.golden import Executor
    from cimsdk.inputs import InputSpec

    d = load_folder(kws_sets[1], InputSpec.from_tflite(kws_quantized))
    conv = convert(kws_quantized, target)
    ours = Executor(conv.image_bytes).run(d.inputs)
    ref = TFLM(kws_quantized).run(d.inputs)
    assert int((ours != ref).sum()) == 0


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None, reason="needs qemu-system-riscv32")
def test_kws_quantized_image_bit_exact_on_emulated_board(kws_sets, kws_quantized, tmp_path):
    from cimconv.pipeline import convert
    from cimsdk.build import build_firmware
    from cimsdk.data.folder import load_folder
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.golden import Executor
    from cimsdk.inputs import InputSpec

    d = load_folder(kws_sets[1], InputSpec.from_tflite(kws_quantized))
    xs = d.inputs[:: len(d.inputs) // 24][:24]  # two clips of every label
    conv = convert(kws_quantized, "nor-acim")
    golden = Executor(conv.image_bytes).run(xs)
    assert np.array_equal(golden, TFLM(kws_quantized).run(xs))
    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", "mailbox", quiet=True)
    with EmulatedBoard(firmware=elf, backend="mailbox", wait_for_client=False) as board, \
            Device(board.url, timeout=10.0) as dev:
        ensure_image(dev, conv.image_bytes, show_progress=False)
        outs = []
        for x in xs:
            out, _ = dev.run(x.tobytes(), golden[0].size, timeout=120.0)
            outs.append(np.frombuffer(out, np.int8).reshape(golden.shape[1:]))
    assert int((np.stack(outs) != golden).sum()) == 0


def test_vww_int8_agrees_with_float_like_the_published_model(tmp_path):
    """cimsdk's int8 VWW against the float model's top-1 on 600 crops/flips/scales of scikit-image's
    bundled photos, next to the published int8 model on the same images."""
    from quant_data import crops

    from cimconv.quantize import QuantOptions, quantize_file
    from cimconv.reader import parse_model

    vww_float, vww_int8 = MODELS / "vww_96_float.tflite", MODELS / "vww_96_int8.tflite"
    calib = crops(200, seed=1).astype(np.float32) / 255  # the float model takes pixels in [0, 1]
    images = crops(600, seed=2)
    pf = litert_outputs(vww_float, images.astype(np.float32) / 255).argmax(1)
    res = quantize_file(vww_float, calib, QuantOptions(method="percentile"))
    ours = tmp_path / "vww_q.tflite"
    ours.write_bytes(res.model)
    agree = {}
    for name, model in (("published int8", vww_int8), ("cimsdk int8", ours)):
        g = parse_model(model.read_bytes())
        t = g.tensors[g.inputs[0]]
        xq = np.clip(np.round(images.astype(np.float64) / 255 / t.quant.s) + t.quant.zp, -128, 127).astype(np.int8)
        agree[name] = float((TFLM(model).run(xq).argmax(1) == pf).mean())
    print(f"\nVWW agreement with the float top-1 on {len(images)} images (float says person on "
          f"{100 * pf.mean():.1f}%):", {k: f"{100 * v:.2f}%" for k, v in agree.items()})
    assert agree["cimsdk int8"] >= 0.97
    assert agree["cimsdk int8"] >= agree["published int8"] - 0.01


def test_toycar_keras_through_tensorflow_output_snr(tmp_path):
    """The MLPerf anomaly-detection autoencoder (Keras .hdf5) through `cimsdk quantize` (TensorFlow's
    converter): output SNR of the int8 model in TFLM against the float Keras model, on synthetic log-mel
    inputs in the model's range; `convert` takes the result and the golden model is bit-exact with TFLM."""
    from quant_data import toycar_inputs

    from cimconv.pipeline import convert
    from cimconv.quantize.keras_path import load_keras
    from cimconv.reader import parse_model
    from cimsdk.golden import Executor

    model = MODELS / "model_ToyCar.hdf5"
    np.save(tmp_path / "calib.npy", toycar_inputs(200, seed=1))
    res = cli("quantize", str(model), "--calib", str(tmp_path / "calib.npy"), "-o", str(tmp_path / "q"),
              "--method", "minmax", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    q = tmp_path / "q" / "model_int8.tflite"
    assert "TensorFlow converter" in json.loads((tmp_path / "q" / "quantize.json").read_text())["route"]
    x = toycar_inputs(500, seed=2)
    yf = np.asarray(load_keras(model)(x, training=False), np.float64)
    g = parse_model(q.read_bytes())
    ti, to = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    xq = np.clip(np.round(x / ti.quant.s) + ti.quant.zp, -128, 127).astype(np.int8)
    yq8 = TFLM(q).run(xq)
    yq = (yq8.astype(np.float64) - to.quant.zp) * to.quant.s
    snr = 10 * np.log10(np.sum(yf**2) / np.sum((yq - yf) ** 2))
    score_f, score_q = ((yf - x) ** 2).mean(1), ((yq - x) ** 2).mean(1)
    corr = float(np.corrcoef(score_f, score_q)[0, 1])
    print(f"\nToyCar int8 output SNR against float: {snr:.1f} dB; anomaly-score correlation {corr:.4f}")
    assert snr >= 25.0
    assert corr >= 0.98
    conv = convert(q, "nor-acim")
    assert np.array_equal(Executor(conv.image_bytes).run(xq[:50]), yq8[:50])
