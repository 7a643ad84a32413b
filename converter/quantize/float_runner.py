"""Run a float TFLite graph in numpy, keeping every tensor, so calibration can watch each activation.

Why not an interpreter: the quantizer needs every intermediate tensor of a batch, the pre-activation
accumulators (bias correction), and the same graph run again with fake-quantized weights; a small numpy
runner over the IR does all three without TensorFlow. Ops are the float counterparts of what `convert`
supports (tests check this runner against LiteRT on real models). Weights stored int8 by TFLite's
dynamic-range ("hybrid") quantization are dequantized on load.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator, Tensor

MATMUL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_ACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "NONE": lambda x: x,
    "RELU": lambda x: np.maximum(x, 0.0),
    "RELU6": lambda x: np.clip(x, 0.0, 6.0),
    "RELU_N1_TO_1": lambda x: np.clip(x, -1.0, 1.0),
}


def const_float(t: Tensor) -> np.ndarray:
    """A constant tensor as float32: float data as is, hybrid int8 weights dequantized per channel."""
    if t.data is None:
        raise ModelError(f"tensor {t.index} ({t.name}) should be a constant")
    d = np.asarray(t.data)
    if d.dtype == np.float32:
        return d
    if d.dtype == np.float16:
        return d.astype(np.float32)
    if t.quant is None:
        return d.astype(np.float32)
    shape = [1] * d.ndim
    if t.quant.per_channel:
        shape[t.quant.axis] = -1
    s = t.quant.scale.reshape(shape) if t.quant.per_channel else t.quant.scale[0]
    z = t.quant.zero_point.reshape(shape) if t.quant.per_channel else t.quant.zero_point[0]
    return ((d.astype(np.float64) - z) * s).astype(np.float32)


def same_padding(size: int, k: int, stride: int, dil: int) -> tuple[int, int, int]:
    """(output size, pad before, pad after) of TFLite SAME padding."""
    out = -(-size // stride)
    eff = (k - 1) * dil + 1
    total = max((out - 1) * stride + eff - size, 0)
    return out, total // 2, total - total // 2


def _windows(x: np.ndarray, kh: int, kw: int, o: dict) -> np.ndarray:
    """Patches [N, OH, OW, C, KH, KW] of an NHWC batch for the op's stride, dilation and padding."""
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    dh, dw = o.get("dilation_hfactor", 1), o.get("dilation_wfactor", 1)
    n, h, w, c = x.shape
    if o.get("padding", "SAME") == "SAME":
        _, pt, pb = same_padding(h, kh, sh, dh)
        _, pl, pr = same_padding(w, kw, sw, dw)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (eh, ew), axis=(1, 2))
    return win[:, ::sh, ::sw, :, ::dh, ::dw]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, o: dict) -> np.ndarray:
    """CONV_2D without its activation; w is [O, KH, KW, I]."""
    oc, kh, kw, ic = w.shape
    if kh == kw == 1 and o.get("stride_h", 1) == o.get("stride_w", 1) == 1:  # pointwise: one matmul
        y = x.reshape(-1, ic) @ w.reshape(oc, ic).T
        if b is not None:
            y = y + b
        return y.reshape(*x.shape[:3], oc).astype(np.float32)
    win = _windows(x, kh, kw, o)  # N OH OW I KH KW
    n, oh, ow = win.shape[:3]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * ic)
    y = cols @ w.reshape(oc, -1).T
    if b is not None:
        y = y + b
    return y.reshape(n, oh, ow, oc).astype(np.float32)


def depthwise(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, o: dict) -> np.ndarray:
    """DEPTHWISE_CONV_2D without its activation; w is [1, KH, KW, I * depth_multiplier]."""
    _, kh, kw, oc = w.shape
    mult = o.get("depth_multiplier", 1) or oc // x.shape[3]
    if x.shape[3] * mult != oc:
        mult = oc // x.shape[3]
    win = _windows(x, kh, kw, o)  # N OH OW I KH KW
    if mult > 1:
        win = np.repeat(win, mult, axis=3)
    y = np.zeros(win.shape[:4], np.float32)
    for i in range(kh):  # one multiply-add of the whole batch per filter tap
        for j in range(kw):
            y += win[..., i, j] * w[0, i, j]
    if b is not None:
        y = y + b
    return y.astype(np.float32)


def fully_connected(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, o: dict, batch: int) -> np.ndarray:
    y = x.reshape(-1, w.shape[1]) @ w.T
    if b is not None:
        y = y + b
    return y.astype(np.float32)


def _pool(x: np.ndarray, o: dict, kind: str) -> np.ndarray:
    kh, kw = o["filter_height"], o["filter_width"]
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    n, h, w, c = x.shape
    if o.get("padding", "VALID") == "SAME":
        _, pt, pb = same_padding(h, kh, sh, 1)
        _, pl, pr = same_padding(w, kw, sw, 1)
        fill = -np.inf if kind == "max" else np.nan
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    if kind == "max":
        return win.max(axis=(4, 5))
    return np.nanmean(win, axis=(4, 5))  # TFLite averages over the valid (unpadded) cells only


