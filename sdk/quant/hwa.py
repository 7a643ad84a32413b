"""Hardware-aware fine-tuning of a Keras model for an analog CiM target (`cimsdk quantize --hwa`).

Each training step perturbs every CONV_2D / DEPTHWISE_CONV_2D / Dense kernel with the weight errors the
chips of the target would have, computes the gradients at the perturbed weights, and applies them to the
clean weights (noise injection, as IBM's aihwkit does for PyTorch). The errors come from the simulator's
own device model, not a stand-in: the kernel is quantized as the quantizer will (int8, per output channel;
Dense per tensor), split onto cells with the target's encoding (`cimsdk.sim.analog.encode_weights`), and
programmed on simulated chips (`NoiseModel.program`: programming error, drift at the chosen age, stuck
cells); the per-weight mean and spread of the decoded weight, plus the read noise of one read
(`NoiseModel.read_sigma`, summed over the cells of a weight), set the injected Gaussian. The statistics
are refreshed every epoch as the weights move. Not modelled in training: IR drop (depends on placement)
and ADC rounding (lossless at the target's nominal setting); the simulator still applies both when it
scores the result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimconv.quantize.qparams import WMAX
from cimconv.target import Target, load_target
from cimsdk.sim.analog import encode_weights
from cimsdk.sim.noise import NoiseModel, default_preset, load_noise, parse_age

STAT_CHIPS = 16
# Read noise is drawn per input bit plane; for bit-serial inputs its variance on an output is
# sum_k s2_k * sum_j 4^j b_kj^2 (b the bits of x_k + 128), about a third of sum_k s2_k x_k^2 for busy inputs:
# as weight noise it enters with this factor.
READ_AS_WEIGHT = 1.0 / 3.0


def _as_matrix(kind: str, k: np.ndarray) -> np.ndarray:
    """A Keras kernel as the (N outputs, K inputs) matrix the macro holds."""
    if kind == "Dense":  # (in, out)
        return k.T
    if kind == "DepthwiseConv2D":  # (kh, kw, cin, mult)
        return k.reshape(-1, k.shape[2] * k.shape[3]).T
    return k.reshape(-1, k.shape[-1]).T  # Conv2D (kh, kw, cin, cout)


def _from_matrix(m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of `_as_matrix` for every kind (each is a transpose of a reshape)."""
    return m.T.reshape(shape)


