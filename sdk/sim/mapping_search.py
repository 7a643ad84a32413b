"""Noise-aware mapping: pick bits per cell, signed encoding, rows activated at once and input bits per cycle
that meet an accuracy (or per-layer SNR) target at the lowest macro energy, by Monte Carlo on a data subset.
The ADC resolution is the macro's (hardware), not a choice.

Why search instead of a formula: static errors are rounded away by a lossless ADC only while a conversion's
error stays under half an LSB, so rows_active, cell bits and the ADC interact non-linearly.
"""

from __future__ import annotations

import itertools
from pathlib import Path

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
        total += energy.cim_energy_pj(energy.cim_counts(m.kind, m.tiles, pos, t, energy.input_bits(image.tensors[op.inputs[0]].dtype)), t)
    return total / 1e6


def _key(t: Target) -> tuple:
    return (t.bits_per_cell, t.cells_per_weight, t.signed_encoding, t.rows_active, t.input_bits_per_cycle)


def search(image: Image, target: Target, noise: NoiseModel, data: sim.Dataset, max_drop_pp: float | None = 1.0,
           min_snr_db: float | None = None, trials: int = 2, samples: int = 120, seed: int = 0,
           max_evals: int = 8, calib_rows: int = 512, progress: bool = False) -> dict:
    """Choose the cheapest mapping (macro energy per inference) that meets the target; see the module docstring.

    Order of work, so a search simulates about log2(72) candidates, not all: candidates are sorted by macro
    energy and the target's own mapping is simulated first. If it meets the goal, bisection over the cheaper
    ones finds the cheapest that also meets it; if it misses, bisection over the costlier ones finds the
    cheapest that meets it (none: the most accurate one simulated). Bisection assumes accuracy mostly
    rises with energy, which holds for the knobs searched (fewer rows per conversion, fewer bits per cell or
    per cycle cost energy and buy SNR); `max_evals` caps the work.
    Each candidate is calibrated (ADC ranges, column gain/offset) and simulated on `samples` inputs x `trials`
    chips, the same chips (seed) for every candidate.
    """
    if max_drop_pp is None and min_snr_db is None:
        raise UserError("mapping search needs a target: --max-drop PP and/or --min-snr DB")
    pick = np.sort(np.random.default_rng([seed, 11]).permutation(len(data.inputs))[:samples])  # all labels
    x = data.inputs[pick]
    labels = data.labels[pick] if data.labels is not None else None
    ref_pred = sim._top1(sim.reference_outputs(image, x))
    ref_acc = float((ref_pred == labels).mean()) if labels is not None else 1.0
    cin = cal.layer_inputs(image, data.inputs[: max(cal.MIN_FRAMES, min(len(data.inputs), 128))],
                           max_rows=calib_rows)

    def evaluate(cand: Target) -> dict:
        row: dict = {"mapping": _desc(cand), "energy_uj": macro_energy_uj(image, cand),
                     "adc_lossless": cand.adc_lossless}
        try:
            ranges = cal.adc_ranges(image, cand, cin) if cand.adc_bits else ({}, {})
            preds = sim.run_trials(image, cand, noise, x, trials, seed, True, cin, ranges)
            snr = sim.layer_snr(image, cand, noise, x[:8], 2, seed, True, cin, ranges)
        except UserError as exc:
            row["skipped"] = str(exc)
            return row
        s = sim.summarize(preds, ref_pred, labels)
        metric = s["accuracy_mean"] if labels is not None else s["agreement_mean"]
        row.update({"metric": metric, "drop_pp": 100 * (ref_acc - metric),
                    "min_layer_snr_db": float(min(snr.values()))})
        row["meets"] = bool((max_drop_pp is None or row["drop_pp"] <= max_drop_pp + 1e-9)
                            and (min_snr_db is None or row["min_layer_snr_db"] >= min_snr_db))
        return row

    goal = " and ".join(g for g in (f"drop <= {max_drop_pp} pp" if max_drop_pp is not None else "",
                                    f"min layer SNR >= {min_snr_db} dB" if min_snr_db is not None else "") if g)
    cands = [target] + [c for c in candidates(target) if _key(c) != _key(target)]
    cands.sort(key=lambda c: (macro_energy_uj(image, c), c is not target))
    ib = next(i for i, c in enumerate(cands) if c is target)
    done: dict[int, dict] = {}

    def ok(i: int) -> bool:
        if i not in done:
            done[i] = evaluate(cands[i])
            if i == ib and "skipped" in done[i]:
                raise UserError(f"mapping search: the target's own mapping cannot be simulated: {done[i]['skipped']}")
        return bool(done[i].get("meets"))

    # bisection for the cheapest candidate meeting the goal over candidates sorted by energy; invariant: hi
    # meets it (or, when the target's mapping misses, hi is the costliest candidate, checked last)
    base_ok = ok(ib)
    lo, hi = (-1, ib) if base_ok else (ib, len(cands) - 1)
    while hi - lo > 1 and len(done) < max_evals + 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    found = ok(hi) if (hi in done or len(done) < max_evals + 1) else False
    base = done[ib]
    e0 = base["energy_uj"]
    rows = [dict(r, role="target mapping") if i == ib else r for i, r in sorted(done.items())]
    if found and hi == ib:
        chosen = base
        why = (f"the target's mapping meets {goal} (drop {base['drop_pp']:.2f} pp, {e0:.3f} uJ/inference) and "
               f"no cheaper candidate tried does ({len(done) - 1} tried by bisection over energy); kept it")
    elif found and base_ok:
        chosen = done[hi]
        why = (f"the target's mapping meets {goal} (drop {base['drop_pp']:.2f} pp, {e0:.3f} uJ/inference); "
               f"the cheapest candidate found that also meets it (bisection over energy, {len(done)} simulated): "
               f"{chosen['energy_uj']:.3f} uJ ({100 * (1 - chosen['energy_uj'] / e0):.0f}% less macro energy), "
               f"drop {chosen['drop_pp']:.2f} pp, min layer SNR {chosen['min_layer_snr_db']:.1f} dB")
    elif found:
        chosen = done[hi]
        why = (f"the target's mapping misses {goal} (drop {base['drop_pp']:.2f} pp, min layer SNR "
               f"{base['min_layer_snr_db']:.1f} dB); the cheapest costlier candidate found that meets it "
               f"(bisection over energy, {len(done)} simulated): drop {chosen['drop_pp']:.2f} pp, min layer SNR "
               f"{chosen['min_layer_snr_db']:.1f} dB, {chosen['energy_uj']:.3f} uJ/inference "
               f"(+{100 * (chosen['energy_uj'] / e0 - 1):.0f}%)")
    else:
        scored = [r for r in done.values() if "metric" in r]
        chosen = min(scored, key=lambda r: (r["drop_pp"], -r["min_layer_snr_db"], r["energy_uj"]))
        why = (f"no mapping tried ({len(done)}) meets {goal}; chose the most accurate: drop "
               f"{chosen['drop_pp']:.2f} pp, {chosen['energy_uj']:.3f} uJ/inference")
    skipped = len(cands) - len(done)
    return {"goal": goal, "reference_metric": ref_acc, "metric": "accuracy" if labels is not None else "agreement",
            "samples": int(len(x)), "trials": trials, "chosen": chosen, "why": why, "candidates": rows,
            "not_evaluated": skipped, "target_overrides": chosen["mapping"]}


def target_toml(target: Target, overrides: dict) -> str:
    """The target file with the chosen mapping: `cimsdk convert MODEL -t mapping.toml` maps the model with it."""
    import re

    text = Path(target.path).read_text()
    for k, v in overrides.items():
        val = f'"{v}"' if isinstance(v, str) else str(v)
        text, n = re.subn(rf"(?m)^({k}\s*=\s*)(\"[^\"]*\"|\S+)", lambda m, val=val: m.group(1) + val, text)
        if not n:
            text = text.replace("[macro]\n", f"[macro]\n{k} = {val}\n", 1)
    return "# mapping chosen by cimsdk simulate --mapping-search\n" + text


def _desc(t: Target) -> dict:
    return {"bits_per_cell": t.bits_per_cell, "cells_per_weight": t.cells_per_weight,
            "signed_encoding": t.signed_encoding, "rows_active": t.rows_active,
            "input_bits_per_cycle": t.input_bits_per_cycle, "adc_bits": t.adc_bits}
