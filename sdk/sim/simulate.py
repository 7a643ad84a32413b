"""Monte Carlo driver: accuracy and agreement of an image on an analog macro over many chips (trials).

Each trial is one chip (its own programmed conductances); all trials and a batch of samples run as one
vectorised batch, and trials are split across two worker threads (numpy releases the GIL).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimconv.image import Image
from cimconv.target import Target, load_target
from cimsdk.sim import calibrate as cal
from cimsdk.sim import hybrid, recurrent
from cimsdk.sim.analog import AnalogCimModel
from cimsdk.sim.noise import NoiseModel

CALIB_FRAMES = 128
STEP_SAMPLES = 64  # inputs whose sequence layers are compared step by step with the ideal


@dataclass
class Dataset:
    inputs: np.ndarray
    labels: np.ndarray | None
    names: list[str] | None


def load_data(image: Image, path: str | Path) -> Dataset:
    """A labelled folder (one sub-folder per label), a folder of input files, or one input file (.npy batch,
    .wav, image)."""
    from cimsdk.golden.edges import to_program
    from cimsdk.imagefile import input_spec
    from cimsdk.inputs import load_input

    if len(image.inputs) != 1:
        raise UserError(f"--data {path}: the model has {len(image.inputs)} inputs; simulate takes one-input models")
    rec = image.tensors[image.input_tensor]
    io = image.inputs[0]
    if any(op.cim and image.tensors[op.inputs[0]].dtype != "int8" for op in image.ops):
        raise UserError("this image's CiM layers take int16 activations (16x8); the analog simulator models int8 "
                        "inputs only (`cimsdk run`, `compare` and `validate` run it exactly)")
    spec = input_spec(image)  # the model's edge: float values for a float-edged model (docs/edges.md)
    path = Path(path)
    if path.is_dir() and not any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        from cimsdk.data.folder import DATA_SUFFIXES  # a plain folder of input files, no labels

        files = sorted(p for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
        if not files:
            raise UserError(f"{path}: no input files ({', '.join(DATA_SUFFIXES)}) and no label sub-folders")
        x = np.concatenate([np.asarray(load_input(f, spec)).reshape((-1, *rec.shape[1:])) for f in files])
        labels, names = None, None
    elif path.is_dir():
        from cimsdk.data.folder import load_folder

        d = load_folder(path, spec)
        x, labels, names = d.inputs, d.labels, list(d.names)
    elif path.is_file():
        x, labels, names = load_input(path, spec), None, None
    else:
        raise UserError(f"--data {path}: no such file or folder; give a labelled folder or an input file")
    x = to_program(np.asarray(x).reshape((-1, *rec.shape[1:])), io, rec, str(path))
    if x.dtype != np.int8:
        raise UserError(f"--data {path}: inputs are {x.dtype}; this image takes int8")
    return Dataset(x, labels, names)


def _top1(y: np.ndarray) -> np.ndarray:
    return y.reshape(y.shape[0], -1).argmax(axis=1)


def reference_outputs(image: Image, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The int8 reference: the ideal golden model (bit-exact with TFLM)."""
    from cimsdk.golden import Executor

    ex = Executor(image)
    return np.concatenate([ex.run(x[i : i + batch]) for i in range(0, len(x), batch)])


def build_model(image: Image, target: Target, noise: NoiseModel, trials: int, seed: int, trial0: int,
                calibrated: bool, calib_inputs: dict | None, ranges: tuple | None,
                mode: str = "fast") -> AnalogCimModel:
    """One chip population; `calibrated` adds ADC ranges and per-chip column gain/offset."""
    if not calibrated:
        return AnalogCimModel(image, target, noise, trials, seed, mode, trial0=trial0)
    adc, clips = ranges
    model = AnalogCimModel(image, target, noise, trials, seed, mode,
                           adc_ranges=adc if target.adc_bits else None, trial0=trial0)
    if mode == "fast" and target.adc_bits:
        for mi, (mean, sd) in clips.items():
            if np.any(sd) or np.any(mean):
                model.set_clip_stats(mi, mean, sd)
    cal.fit_columns(model, calib_inputs)
    return model


