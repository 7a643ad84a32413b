"""Calibration of an analog macro from representative inputs (WTM2101 asks for >= 100 input frames).

Two parts, as on silicon:
- per-column ADC ranges (chip-independent, can ship in the image/meta): each conversion class
  (slice x polarity x column) gets a full scale from the ideal partial sums the inputs produce, so a small ADC
  spends its codes where the signal is; `calibrate(image_bytes, inputs)` returns them as JSON-able data;
- per-column digital gain and offset (per chip, measured after programming): least squares of the chip's
  column outputs against the ideal ones on the same frames; it removes static errors common to a column
  (the input offset x 128 times weight errors, drift, IR drop).
"""

from __future__ import annotations

import numpy as np

from cimconv.image import Image, parse_image
from cimconv.mix_mode import split
from cimconv.target import Target, load_target
from cimsdk.mac import geometry
from cimsdk.sim.analog import IN_OFFSET, AnalogCimModel, chunk_planes, conversion_peak, encode_weights

MIN_FRAMES = 100
PERCENTILE = 99.99
HEADROOM = 1.1


def layer_inputs(image: Image, x: np.ndarray, max_rows: int = 4096, seed: int = 0
                 ) -> dict[int, tuple[np.ndarray, bool]]:
    """Ideal int8 inputs of every CiM matrix on frames x: matrix -> ((R, K) or (R, K, N) windows, depthwise)."""
    from cimsdk.golden import Executor

    ex = Executor(image)
    _, values = ex.run(x, capture=True)
    rng = np.random.default_rng(seed)
    out: dict[int, tuple[np.ndarray, bool]] = {}
    for op in image.ops:
        if not op.cim:
            continue
        p = op.params
        mi = p["matrix"]
        m = image.matrices[mi]
        xin = values[op.inputs[0]]
        o = image.tensors[op.outputs[0]]
        out_hw = None if op.opcode == "FULLY_CONNECTED" else (o.shape[1], o.shape[2])
        dw = op.opcode == "DEPTHWISE_CONV_2D"
        xs = geometry.depthwise_windows(xin, p, out_hw) if dw else geometry.dense_rows(op.opcode, xin, p, m.rows,
                                                                                        out_hw)
        if len(xs) > max_rows:
            xs = xs[np.sort(rng.choice(len(xs), max_rows, replace=False))]
        out[mi] = (np.ascontiguousarray(xs), dw)
    return out


