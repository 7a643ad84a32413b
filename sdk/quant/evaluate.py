"""Where accuracy goes, step by step: the float model, the int8 model in TFLM, the CiM image on simulated chips.

Labelled data gives top-1 for every step; any data gives agreement of each step's top-1 with the float
model's and the output SNR of the int8 model against the float model. The CiM rows are `simulate`'s Monte
Carlo (the target's noise preset, naive and calibrated ADC), mean and spread over chips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimsdk.quant.data import load, model_spec


def float_outputs(model: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """The float model's output 0 for a batch: TensorFlow for Keras/SavedModel, the numpy float runner for
    a float .tflite (checked against LiteRT in the tests)."""
    from cimconv.quantize.keras_path import is_tf_model

    if is_tf_model(model):
        from cimconv.quantize.keras_path import load_keras

        km = load_keras(model)
        return np.concatenate([np.asarray(km(x[i : i + batch], training=False)) for i in range(0, len(x), batch)])
    from cimconv.quantize.float_runner import FloatRunner
    from cimconv.reader import read_model

    g = read_model(model)
    r = FloatRunner(g)
    return np.concatenate([r.run(x[i : i + batch])[g.outputs[0]] for i in range(0, len(x), batch)])


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    ref, test = ref.astype(np.float64).reshape(-1), test.astype(np.float64).reshape(-1)
    err = float(np.sum((test - ref) ** 2))
    return float("inf") if err == 0 else 10.0 * np.log10(float(np.sum(ref**2)) / err)


def _top1(y: np.ndarray) -> np.ndarray:
    return y.reshape(len(y), -1).argmax(axis=1)


def dequantize_output(model: Path, y: np.ndarray) -> np.ndarray:
    from cimconv.reader import read_model

    g = read_model(model)
    t = g.tensors[g.outputs[0]]
    if t.quant is None:
        return y.astype(np.float64)
    return (y.astype(np.float64) - t.quant.zp) * t.quant.s


def accuracy_table(float_model: Path, int8_model: Path, data: Path, target: str = "nor-acim",
                   noise: str | None = None, trials: int = 10, seed: int = 0, cim: bool = True,
                   calib: Path | None = None, noise_level: float = 1.0, age_s: float = 0.0) -> dict:
    """Rows: float, int8 (TFLM), and CiM naive / calibrated on `target` (mean, std over `trials` chips); the
    CiM ADC ranges are calibrated on `calib` (else on frames of `data`), when there are enough frames."""
    from cimsdk.data.accuracy import tflm_outputs
    from cimsdk.inputs import InputSpec

    fd = load(data, model_spec(float_model), "--eval")
    qd = load(data, InputSpec.from_tflite(int8_model), "--eval")
    labels = fd.labels
    yf = float_outputs(float_model, fd.inputs.astype(np.float32))
    pf = _top1(yf)
    yq = tflm_outputs(int8_model, qd.inputs)
    pq = _top1(yq)
    rows = []

    def row(step: str, preds: np.ndarray | None, **extra) -> dict:
        r = {"step": step, "top1": None, "top1_std": None, "agreement_float": None}
        if preds is not None:
            r["agreement_float"] = float((preds == pf).mean())
            if labels is not None:
                r["top1"] = float((preds == labels).mean())
        r.update(extra)
        return r

    rows.append(row("float", pf, output_snr_db=None))
    rows.append(row("int8 (TFLM)", pq, output_snr_db=snr_db(yf, dequantize_output(int8_model, yq))))
    result = {"samples": int(len(pf)), "labelled": labels is not None, "labels": fd.names,
              "float_model": str(float_model), "int8_model": str(int8_model), "rows": rows}
    if cim:
        cx = load(calib, InputSpec.from_tflite(int8_model), "--calib").inputs if calib is not None else None
        result.update(_cim_rows(int8_model, qd, cx, target, noise, trials, seed, rows, noise_level, age_s))
    return result


def _cim_rows(int8_model: Path, qd, calib: np.ndarray | None, target: str, noise: str | None, trials: int, seed: int,
              rows: list, noise_level: float = 1.0, age_s: float = 0.0) -> dict:
    from cimconv.image import parse_image
    from cimconv.pipeline import convert
    from cimconv.target import load_target
    from cimsdk.sim import simulate as sim
    from cimsdk.sim.noise import default_preset, load_noise

    tgt = load_target(target)
    conv = convert(int8_model, tgt)
    img = parse_image(conv.image_bytes)
    nz = load_noise(noise or default_preset(tgt)).scaled(noise_level).aged(age_s)
    ds = sim.Dataset(np.asarray(qd.inputs).reshape((-1, *img.tensors[img.input_tensor].shape[1:])), qd.labels,
                     qd.names)
    from cimsdk.sim.calibrate import MIN_FRAMES

    frames = len(calib) if calib is not None else len(ds.inputs)
    analog = tgt.adc_bits and not tgt.exact
    configs = ("naive", "calibrated") if analog and frames >= MIN_FRAMES else ("naive",)
    res = sim.simulate(img, ds, nz, trials=trials, seed=seed, target=tgt, configs=configs, progress=True,
                       calib=calib if "calibrated" in configs else None)
    for name, c in res["configs"].items():
        level = "" if noise_level == 1.0 else f" x{noise_level:g}"
        rows.append({"step": f"CiM {tgt.name} {nz.name}{level} ({name})", "top1": c["accuracy_mean"],
                     "top1_std": c["accuracy_std"], "agreement_float": None,
                     "agreement_int8": c["agreement_mean"], "agreement_int8_std": c["agreement_std"],
                     "trials": trials})
    return {"target": tgt.name, "noise": nz.summary(), "trials": trials, "seed": seed}


def table_lines(result: dict) -> list[str]:
    def pct(v, sd=None):
        if v is None:
            return "-"
        return f"{100 * v:.2f}%" + (f" +- {100 * sd:.2f}" if sd else "")

    head = f"{'step':<40} {'top-1':>16} {'agree float':>12} {'agree int8':>16} {'out SNR dB':>10}"
    out = [head, "-" * len(head)]
    for r in result["rows"]:
        snr = r.get("output_snr_db")
        out.append(f"{r['step']:<40} {pct(r['top1'], r.get('top1_std')):>16} {pct(r['agreement_float']):>12} "
                   f"{pct(r.get('agreement_int8'), r.get('agreement_int8_std')):>16} "
                   f"{'-' if snr is None else f'{snr:.1f}':>10}")
    out.append(f"{result['samples']} inputs" + ("" if result["labelled"] else " (unlabelled: agreement and SNR only)")
               + (f"; CiM: {result['trials']} simulated chips, seed {result['seed']}" if "trials" in result else ""))
    return out