def chip_blocks(trials: int, blocks: int) -> list[tuple[int, int]]:
    """Chips 0..trials-1 as `blocks` consecutive (first chip, count) blocks. A block is one seeded chip
    population (its read noise draws from one stream), so the split is part of the result: the same split gives
    the same numbers on any thread, process or Ray worker."""
    w = max(1, min(blocks, trials))
    bounds = [round(i * trials / w) for i in range(w + 1)]
    return [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(w) if bounds[i + 1] > bounds[i]]


def block_predictions(image: Image, target: Target, noise: NoiseModel, x: np.ndarray, t0: int, n: int, seed: int,
                      calibrated: bool, calib_inputs: dict | None = None, ranges: tuple | None = None,
                      batch: int = 64, mode: str = "fast", progress=None) -> np.ndarray:
    """Top-1 predictions (n, N) of chips t0 .. t0+n-1, each seeded by (seed, chip index)."""
    from cimsdk.golden import Executor

    model = build_model(image, target, noise, n, seed, t0, calibrated, calib_inputs, ranges, mode)
    ex = Executor(image, cim=model)
    out = np.zeros((n, len(x)), np.int64)
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        y = ex.run(np.concatenate([xb] * n))
        out[:, i : i + len(xb)] = _top1(y).reshape(n, len(xb))
        if progress is not None:
            progress(len(xb) * n)
    return out


def run_trials(image: Image, target: Target, noise: NoiseModel, x: np.ndarray, trials: int, seed: int,
               calibrated: bool, calib_inputs: dict | None = None, ranges: tuple | None = None,
               batch: int = 64, workers: int = 2, progress=None, mode: str = "fast",
               blocks: int | None = None, mapper=None) -> np.ndarray:
    """Top-1 predictions (trials, N) of every chip on every input.

    Chips run in `blocks` blocks (default: one per worker thread). `mapper(common, blocks, progress)`, if given,
    runs the blocks elsewhere (e.g. Ray tasks, `cimsdk.explore.ray_backend`) and returns each block's
    `block_predictions(**common, t0=, n=)` in order; the numbers are the same as on local threads.
    """
    parts = chip_blocks(trials, blocks or workers)
    common = dict(image=image, target=target, noise=noise, x=x, seed=seed, calibrated=calibrated,
                  calib_inputs=calib_inputs, ranges=ranges, batch=batch, mode=mode)
    if mapper is not None:
        outs = mapper(common, parts, progress)
    elif workers <= 1 or len(parts) == 1:
        outs = [block_predictions(**common, t0=t0, n=n, progress=progress) for t0, n in parts]
    else:
        with ThreadPoolExecutor(min(workers, len(parts))) as pool:
            outs = list(pool.map(lambda b: block_predictions(**common, t0=b[0], n=b[1], progress=progress), parts))
    return np.concatenate(outs)


def layer_snr(image: Image, target: Target, noise: NoiseModel, x: np.ndarray, trials: int, seed: int,
              calibrated: bool, calib_inputs, ranges) -> dict[int, float]:
    from cimsdk.golden import Executor

    model = build_model(image, target, noise, trials, seed, 0, calibrated, calib_inputs, ranges)
    model.collect_snr = True
    Executor(image, cim=model).run(np.concatenate([x] * trials))
    return model.snr_db()