def _softmax(x: np.ndarray, beta: float) -> np.ndarray:
    z = beta * (x - x.max(axis=-1, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class FloatRunner:
    """Evaluate a float graph on a batch: `run(x)` returns {tensor index: float32 array [N, ...]}.

    `weights` overrides the float weights of matmul ops (fake-quantized weights for bias correction);
    `pre_act` collects each matmul op's output before its fused activation.
    """

    def __init__(self, graph: Graph):
        self.g = graph
        self.weights: dict[int, np.ndarray] = {}
        self.biases: dict[int, np.ndarray] = {}
        for op in graph.operators:
            for t in op.inputs:
                if t >= 0 and graph.tensors[t].data is not None and graph.tensors[t].dtype != "int32":
                    self.weights.setdefault(t, const_float(graph.tensors[t]))
            if op.opcode in MATMUL_OPS and len(op.inputs) > 2 and op.inputs[2] >= 0:
                self.biases[op.inputs[2]] = const_float(graph.tensors[op.inputs[2]]).astype(np.float32)

    def value(self, t: int, env: dict[int, np.ndarray]) -> np.ndarray:
        if t in env:
            return env[t]
        if t in self.weights:
            return self.weights[t]
        ten = self.g.tensors[t]
        if ten.data is not None:
            return np.asarray(ten.data)
        raise ModelError(f"{self.g.name}: tensor {t} ({ten.name}) is read before it is written")

    def run(self, x: np.ndarray, weights: dict[int, np.ndarray] | None = None,
            pre_act: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
        g = self.g
        n = x.shape[0]
        env: dict[int, np.ndarray] = {g.inputs[0]: np.asarray(x, np.float32).reshape(n, *g.tensors[g.inputs[0]].shape[1:])}
        for op in g.operators:
            y = self._op(op, env, weights or {}, n, pre_act)
            out_shape = g.tensors[op.outputs[0]].shape
            if out_shape and out_shape[0] == 1:
                y = y.reshape(n, *out_shape[1:])
            env[op.outputs[0]] = y.astype(np.float32)
        return env

    def _op(self, op: Operator, env: dict, weights: dict, n: int, pre_act: dict | None) -> np.ndarray:
        o = op.options
        v = lambda i: self.value(op.inputs[i], env)  # noqa: E731
        act = _ACT.get(o.get("fused_activation_function", "NONE"))
        if act is None:
            raise ModelError(f"{self.g.name}: fused activation {o['fused_activation_function']} of operator "
                             f"{op.index} is not supported by the quantizer")
        if op.opcode in MATMUL_OPS:
            w = weights.get(op.inputs[1], self.weights[op.inputs[1]])
            b = self.biases.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            x = v(0)
            if op.opcode == "CONV_2D":
                y = conv2d(x, w, b, o)
            elif op.opcode == "DEPTHWISE_CONV_2D":
                y = depthwise(x, w, b, o)
            else:
                y = fully_connected(x, w, b, o, n)
            if pre_act is not None:
                pre_act[op.index] = y
            return act(y)
        if op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            return act(_pool(v(0), o, "max" if op.opcode == "MAX_POOL_2D" else "avg"))
        if op.opcode == "RESHAPE":
            shape = self.g.tensors[op.outputs[0]].shape
            return v(0).reshape(n, *shape[1:]) if shape and shape[0] == 1 else v(0).reshape(shape)
        if op.opcode == "SOFTMAX":
            return _softmax(v(0), float(o.get("beta", 1.0)))
        if op.opcode == "LOGISTIC":
            return 1.0 / (1.0 + np.exp(-v(0)))
        if op.opcode == "TANH":
            return np.tanh(v(0))
        if op.opcode == "RELU":
            return np.maximum(v(0), 0.0)
        if op.opcode == "RELU6":
            return np.clip(v(0), 0.0, 6.0)
        if op.opcode == "ADD":
            return act(v(0) + v(1))
        if op.opcode == "MUL":
            return act(v(0) * v(1))
        if op.opcode == "PAD":
            pads = np.asarray(v(1)).reshape(-1, 2)
            return np.pad(v(0), [(0, 0)] + [tuple(int(p) for p in row) for row in pads[1:]])
        if op.opcode == "CONCATENATION":
            axis = o.get("axis", -1)
            return act(np.concatenate([self.value(t, env) for t in op.inputs], axis=axis))
        if op.opcode == "MEAN":
            axes = tuple(int(a) for a in np.asarray(v(1)).reshape(-1))
            return v(0).mean(axis=axes, keepdims=bool(o.get("keep_dims", False)))
        if op.opcode in ("QUANTIZE", "DEQUANTIZE"):
            return v(0).astype(np.float32)
        raise ModelError(f"{self.g.name}: the quantizer has no float kernel for {op.opcode} (operator {op.index}); "
                         "`cimsdk convert --supported-ops` lists the ops a model may use")
