"""Float TFLite graph + calibration inputs -> int8 (or 16x8) TFLite model, the way TFLite's converter would.

Steps: run the float graph on the calibration batch and observe every activation (`observers`); choose
each activation's range with the chosen method and tie the ranges TFLite requires to be equal (pooling,
reshape, pad, concatenation share input and output parameters; softmax and logistic outputs are fixed);
quantize weights per output channel and biases with scale input_scale * weight_scale (`qparams`); optionally
correct each bias for the mean shift weight rounding causes (bias correction); write the flatbuffer
(`writer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from cimconv.errors import ModelError, UserError
from cimconv.ir import Graph, Operator, is_float_model
from cimconv.quantize import qparams as qp
from cimconv.quantize.float_runner import MATMUL_OPS, FloatRunner
from cimconv.quantize.observers import METHODS, Observer
from cimconv.quantize.writer import OPTIONS_CLASS, ModelSpec, OpSpec, TensorSpec, write_model

# Ops whose output must carry its input's scale and zero point (TFLite's "same scale" restriction).
SAME_SCALE = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "PAD", "CONCATENATION", "QUANTIZE", "DEQUANTIZE"}
# Ops with a fixed output range in int8: (scale, zero point); in 16x8 symmetric.
FIXED_INT8 = {"SOFTMAX": (1 / 256, -128), "LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}
FIXED_INT16 = {"SOFTMAX": (1 / 32768, 0), "LOGISTIC": (1 / 32768, 0), "TANH": (1 / 32768, 0)}
INT8_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "AVERAGE_POOL_2D": 2,
                 "MAX_POOL_2D": 2, "RESHAPE": 1, "SOFTMAX": 2, "ADD": 2, "MUL": 2, "PAD": 2, "CONCATENATION": 2,
                 "MEAN": 2, "LOGISTIC": 2, "TANH": 2, "QUANTIZE": 2, "DEQUANTIZE": 2, "RELU": 2, "RELU6": 2}
BIAS_CORRECTION_SAMPLES = 128


@dataclass
class QuantOptions:
    """What the user chose; `report` echoes it."""

    method: str = "minmax"  # activation ranges: minmax, percentile, mse, kl
    percentile: float = 99.99
    per_channel: bool = True  # CONV_2D / DEPTHWISE_CONV_2D weights per output channel
    per_channel_fc: bool = False  # FULLY_CONNECTED per channel too (TFLite's converter default: per tensor)
    bias_correction: bool = True
    activations: str = "int8"  # or "int16" (16x8: int16 activations, int8 weights, int64 biases)
    io: str = "int8"  # model inputs/outputs: "int8" (like the MLPerf models) or "float" (QUANTIZE/DEQUANTIZE)
    batch: int = 32

    def check(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"unknown calibration method {self.method!r}; use one of {', '.join(METHODS)}")
        if not 50.0 < self.percentile <= 100.0:
            raise UserError(f"--percentile {self.percentile}: give a value in (50, 100], e.g. 99.99")
        if self.activations not in ("int8", "int16"):
            raise UserError(f"--activations {self.activations}: use int8 or int16")
        if self.io not in ("int8", "float"):
            raise UserError(f"--io {self.io}: use int8 or float")


@dataclass
class QuantResult:
    model: bytes
    report: dict


class _Groups:
    """Union-find over tensor indices that must share quantization parameters."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _activation_tensors(g: Graph) -> list[int]:
    acts = [g.inputs[0]]
    for op in g.operators:
        acts += [t for t in op.outputs if t not in acts]
    return acts


def calibrate(g: Graph, runner: FloatRunner, calib: np.ndarray, opts: QuantOptions,
              progress: Callable[[int], None] | None = None) -> dict[int, Observer]:
    """Observers of every activation tensor over the calibration batch."""
    acts = _activation_tensors(g)
    obs = {t: Observer(seed=t, keep=opts.method != "minmax") for t in acts}
    for i in range(0, len(calib), opts.batch):
        env = runner.run(calib[i : i + opts.batch])
        for t in acts:
            obs[t].update(env[t])
        if progress:
            progress(min(opts.batch, len(calib) - i))
    return obs


def activation_params(g: Graph, obs: dict[int, Observer], opts: QuantOptions) -> dict[int, dict]:
    """Per activation tensor: observed and chosen range, scale and zero point."""
    groups = _Groups()
    fixed: dict[int, tuple[float, int]] = {}
    fixed_table = FIXED_INT8 if opts.activations == "int8" else FIXED_INT16
    for op in g.operators:
        if op.opcode in SAME_SCALE:
            for t in op.inputs[: (len(op.inputs) if op.opcode == "CONCATENATION" else 1)]:
                if g.tensors[t].data is None:
                    groups.union(t, op.outputs[0])
        if op.opcode in fixed_table:
            fixed[op.outputs[0]] = fixed_table[op.opcode]
    chosen: dict[int, tuple[float, float]] = {}
    for t, o in obs.items():
        method = "minmax" if t == g.inputs[0] else opts.method  # inputs: the data's range, never clipped
        chosen[t] = o.range(method, opts.percentile)
    # A group's range covers every member's range.
    span: dict[int, tuple[float, float]] = {}
    for t, (lo, hi) in chosen.items():
        r = groups.find(t)
        a, b = span.get(r, (np.inf, -np.inf))
        span[r] = (min(a, lo), max(b, hi))
    group_fixed = {groups.find(t): v for t, v in fixed.items()}
    out: dict[int, dict] = {}
    for t, o in obs.items():
        r = groups.find(t)
        lo, hi = span[r]
        if r in group_fixed:
            scale, zp = group_fixed[r]
        elif opts.activations == "int8":
            scale, zp = qp.asymmetric_params(lo, hi)
        else:
            scale, zp = qp.symmetric_params(lo, hi)
        out[t] = {"name": g.tensors[t].name, "observed": [float(o.lo), float(o.hi)],
                  "range": [float(min(lo, 0.0)), float(max(hi, 0.0))], "scale": float(scale), "zero_point": int(zp),
                  "fixed": r in group_fixed}
    return out