def summarize(preds: np.ndarray, ref_pred: np.ndarray, labels: np.ndarray | None) -> dict:
    agree = (preds == ref_pred[None]).mean(axis=1)
    out = {"agreement_mean": float(agree.mean()), "agreement_std": float(agree.std(ddof=1)) if len(agree) > 1 else 0.0,
           "agreement_per_trial": [float(a) for a in agree]}
    if labels is not None:
        acc = (preds == labels[None]).mean(axis=1)
        out.update({"accuracy_mean": float(acc.mean()),
                    "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                    "accuracy_per_trial": [float(a) for a in acc]})
    else:
        out.update({"accuracy_mean": None, "accuracy_std": None})
    return out


def _desc(t: Target) -> dict:
    return {"bits_per_cell": t.bits_per_cell, "cells_per_weight": t.cells_per_weight,
            "signed_encoding": t.signed_encoding, "input_bits_per_cycle": t.input_bits_per_cycle,
            "rows_active": t.rows_active, "adc_bits": t.adc_bits}


def image_calibration(image: Image, t: Target) -> tuple | None:
    """ADC ranges stored by `cimsdk convert --calib` (image meta "adc_calibration"), if they fit this mapping."""
    c = image.meta.get("adc_calibration")
    if not c or c.get("target") != t.name or c.get("mapping") != _desc(t):
        return None
    return cal.ranges_from(c)


def simulate(image: Image, data: Dataset, noise: NoiseModel, trials: int = 10, seed: int = 0,
             target: Target | None = None, calib: np.ndarray | None = None, configs=("naive", "calibrated"),
             progress: bool = True, snr_samples: int = 16, sweeps: bool = False,
             mapping: dict | None = None, chip_blocks: int | None = None, mapper=None,
             split_sweep_on: bool | None = None) -> dict:
    """The whole Monte Carlo study: reference, then each config, per-layer SNR.

    Configs: "naive" (target mapping, uncalibrated ADC, no column calibration), "calibrated" (per-column ADC
    ranges -- from the image when `convert --calib` stored them, else from the calibration frames -- and
    per-chip column gain/offset), "noise-aware" (the `mapping` overrides, e.g. from the mapping search,
    calibrated). Every config sees the same chips (seed) and inputs. `chip_blocks` and `mapper` go to
    `run_trials` (e.g. Monte Carlo chips spread over Ray tasks: same blocks, same numbers). A hybrid target
    also gets the digital/analog split sweep when `split_sweep_on` (default: with `sweeps`).
    """
    t = target or load_target(image.target)
    if mapping and "noise-aware" not in configs:
        configs = (*configs, "noise-aware")
    x, labels = data.inputs, data.labels
    ref = reference_outputs(image, x)
    ref_pred = _top1(ref)
    rng = np.random.default_rng([seed, 7])
    if calib is None:
        pick = rng.choice(len(x), min(len(x), CALIB_FRAMES), replace=False)
        calib = x[np.sort(pick)]
    if len(calib) < cal.MIN_FRAMES and "calibrated" in configs:
        raise UserError(f"calibration needs at least {cal.MIN_FRAMES} frames and the data has {len(calib)}; "
                        "give more data or --calib DATA")
    need_cal = "calibrated" in configs or "noise-aware" in configs
    cin = cal.layer_inputs(image, calib) if need_cal else None
    from_image = image_calibration(image, t)
    ranges = ({}, {})
    if cin is not None and t.adc_bits:
        ranges = from_image or cal.adc_ranges(image, t, cin)
    t_na = t.with_overrides(**{k: v for k, v in (mapping or {}).items() if k != "adc_bits"})
    result: dict = {
        "image_target": image.target, "model": image.meta.get("model"), "samples": int(len(x)),
        "trials": trials, "seed": seed, "noise": noise.summary(),
        "mapping": _desc(t),
        "calibration_frames": int(len(calib)),
        "adc_calibration_source": ("image (convert --calib)" if from_image else "calibration frames") if need_cal
        else None,
        "reference_agreement_note": "agreement = top-1 equal to the int8 reference (golden model = TFLM)",
        "reference_accuracy": float((ref_pred == labels).mean()) if labels is not None else None,
        "labels": data.names,
        "configs": {},
    }
    total = len(configs) * trials * len(x)
    bar = None
    tick = None
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed}/{task.total} inferences"),
                       TimeRemainingColumn(), transient=True)
        bar.start()
        task = bar.add_task("sim", total=total)

        def tick(n: int) -> None:
            bar.advance(task, n)
    import time

    try:
        for cfg in configs:
            c = cfg != "naive"
            tc, rc = t, ranges
            if cfg == "noise-aware":
                tc = t_na
                rc = cal.adc_ranges(image, tc, cin) if tc.adc_bits else ({}, {})
            t0 = time.perf_counter()
            preds = run_trials(image, tc, noise, x, trials, seed, c, cin, rc, progress=tick, blocks=chip_blocks,
                               mapper=mapper)
            dt = time.perf_counter() - t0
            r = summarize(preds, ref_pred, labels)
            r["mapping"] = _desc(tc)
            r["inferences_per_s"] = trials * len(x) / dt
            r["layer_snr_db"] = {str(k): v for k, v in layer_snr(
                image, tc, noise, x[:snr_samples], min(trials, 4), seed, c, cin, rc).items()}
            if recurrent.sequence_layers(image):
                r["recurrent_steps"] = recurrent.per_step(
                    image, build_model(image, tc, noise, trials, seed, 0, c, cin, rc), x[:STEP_SAMPLES], trials)
            result["configs"][cfg] = r
    finally:
        if bar is not None:
            bar.stop()
    head = result["configs"].get("calibrated") or result["configs"][configs[0]]
    for k in ("accuracy_mean", "accuracy_std", "agreement_mean", "agreement_std", "layer_snr_db", "inferences_per_s",
              "recurrent_steps"):
        if k in head:
            result[k] = head[k]
    result["headline_config"] = "calibrated" if "calibrated" in result["configs"] else configs[0]
    if sweeps:
        result["sweeps"] = run_sweeps(image, t, noise, x, labels, ref_pred, min(trials, 5), seed, cin,
                                      chip_blocks=chip_blocks, mapper=mapper)
    if (sweeps if split_sweep_on is None else split_sweep_on) and hybrid.is_hybrid(t) and need_cal:
        result["split_sweep"] = split_sweep(image, t, noise, x, labels, ref_pred, trials, seed, cin,
                                            chip_blocks=chip_blocks, mapper=mapper)
    return result


