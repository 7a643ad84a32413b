"""Per-time-step agreement of sequence layers under noise.

A recurrent layer carries its hidden and cell state from step to step, so an analog error in one step's
input products can stay in the state and grow (or fade) over the sequence: the model's top-1 agreement
alone does not show where along the sequence a chip goes astray. For every sequence op of the image
(batch-major output (batch, T, units)), this compares each chip's output at each step with the ideal
(noise-free, bit-exact with TFLM) output: the share of elements equal, the mean absolute difference in
output LSBs, and the signal-to-noise ratio in dB.
"""

from __future__ import annotations

import math

import numpy as np

from cimconv.image import Image

SEQUENCE_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM",)


def sequence_layers(image: Image) -> list[tuple[int, int]]:
    """(op index, output tensor) of each op whose output is a sequence of time steps."""
    return [(i, op.outputs[0]) for i, op in enumerate(image.ops) if op.opcode in SEQUENCE_OPS]


def step_agreement(ideal: np.ndarray, noisy: np.ndarray, trials: int) -> dict:
    """Per-step figures of one sequence output: `ideal` (N, T, ...), `noisy` (trials * N, T, ...) chip by chip."""
    n, steps = ideal.shape[0], ideal.shape[1]
    ref = ideal.reshape(1, n, steps, -1).astype(np.int64)
    got = noisy.reshape(trials, n, steps, -1).astype(np.int64)
    err = got - ref
    equal = (err == 0).mean(axis=(0, 1, 3))
    mae = np.abs(err).mean(axis=(0, 1, 3))
    signal = (ref.astype(np.float64) ** 2).mean(axis=(0, 1, 3))
    noise = (err.astype(np.float64) ** 2).mean(axis=(0, 1, 3))
    snr = [10 * math.log10(s / e) if e > 0 and s > 0 else math.inf for s, e in zip(signal, noise, strict=True)]
    per_chip_final = (err[:, :, -1] == 0).mean(axis=(1, 2))
    return {"steps": int(steps), "agreement": [float(v) for v in equal], "mean_abs_lsb": [float(v) for v in mae],
            "snr_db": [float(v) for v in snr], "final_step_agreement_per_chip": [float(v) for v in per_chip_final]}


def per_step(image: Image, cim_model, x: np.ndarray, trials: int) -> dict[str, dict]:
    """Every sequence layer's per-step figures for the chips of `cim_model` (trials of them) on inputs `x`."""
    from cimsdk.golden import Executor

    layers = sequence_layers(image)
    if not layers:
        return {}
    _, ideal = Executor(image).run(x, capture=True)
    _, noisy = Executor(image, cim=cim_model).run(np.concatenate([x] * trials), capture=True)
    return {str(i): step_agreement(ideal[t], noisy[t], trials) for i, t in layers}


def plot(steps: dict[str, dict], config: str, noise_name: str, path) -> None:
    """Agreement and SNR against the time step, one line per sequence layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for op, r in steps.items():
        t = range(r["steps"])
        ax.plot(t, [100 * a for a in r["agreement"]], "-", label=f"op {op}")
        ax2.plot(t, [min(s, 120.0) for s in r["snr_db"]], "-", label=f"op {op}")
    ax.set_xlabel("time step")
    ax.set_ylabel("outputs equal to the ideal (%)")
    ax2.set_xlabel("time step")
    ax2.set_ylabel("SNR of the outputs (dB)")
    for a in (ax, ax2):
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(f"sequence layers per time step, {config}, {noise_name} noise")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