def _weight_axis_and_per_channel(op: Operator, opts: QuantOptions) -> tuple[int, bool]:
    axis = qp.channel_axis(op.opcode)
    per = opts.per_channel if op.opcode != "FULLY_CONNECTED" else opts.per_channel_fc
    return axis, per


def quantize_weights(g: Graph, runner: FloatRunner, opts: QuantOptions) -> dict[int, dict]:
    """Per matmul op: int8 weights, their scales and the fake-quantized float weights."""
    out = {}
    for op in g.operators:
        if op.opcode not in MATMUL_OPS:
            continue
        w = runner.weights[op.inputs[1]]
        axis, per = _weight_axis_and_per_channel(op, opts)
        scales = qp.weight_scales(w, axis, per)
        q = qp.quantize_weights(w, scales, axis)
        out[op.index] = {"q": q, "scales": scales, "axis": axis if per else 0,
                         "fake": qp.dequantize_weights(q, scales, axis)}
    return out


def bias_corrections(g: Graph, runner: FloatRunner, weights: dict[int, dict], calib: np.ndarray,
                     opts: QuantOptions) -> dict[int, np.ndarray]:
    """Per matmul op: the per-channel mean of (quantized - float weights) applied to the op's float inputs
    on calibration data; subtracting it from the bias removes the systematic output shift weight rounding
    causes (the empirical bias correction of Nagel et al., "Data-Free Quantization", 2019)."""
    from cimconv.quantize import float_runner as fr

    x = calib[:BIAS_CORRECTION_SAMPLES]
    sums: dict[int, np.ndarray] = {}
    count: dict[int, int] = {}
    for i in range(0, len(x), opts.batch):
        env = runner.run(x[i : i + opts.batch])
        for op in g.operators:
            if op.index not in weights:
                continue
            dw = weights[op.index]["fake"] - runner.weights[op.inputs[1]]
            xin = env[op.inputs[0]]
            if op.opcode == "CONV_2D":
                y = fr.conv2d(xin, dw, None, op.options)
            elif op.opcode == "DEPTHWISE_CONV_2D":
                y = fr.depthwise(xin, dw, None, op.options)
            else:
                y = fr.fully_connected(xin, dw, None, op.options, len(xin))
            y = y.reshape(-1, y.shape[-1]).astype(np.float64)
            sums[op.index] = sums.get(op.index, 0.0) + y.sum(axis=0)
            count[op.index] = count.get(op.index, 0) + y.shape[0]
    return {k: (sums[k] / count[k]).astype(np.float32) for k in sums}


def quantize_graph(g: Graph, calib: np.ndarray, opts: QuantOptions | None = None,
                   progress: Callable[[int], None] | None = None) -> QuantResult:
    """Quantize a float graph with calibration inputs `calib` [N, *input shape[1:]] (float32)."""
    opts = opts or QuantOptions()
    opts.check()
    if not is_float_model(g):
        raise ModelError(f"{g.name}: the model is already quantized (its weights are integers); give the float "
                         "model (or convert this one directly)")
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise ModelError(f"{g.name}: the quantizer handles models with one input and one output "
                         f"(this one has {len(g.inputs)} and {len(g.outputs)})")
    for op in g.operators:
        if op.opcode not in OPTIONS_CLASS:
            raise ModelError(f"{g.name}: unsupported op {op.opcode} at operator {op.index}; "
                             "`cimsdk convert --supported-ops` lists what runs")
    calib = np.asarray(calib, np.float32)
    in_shape = g.tensors[g.inputs[0]].shape
    try:
        calib = calib.reshape((-1, *in_shape[1:]))
    except ValueError:
        raise UserError(f"calibration data of shape {list(calib.shape)} does not fit the model input "
                        f"{list(in_shape)}") from None
    if len(calib) == 0:
        raise UserError("no calibration inputs; give a folder or file with representative inputs")
    runner = FloatRunner(g)
    obs = calibrate(g, runner, calib, opts, progress)
    acts = activation_params(g, obs, opts)
    weights = quantize_weights(g, runner, opts)
    corr = bias_corrections(g, runner, weights, calib, opts) if opts.bias_correction else {}
    spec, layers = _build(g, runner, acts, weights, corr, opts)
    report = {
        "options": asdict(opts),
        "calibration_inputs": int(len(calib)),
        "activations": {str(t): v for t, v in acts.items()},
        "layers": layers,
    }
    return QuantResult(write_model(spec), report)