def split_sweep(image: Image, t: Target, noise: NoiseModel, x: np.ndarray, labels, ref_pred, trials: int,
                seed: int, cin, chip_blocks: int | None = None, mapper=None, samples: int = 300) -> dict:
    """A hybrid target's trade: accuracy (or agreement) over chips and macro energy per inference against the
    number of weight bits computed digitally, calibrated, every split on the same chips and inputs."""
    pick = np.sort(np.random.default_rng([seed, 9]).permutation(len(x))[:samples])
    xs, rp = x[pick], ref_pred[pick]
    lab = labels[pick] if labels is not None else None
    points = {}
    by_split = cal.adc_ranges_by_split(image, t, cin, hybrid.splits(t)) if t.adc_bits else {}
    for bits in hybrid.splits(t):
        tt = t.with_overrides(digital_bits=bits)
        rng = by_split.get(bits, ({}, {}))
        s = summarize(run_trials(image, tt, noise, xs, trials, seed, True, cin, rng, blocks=chip_blocks,
                                 mapper=mapper), rp, lab)
        key = "accuracy" if lab is not None else "agreement"
        points[str(bits)] = {"mean": s[f"{key}_mean"], "std": s[f"{key}_std"],
                             "per_chip": s[f"{key}_per_trial"], "macro_energy_uj": hybrid.macro_energy_uj(image, tt)}
    return {"metric": "accuracy" if lab is not None else "agreement", "samples": len(xs), "trials": trials,
            "target_split": t.digital_bits, "weight_bits": hybrid.weight_bits(t), "digital_bits": points}


