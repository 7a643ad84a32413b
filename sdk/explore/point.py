"""Evaluate one point of a sweep on one model: convert with the point's target (it must fit), then simulate
N chips under the point's noise condition.

Pure in its inputs: the same job gives the same record in any process or on any Ray worker, because the chips
are seeded by (seed, chip index) over a fixed split into `chip_blocks` (`cimsdk.sim.simulate.chip_blocks`).
Costs come from the converter's report (the energy model of docs/energy-model.md); accuracy is calibrated
(ADC ranges and per-chip column gain/offset from calibration frames), as a deployed analog chip would be.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimconv.target import Target
from cimsdk.explore import target_file
from cimsdk.explore.space import NOISE_FIELDS
from cimsdk.sim.noise import NoiseModel, default_preset, load_noise, parse_age

CALIB_ROWS = 512  # calibration rows per layer (as the mapping search): enough for ADC ranges, 25x cheaper


@dataclass
class ModelData:
    """One model and its data, shipped to workers as bytes and arrays (a Ray node may not share the disk)."""

    name: str
    model_bytes: bytes
    sha256: str
    x: np.ndarray
    labels: np.ndarray | None
    calib: np.ndarray
    data_sha256: str


@dataclass
class Context:
    models: list[ModelData]
    base_target_text: str
    chips: int
    seed: int
    chip_blocks: int
    code_version: str = ""  # point_version() of the driver: a worker with other code refuses to evaluate


@dataclass(frozen=True)
class Job:
    model: int
    point: dict
    key: str


def data_hash(x: np.ndarray, labels: np.ndarray | None, calib: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (x, labels, calib):
        if a is not None:
            h.update(str((a.dtype, a.shape)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def build_noise(point: dict, target: Target) -> NoiseModel:
    """The point's noise condition: preset (default: the target's), preset fields, level, age at temperature."""
    nz = load_noise(str(point.get("noise.preset") or default_preset(target)))
    fields = {k[6:]: float(v) for k, v in point.items() if k[6:] in NOISE_FIELDS and k.startswith("noise.")}
    if fields:
        nz = replace(nz, **fields)
    if "noise.level" in point:
        nz = nz.scaled(float(point["noise.level"]))
    return nz.aged(parse_age(point.get("noise.age", 0)), float(point.get("noise.temp_c", 25.0)))


@functools.lru_cache(maxsize=1)
def point_version() -> str:
    """Hash of the code a point's numbers come from (converter, golden model, its MAC core, simulator, this
    module): a cached point is reused only by the same code."""
    import cimconv
    import cimsdk

    h = hashlib.sha256()
    roots = [Path(cimconv.__file__).parent, *(Path(cimsdk.__file__).parent / d for d in ("sim", "golden", "mac"))]
    files = sorted(f for r in roots for f in r.rglob("*") if f.suffix in (".py", ".toml"))
    for f in [*files, Path(__file__)]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def design_overrides(point: dict) -> dict:
    return {k: v for k, v in point.items() if not k.startswith("noise.")}


# Per-process memo: model file, int8 reference predictions and calibration layer inputs depend only on the model
# and its data (the golden model is bit-exact with TFLM whatever the mapping), not on the point.
_MEMO: dict[str, tuple] = {}
# Model files by content hash, shared by every worker on a machine (workers end without running finalizers,
# so a temporary folder per process would be left behind; one file per model is not).
_MODELS_DIR = Path(tempfile.gettempdir()) / "cimsdk-explore-models"


def _model_state(md: ModelData, image) -> tuple:
    key = md.sha256 + md.data_sha256
    if key not in _MEMO:
        from cimsdk.sim import calibrate as cal
        from cimsdk.sim import simulate as sim

        ref_pred = sim._top1(sim.reference_outputs(image, md.x))
        cin = cal.layer_inputs(image, md.calib, max_rows=CALIB_ROWS)
        _MEMO[key] = (ref_pred, cin)
    return _MEMO[key]


def model_file(md: ModelData) -> Path:
    from cimconv import atomic

    p = _MODELS_DIR / f"{md.sha256}.tflite"
    if not p.exists():
        atomic.write_bytes(p, md.model_bytes)
    return p


def evaluate(ctx: Context, job: Job) -> dict:
    """The record of one (point, model): feasibility, costs, and accuracy over `ctx.chips` chips."""
    from cimconv.pipeline import convert
    from cimsdk.sim import calibrate as cal
    from cimsdk.sim import simulate as sim

    t_start = time.perf_counter()
    md = ctx.models[job.model]
    rec: dict = {"key": job.key, "model": md.name, "params": dict(job.point), "feasible": False}
    try:
        target = target_file.load_text(target_file.render(ctx.base_target_text, design_overrides(job.point)))
        conv = convert(model_file(md), target)
    except UserError as exc:
        rec["reason"] = f"convert: {exc}"
        rec["seconds"] = time.perf_counter() - t_start
        return rec
    tot = conv.report["totals"]
    cells = target.rows * target.cols
    rec.update({
        "energy_uj": tot["energy_uj"], "latency_us": tot["latency_us"], "arrays_used": tot["arrays_used"],
        "macros_used": tot["macros_used"], "utilization": tot["utilization"],
        "array_cells": tot["arrays_used"] * cells, "chip_cells": target.arrays * cells,
        "adc_lossless": target.adc_lossless,
    })
    image = conv.image
    try:
        noise = build_noise(job.point, target)
        ref_pred, cin = _model_state(md, image)
        ranges = cal.adc_ranges(image, target, cin) if target.adc_bits else ({}, {})
        preds = sim.run_trials(image, target, noise, md.x, ctx.chips, ctx.seed, True, cin, ranges, workers=1,
                               blocks=ctx.chip_blocks)
    except UserError as exc:
        rec["reason"] = f"simulate: {exc}"
        rec["seconds"] = time.perf_counter() - t_start
        return rec
    s = sim.summarize(preds, ref_pred, md.labels)
    ref_acc = float((ref_pred == md.labels).mean()) if md.labels is not None else None
    per_chip = s.get("accuracy_per_trial") or s["agreement_per_trial"]
    rec.update({
        "feasible": True, "noise": noise.name, "chips": ctx.chips, "samples": int(len(md.x)),
        "accuracy_mean": s["accuracy_mean"], "accuracy_std": s["accuracy_std"],
        "accuracy_worst_chip": float(min(per_chip)) if s["accuracy_mean"] is not None else None,
        "agreement_mean": s["agreement_mean"], "agreement_std": s["agreement_std"],
        "reference_accuracy": ref_acc,
        "accuracy_per_chip": s.get("accuracy_per_trial"),
        # what fronts and goals compare: top-1 accuracy with labels, else agreement with the int8 reference
        "score": s["accuracy_mean"] if s["accuracy_mean"] is not None else s["agreement_mean"],
        "reference_score": ref_acc if ref_acc is not None else 1.0,
    })
    rec["seconds"] = time.perf_counter() - t_start
    return rec