def weight_error_stats(w_int: np.ndarray, target: Target, noise: NoiseModel, chips: int = STAT_CHIPS,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (N, K), in int8 LSB, of the weight a chip computes with instead of w_int:
    the static error over `chips` programmed chips plus one read's noise (`READ_AS_WEIGHT`)."""
    enc = encode_weights(w_int, target)
    levels1 = enc.levels - 1
    gscale = (1.0 - noise.g_min) / levels1
    g_t = (noise.g_min + enc.digits.astype(np.float32) * gscale).astype(np.float32)
    coef = enc.coef.astype(np.float32)
    errs = np.empty((chips, *w_int.shape), np.float32)
    for c in range(chips):
        g = noise.program(g_t, np.random.default_rng([seed, 77, c]))
        d = (g - noise.g_min) / gscale
        errs[c] = np.einsum("sp,spnk->nk", coef, d, optimize=True) - enc.offset - w_int
    read = noise.read_sigma(g_t) / gscale
    read_var = np.einsum("sp,spnk->nk", coef.astype(np.float64) ** 2, read.astype(np.float64) ** 2)
    return errs.mean(axis=0), np.sqrt(np.mean(errs**2, axis=0) + READ_AS_WEIGHT * read_var).astype(np.float32)


@dataclass
class _Slot:
    layer: object
    kind: str
    per_channel: bool
    mean: np.ndarray | None = None  # float, kernel shape
    std: np.ndarray | None = None


class NoiseInjector:
    """Per-weight noise statistics of a Keras model's CiM layers on a target, and draws from them."""

    KINDS = ("Conv2D", "DepthwiseConv2D", "Dense")

    def __init__(self, model, target: Target, noise: NoiseModel, seed: int = 0):
        self.target, self.noise, self.seed = target, noise, seed
        self.slots = [_Slot(ly, type(ly).__name__, type(ly).__name__ != "Dense")
                      for ly in model.layers if type(ly).__name__ in self.KINDS]
        if not self.slots:
            raise UserError("--hwa: the model has no Conv2D, DepthwiseConv2D or Dense layer to fine-tune")
        self.refreshes = 0

    def refresh(self) -> None:
        for s in self.slots:
            k = s.layer.kernel.numpy()
            m = _as_matrix(s.kind, k).astype(np.float64)
            amax = np.abs(m).max(axis=1) if s.per_channel else np.full(m.shape[0], np.abs(m).max())
            scale = np.where(amax > 0, amax / WMAX, 1.0)
            w_int = np.clip(np.round(m / scale[:, None]), -WMAX, WMAX).astype(np.int8)
            _, std = weight_error_stats(w_int, self.target, self.noise, seed=self.seed + self.refreshes)
            # zero mean: a chip's systematic error (drift) is what column calibration removes; the spread
            # (root mean square over chips) carries it
            s.mean = np.zeros(k.shape, np.float32)
            s.std = _from_matrix((std * scale[:, None]).astype(np.float32), k.shape)
        self.refreshes += 1

    def draw(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [s.mean + s.std * rng.standard_normal(s.std.shape, dtype=np.float32) for s in self.slots]


def clip_channels(kernels: list, slots: list[_Slot], sigmas: float) -> None:
    """Clip each output channel's weights to +- `sigmas` x its root mean square (aihwkit's Gaussian weight
    clipping, about 0 as the symmetric int8 scale is): an outlier weight sets the channel's int8 scale, and
    with it the size of every cell error of the channel in weight units. A channel of n weights never has
    |w| above sqrt(n) x RMS, so small depthwise kernels (3x3: 3 x RMS) are left alone at 3 sigmas."""
    for k, s in zip(kernels, slots, strict=True):
        w = k.numpy()
        m = _as_matrix(s.kind, w)
        rms = np.sqrt(np.mean(np.square(m), axis=1, keepdims=True)) if s.per_channel else \
            np.full((m.shape[0], 1), np.sqrt(np.mean(np.square(m))))
        lim = sigmas * rms
        k.assign(_from_matrix(np.clip(m, -lim, lim), w.shape))


def fine_tune(model, x: np.ndarray, y: np.ndarray, target: Target, noise: NoiseModel, epochs: int = 3,
              seed: int = 0, batch: int = 32, lr: float = 2e-4, clip_sigmas: float | None = 2.0,
              progress: bool = False) -> dict:
    """Fine-tune `model` in place with the target's weight errors injected (and, with `clip_sigmas`, each
    channel's weights clipped after every step); returns the loss per epoch."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    rng = np.random.default_rng([seed, 5])
    inj = NoiseInjector(model, target, noise, seed)
    probe = np.asarray(model(x[:8], training=False))
    probs = bool(np.all(probe >= 0) and np.allclose(probe.sum(axis=-1), 1.0, atol=1e-3))
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=not probs)
    opt = tf.keras.optimizers.Adam(lr)
    kernels = [s.layer.kernel for s in inj.slots]
    losses = []
    bar = None
    if progress:
        from rich.progress import Progress

        from cimsdk.console import console

        bar = Progress(transient=True, console=console(stderr=True))
        bar.start()
        task = bar.add_task("hardware-aware fine-tuning", total=epochs * ((len(x) + batch - 1) // batch))
    try:
        for _ in range(epochs):
            inj.refresh()
            order = rng.permutation(len(x))
            total, n = 0.0, 0
            for i in range(0, len(x), batch):
                idx = order[i : i + batch]
                clean = [k.numpy() for k in kernels]
                for k, c, e in zip(kernels, clean, inj.draw(rng), strict=True):
                    k.assign(c + e)
                with tf.GradientTape() as tape:
                    loss = loss_fn(y[idx], model(x[idx], training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                for k, c in zip(kernels, clean, strict=True):
                    k.assign(c)
                opt.apply_gradients([(g, v) for g, v in zip(grads, model.trainable_variables, strict=True)
                                     if g is not None])
                if clip_sigmas:
                    clip_channels(kernels, inj.slots, clip_sigmas)
                total += float(loss) * len(idx)
                n += len(idx)
                if bar is not None:
                    bar.advance(task)
            losses.append(total / n)
    finally:
        if bar is not None:
            bar.stop()
    return {"epochs": epochs, "loss_per_epoch": losses, "target": target.name, "noise": noise.name,
            "noise_level": noise.level, "age_s": noise.age_s, "layers": len(inj.slots), "stat_chips": STAT_CHIPS,
            "clip_sigmas": clip_sigmas, "learning_rate": lr}


def fine_tune_file(model: Path, train: Path, target: str, noise: str | None, level: float, age: str,
                   epochs: int, seed: int, out: Path, clip_sigmas: float | None = 2.0) -> dict:
    """`cimsdk quantize --hwa`: load the Keras model and labelled data, fine-tune, save to `out` (.keras)."""
    from cimconv.quantize.keras_path import KERAS_SUFFIXES, load_keras
    from cimsdk.quant.data import load, model_spec

    if model.suffix.lower() not in KERAS_SUFFIXES:
        raise UserError(f"--hwa fine-tunes a Keras model (.keras, .h5); {model} is not one")
    tgt = load_target(target)
    if tgt.exact:
        raise UserError(f"--hwa: target {tgt.name} is exact digital; hardware-aware fine-tuning is for analog "
                        "targets (e.g. -t nor-acim)")
    nz = load_noise(noise or default_preset(tgt)).scaled(level).aged(parse_age(age))
    data = load(train, model_spec(model), "--train")
    if data.labels is None:
        raise UserError(f"--train {train}: needs labels (a folder per label) for fine-tuning")
    km = load_keras(model)
    report = fine_tune(km, data.inputs.astype(np.float32), data.labels, tgt, nz, epochs, seed,
                       clip_sigmas=clip_sigmas or None, progress=True)
    km.save(out)
    report["summary"] = (f"{epochs} epochs on {len(data.labels)} inputs with {nz.name} x{level} noise "
                         f"(age {nz.age_s:.0f} s) of {tgt.name}; loss {report['loss_per_epoch'][0]:.3f} -> "
                         f"{report['loss_per_epoch'][-1]:.3f}")
    return report