def run_sweeps(image: Image, t: Target, noise: NoiseModel, x: np.ndarray, labels, ref_pred, trials: int,
               seed: int, cin, chip_blocks: int | None = None, mapper=None) -> dict:
    """Accuracy (or agreement) against ADC bits and against noise level, calibrated, on a subset."""
    pick = np.sort(np.random.default_rng([seed, 9]).permutation(len(x))[:300])  # folders come sorted by label
    xs = x[pick]
    lab = labels[pick] if labels is not None else None
    rp = ref_pred[pick]

    def score(tt: Target, nz: NoiseModel) -> float:
        rng = cal.adc_ranges(image, tt, cin) if tt.adc_bits else ({}, {})
        p = run_trials(image, tt, nz, xs, trials, seed, True, cin, rng, blocks=chip_blocks, mapper=mapper)
        s = summarize(p, rp, lab)
        return s["accuracy_mean"] if lab is not None else s["agreement_mean"]

    adc = {}
    for bits in range(max(2, t.adc_bits - 5), t.adc_bits + 1):
        adc[bits] = score(t.with_overrides(adc_bits=bits), noise)
    lev = {}
    for level in (0.0, 1.0, 2.0, 4.0, 8.0):
        lev[level] = score(t, noise.scaled(level))
    return {"metric": "accuracy" if lab is not None else "agreement", "samples": len(xs), "trials": trials,
            "adc_bits": {str(k): v for k, v in adc.items()}, "noise_level": {str(k): v for k, v in lev.items()}}


def plots(result: dict, out_dir: Path) -> list[Path]:
    """PNG plots next to simulate.json: per-layer SNR; accuracy against ADC bits and noise level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, r in result["configs"].items():
        snr = r["layer_snr_db"]
        ks = sorted(snr, key=int)
        vals = [min(snr[k], 120.0) if math.isfinite(snr[k]) else 120.0 for k in ks]
        ax.plot([int(k) for k in ks], vals, "o-", label=name)
    ax.set_xlabel("CiM layer (matrix index)")
    ax.set_ylabel("SNR of accumulators (dB)")
    ax.set_title(f"per-layer SNR, {result['noise']['name']}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p = out_dir / "layer_snr.png"
    fig.savefig(p, dpi=100)
    plt.close(fig)
    files.append(p)
    if result.get("recurrent_steps"):
        p = out_dir / "recurrent_steps.png"
        recurrent.plot(result["recurrent_steps"], result["headline_config"], result["noise"]["name"], p)
        files.append(p)
    sw = result.get("sweeps")
    if sw:
        fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
        a = sw["adc_bits"]
        axs[0].plot([int(k) for k in a], list(a.values()), "o-")
        axs[0].set_xlabel("ADC bits")
        axs[0].set_ylabel(sw["metric"])
        n = sw["noise_level"]
        axs[1].plot([float(k) for k in n], list(n.values()), "o-")
        axs[1].set_xlabel(f"noise level (x {result['noise']['name']})")
        axs[1].set_ylabel(sw["metric"])
        for ax in axs:
            ax.grid(alpha=0.3)
        fig.tight_layout()
        p = out_dir / "accuracy_sweeps.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        files.append(p)
    sp = result.get("split_sweep")
    if sp:
        bits = [int(k) for k in sp["digital_bits"]]
        pts = list(sp["digital_bits"].values())
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.errorbar(bits, [q["mean"] for q in pts], yerr=[q["std"] for q in pts], fmt="o-", color="tab:blue",
                    capsize=3)
        ax.set_xlabel(f"weight bits computed digitally (of {sp['weight_bits']}; the rest analog)")
        ax.set_ylabel(f"{sp['metric']} ({sp['trials']} chips)", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(bits, [q["macro_energy_uj"] for q in pts], "s--", color="tab:red")
        ax2.set_ylabel("macro energy per inference (uJ)", color="tab:red")
        ax.axvline(sp["target_split"], color="grey", alpha=0.4)
        ax.set_title(f"digital/analog split, {result['noise']['name']} noise on the analog bits")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        p = out_dir / "split_sweep.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        files.append(p)
    return files
