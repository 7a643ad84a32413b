"""Noise-aware mapping: pick bits per cell, signed encoding, rows activated at once and input bits per cycle
that meet an accuracy (or SNR) target at the lowest macro energy, by Monte Carlo on a data subset.

Why search instead of a formula: static errors are rounded away by a lossless ADC only while a conversion's
error stays under half an LSB, so rows_active, cell bits and the ADC interact non-linearly.
"""

from __future__ import annotations

import itertools

import numpy as np

from cimconv import energy
from cimconv.errors import UserError
from cimconv.image import Image
from cimconv.target import Target
from cimsdk.sim import calibrate as cal
from cimsdk.sim import simulate as sim
from cimsdk.sim.noise import NoiseModel


def candidates(t: Target) -> list[Target]:
    out = []
    for b, enc, ra, pin in itertools.product((1, 2, 4, 8), ("differential", "offset", "twos-complement"),
                                             (8, 16, 32, 64), (1, 2)):
        c = -(-8 // b)
        if enc == "twos-complement" and b != 1:
            continue
        out.append(t.with_overrides(bits_per_cell=b, cells_per_weight=c, signed_encoding=enc, rows_active=ra,
                                    input_bits_per_cycle=pin))
    return out


def macro_energy_uj(image: Image, t: Target) -> float:
    """Macro energy of one inference (same counts as the converter's report)."""
    total = 0.0
    for op in image.ops:
        if not op.cim:
            continue
        m = image.matrices[op.params["matrix"]]
        out = image.tensors[op.outputs[0]]
        pos = (int(np.prod(image.tensors[op.inputs[0]].shape)) // m.rows if op.opcode == "FULLY_CONNECTED"
               else out.shape[1] * out.shape[2])
        total += energy.cim_energy_pj(energy.cim_counts(m.kind, m.tiles, pos, t), t)
    return total / 1e6


def search(image: Image, target: Target, noise: NoiseModel, data: sim.Dataset, max_drop_pp: float | None = 1.0,
           min_snr_db: float | None = None, trials: int = 3, samples: int = 200, seed: int = 0,
           progress: bool = False) -> dict:
    """Evaluate every candidate (calibrated) and choose the cheapest that meets the target."""
    x = data.inputs[:samples]
    labels = data.labels[:samples] if data.labels is not None else None
    ref_pred = sim._top1(sim.reference_outputs(image, x))
    ref_acc = float((ref_pred == labels).mean()) if labels is not None else 1.0
    cin = cal.layer_inputs(image, data.inputs[: max(cal.MIN_FRAMES, min(len(data.inputs), 128))])
    rows = []
    for cand in candidates(target):
        try:
            ranges = cal.adc_ranges(image, cand, cin) if cand.adc_bits else ({}, {})
            preds = sim.run_trials(image, cand, noise, x, trials, seed, True, cin, ranges)
            snr = sim.layer_snr(image, cand, noise, x[:8], 2, seed, True, cin, ranges)
        except UserError as exc:
            rows.append({"mapping": _desc(cand), "skipped": str(exc)})
            continue
        s = sim.summarize(preds, ref_pred, labels)
        metric = s["accuracy_mean"] if labels is not None else s["agreement_mean"]
        rows.append({"mapping": _desc(cand), "metric": metric, "drop_pp": 100 * (ref_acc - metric),
                     "min_layer_snr_db": float(min(snr.values())), "energy_uj": macro_energy_uj(image, cand),
                     "adc_lossless": cand.adc_lossless})
    ok = [r for r in rows if "metric" in r
          and (max_drop_pp is None or r["drop_pp"] <= max_drop_pp)
          and (min_snr_db is None or r["min_layer_snr_db"] >= min_snr_db)]
    if ok:
        best = min(ok, key=lambda r: (r["energy_uj"], r["drop_pp"]))
        why = (f"cheapest of {len(ok)} mappings meeting the target "
               f"(drop <= {max_drop_pp} pp, min layer SNR >= {min_snr_db} dB): {best['energy_uj']:.3f} uJ/inference, "
               f"drop {best['drop_pp']:.2f} pp, min layer SNR {best['min_layer_snr_db']:.1f} dB")
    else:
        scored = [r for r in rows if "metric" in r]
        best = min(scored, key=lambda r: r["drop_pp"])
        why = f"no mapping meets the target; chose the most accurate (drop {best['drop_pp']:.2f} pp)"
    return {"reference_metric": ref_acc, "chosen": best, "why": why, "candidates": rows,
            "target_overrides": best["mapping"]}


def _desc(t: Target) -> dict:
    return {"bits_per_cell": t.bits_per_cell, "cells_per_weight": t.cells_per_weight,
            "signed_encoding": t.signed_encoding, "rows_active": t.rows_active,
            "input_bits_per_cycle": t.input_bits_per_cycle, "adc_bits": t.adc_bits}