def _build(g: Graph, runner: FloatRunner, acts: dict[int, dict], weights: dict[int, dict],
           corr: dict[int, np.ndarray], opts: QuantOptions) -> tuple[ModelSpec, list[dict]]:
    adt = opts.activations
    bias_bits = 32 if adt == "int8" else 64
    used: list[int] = []
    for op in g.operators:
        used += [t for t in op.inputs + op.outputs if t >= 0 and t not in used]
    for t in g.inputs + g.outputs:
        if t not in used:
            used.append(t)
    specs: dict[int, TensorSpec] = {}
    layers = []
    for t in used:
        ten = g.tensors[t]
        if t in acts:
            a = acts[t]
            specs[t] = TensorSpec(ten.name, ten.shape, adt, np.array([a["scale"]], np.float32),
                                  np.array([a["zero_point"]]))
        elif ten.data is not None and ten.dtype in ("int32", "int64") and ten.quant is None:
            specs[t] = TensorSpec(ten.name, ten.shape, ten.dtype, data=np.asarray(ten.data))  # shapes, axes
    for op in g.operators:
        if op.index in weights:
            w = weights[op.index]
            wt = g.tensors[op.inputs[1]]
            specs[op.inputs[1]] = TensorSpec(wt.name, wt.shape, "int8", w["scales"],
                                             np.zeros(w["scales"].size, np.int64), w["axis"], w["q"])
            in_scale = acts[op.inputs[0]]["scale"]
            has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
            cout = wt.shape[qp.channel_axis(op.opcode)]
            b = runner.biases[op.inputs[2]].astype(np.float64) if has_bias else np.zeros(cout)
            shift = corr.get(op.index)
            if shift is not None:
                b = b - shift
            qb, bs = qp.quantize_bias(b, in_scale, w["scales"], bias_bits)
            bias_dtype = "int32" if bias_bits == 32 else "int64"
            if has_bias:
                bt = g.tensors[op.inputs[2]]
                specs[op.inputs[2]] = TensorSpec(bt.name, bt.shape, bias_dtype, bs,
                                                 np.zeros(bs.size, np.int64), 0, qb)
            layers.append({"op": op.index, "opcode": op.opcode, "weight_scales": {
                "min": float(w["scales"].min()), "max": float(w["scales"].max()), "count": int(w["scales"].size)},
                "weight_error_rms": float(np.sqrt(np.mean((w["fake"] - runner.weights[op.inputs[1]]) ** 2))),
                "bias_correction_max_abs": float(np.abs(shift).max()) if shift is not None else 0.0,
                "input_scale": in_scale, "output_scale": acts[op.outputs[0]]["scale"]})
    for t in used:
        if t in specs:
            continue
        ten = g.tensors[t]
        if ten.data is None:
            raise ModelError(f"{g.name}: tensor {t} ({ten.name}) is neither computed nor constant")
        # A float constant operand (e.g. ADD's second input): asymmetric int8 over its own min/max.
        v = runner.weights.get(t, np.asarray(ten.data, np.float32))
        scale, zp = qp.asymmetric_params(float(v.min()), float(v.max()))
        q = np.clip(np.round(v / scale) + zp, -128, 127).astype(np.int8)
        specs[t] = TensorSpec(ten.name, ten.shape, "int8", np.array([scale], np.float32), np.array([zp]), 0, q)
    index = {t: i for i, t in enumerate(used)}
    tensors = [specs[t] for t in used]
    ops = []
    for op in g.operators:
        o = {k: v for k, v in op.options.items()}
        ops.append(OpSpec(op.opcode, [index[t] if t >= 0 else -1 for t in op.inputs],
                          [index[t] for t in op.outputs], o, INT8_VERSIONS.get(op.opcode, 1)))
    inputs, outputs = [index[t] for t in g.inputs], [index[t] for t in g.outputs]
    if opts.io == "float":
        inputs, outputs = _float_edges(tensors, ops, inputs, outputs)
    return ModelSpec(tensors, ops, inputs, outputs, "cimsdk quantize"), layers


def _float_edges(tensors: list[TensorSpec], ops: list[OpSpec], inputs: list[int],
                 outputs: list[int]) -> tuple[list[int], list[int]]:
    """Float model edges: QUANTIZE after the float input, DEQUANTIZE before the float output."""
    i_q, o_q = inputs[0], outputs[0]
    fi = len(tensors)
    tensors.append(TensorSpec(tensors[i_q].name + "_float", tensors[i_q].shape, "float32"))
    fo = len(tensors)
    tensors.append(TensorSpec(tensors[o_q].name + "_float", tensors[o_q].shape, "float32"))
    ops.insert(0, OpSpec("QUANTIZE", [fi], [i_q], {}, 1))
    ops.append(OpSpec("DEQUANTIZE", [o_q], [fo], {}, 2))
    return [fi], [fo]