def conversion_sums(w: np.ndarray, xs: np.ndarray, dw: bool, t: Target):
    """Ideal analog partial sums of every conversion, all row groups at once: yields
    (shift, slice, polarity, sums (G, R, N), encoding) for each input plane, slice and polarity."""
    enc = encode_weights(w, t)
    xu = xs.astype(np.int16) + IN_OFFSET
    K = w.shape[1]
    ra = t.rows_active
    G = -(-K // ra)
    pad = G * ra - K
    S, P = enc.coef.shape
    digits = {}
    for s in range(S):
        for p in range(P):
            d = enc.digits[s, p].astype(np.float32)  # (N, K)
            if pad:
                d = np.pad(d, ((0, 0), (0, pad)))
            # dense: (G, ra, N) for a batched matmul; depthwise: (N, G, ra)
            digits[s, p] = d.reshape(-1, G, ra) if dw else np.ascontiguousarray(
                d.reshape(-1, G, ra).transpose(1, 2, 0))
    for sh, mask in chunk_planes(t):
        c = ((xu >> sh) & mask).astype(np.float32)  # (R, K) or (R, K, N)
        if pad:
            c = np.pad(c, ((0, 0), (0, pad)) + (((0, 0),) if dw else ()))
        if dw:
            cg = c.reshape(c.shape[0], G, ra, c.shape[-1])  # (R, G, ra, N)
        else:
            cg = np.ascontiguousarray(c.reshape(c.shape[0], G, ra).transpose(1, 0, 2))  # (G, R, ra)
        for s in range(S):
            for p in range(P):
                if dw:
                    a = np.einsum("rgkn,ngk->grn", cg, digits[s, p], optimize=True)
                else:
                    a = np.matmul(cg, digits[s, p])  # (G, R, N)
                yield sh, s, p, a, enc


def adc_ranges(image: Image, t: Target, inputs: dict[int, tuple[np.ndarray, bool]],
               percentile: float = PERCENTILE, headroom: float = HEADROOM
               ) -> tuple[dict[int, np.ndarray], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Per matrix: ADC full scales (S, P, N) in analog-sum units, and the clipping error (mean, sd) per column
    those full scales cause on the calibration frames (the fast model adds it as output noise)."""
    return adc_ranges_by_split(image, t, inputs, [t.digital_bits], percentile, headroom)[t.digital_bits]


def adc_ranges_by_split(image: Image, t: Target, inputs: dict[int, tuple[np.ndarray, bool]], splits: list[int],
                        percentile: float = PERCENTILE, headroom: float = HEADROOM
                        ) -> dict[int, tuple[dict[int, np.ndarray], dict[int, tuple[np.ndarray, np.ndarray]]]]:
    """`adc_ranges` for several digital/analog splits of a hybrid target in one pass over the conversions:
    the full scales do not depend on the split, the clipping error sums the analog slices only."""
    ranges: dict[int, np.ndarray] = {}
    clips: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {b: {} for b in splits}
    mix = image.meta.get("mix")  # MIX mode: the array holds the split weights' low bits only
    for mi, (xs, dw) in inputs.items():
        m = image.matrices[mi]
        cells = split(m.weights, mix["analog_max"])[0] if mix else m.weights
        rows = max(tl.k_len for tl in m.tiles)
        peak = conversion_peak(t, rows)
        per: dict[tuple[int, int], list[np.ndarray]] = {}
        for _sh, s, p, a, _enc in conversion_sums(cells, xs, dw, t):
            per.setdefault((s, p), []).append(np.percentile(a, percentile, axis=1).max(axis=0))
        S, P = encode_weights(cells, t).coef.shape
        fs = np.zeros((S, P, m.cols))
        for (s, p), vals in per.items():
            # the LSB never goes below one digit (analog.py), so the full scale never below 2^bits - 1
            fs[s, p] = np.maximum(np.minimum(np.max(vals, axis=0) * headroom, peak), 2**t.adc_bits - 1)
        ranges[mi] = fs
        err = np.zeros((S, len(xs), m.cols))  # clipping error of each slice
        for sh, s, p, a, enc in conversion_sums(cells, xs, dw, t):
            err[s] += enc.coef[s, p] * 2.0**sh * (np.minimum(a, fs[s, p]) - a).sum(axis=0)
        for bits in splits:
            analog = err[: S - min(bits // t.bits_per_cell, S)].sum(axis=0)  # a hybrid's digital slices never clip
            clips[bits][mi] = (analog.mean(axis=0), analog.std(axis=0))
    return {b: (ranges, clips[b]) for b in splits}


def calibrate(image_bytes: bytes | Image, inputs: np.ndarray, target: Target | None = None,
              percentile: float = PERCENTILE) -> dict:
    """Calibrated per-column ADC ranges of an image from >= 100 representative int8 input frames.

    For `cimsdk convert --calib`: the result is JSON-able; store it under the image meta key "adc_calibration".
    """
    from cimconv.errors import UserError

    img = image_bytes if isinstance(image_bytes, Image) else parse_image(image_bytes)
    t = target or load_target(img.target)
    if len(inputs) < MIN_FRAMES:
        raise UserError(f"calibration needs at least {MIN_FRAMES} input frames, got {len(inputs)}; "
                        "give a larger --calib data set")
    ranges, clips = adc_ranges(img, t, layer_inputs(img, inputs), percentile)
    return {
        "version": 1, "frames": int(len(inputs)), "percentile": percentile, "headroom": HEADROOM,
        "target": t.name,
        "mapping": {"bits_per_cell": t.bits_per_cell, "cells_per_weight": t.cells_per_weight,
                    "signed_encoding": t.signed_encoding, "input_bits_per_cycle": t.input_bits_per_cycle,
                    "rows_active": t.rows_active, "adc_bits": t.adc_bits},
        "adc_full_scale": {str(mi): np.round(v, 3).tolist() for mi, v in ranges.items()},
        "clip_error": {str(mi): [np.round(c[0], 4).tolist(), np.round(c[1], 4).tolist()] for mi, c in clips.items()},
    }


def ranges_from(cal: dict) -> tuple[dict[int, np.ndarray], dict[int, tuple[np.ndarray, np.ndarray]]]:
    r = {int(k): np.asarray(v, np.float64) for k, v in cal["adc_full_scale"].items()}
    c = {int(k): (np.asarray(v[0]), np.asarray(v[1])) for k, v in cal.get("clip_error", {}).items()}
    return r, c


def fit_columns(model: AnalogCimModel, inputs: dict[int, tuple[np.ndarray, bool]]) -> None:
    """Per chip (trial) and column: digital gain and offset mapping the chip's outputs onto the ideal ones."""
    T = model.trials
    for mi, (xs, dw) in inputs.items():
        st = model.setup(mi)
        st.gain = st.bias = None
        w = model.image.matrices[mi].weights.astype(np.float32)
        xf = xs.astype(np.float32)
        y0 = np.einsum("rkn,nk->rn", xf, w) if dw else xf @ w.T  # (R, N) exact in float32 here
        y = model.accumulate(mi, np.broadcast_to(xs, (T, *xs.shape)), dw).astype(np.float64)
        ym = y.mean(axis=1, keepdims=True)
        y0m = y0.mean(axis=0)
        cov = ((y - ym) * (y0 - y0m)[None]).mean(axis=1)
        var = ((y - ym) ** 2).mean(axis=1)
        gain = np.where(var > 1e-9, cov / np.maximum(var, 1e-9), 1.0)
        bias = y0m[None] - gain * ym[:, 0, :]
        model.set_column_calibration(mi, gain, bias)
