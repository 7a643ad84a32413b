"""SVDF models of our own, written with TensorFlow's flatbuffer schema (its object API).

TensorFlow has no Keras SVDF layer and its converter never emits the SVDF builtin (TFLM's keyword model
was made by hand), so these models are assembled the same way: an int8 input frame, one or two SVDF layers
(random weights, scales chosen so values spread over the int8 range rather than saturate), a
FULLY_CONNECTED between them, int8 output. TFLM runs them as they are; they are the test's reference.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import flatbuffers
import numpy as np


def _schema():
    return importlib.import_module("tensorflow.lite.python.schema_py_generated")


@dataclass
class SvdfLayer:
    n_input: int
    units: int
    rank: int
    memory: int
    relu: bool = False
    state: str = "int8"  # activation state and time weights: int8 (TFLM's keyword model) or int16
    state_zp: int | None = None  # None: random in [-20, 20] for int8 state, 0 for int16 (as TFLite makes it)
    saturate: float = 0.0  # share of feature values pushed past the state's range (their scale shrunk to match)


class _Builder:
    def __init__(self, seed: int):
        self.s = _schema()
        self.rng = np.random.default_rng(seed)
        self.tensors: list = []
        self.buffers: list = [self.s.BufferT()]  # buffer 0: empty, by convention
        self.ops: list = []
        self.opcodes: list[int] = []

    def tensor(self, name: str, shape: tuple[int, ...], dtype: str, scale: float, zp: int,
               data: np.ndarray | None = None, variable: bool = False) -> int:
        s = self.s
        t = s.TensorT()
        t.name = name.encode()
        t.shape = np.array(shape, np.int32)
        t.type = {"int8": s.TensorType.INT8, "int16": s.TensorType.INT16, "int32": s.TensorType.INT32}[dtype]
        q = s.QuantizationParametersT()
        q.scale = np.array([scale], np.float32)
        q.zeroPoint = np.array([zp], np.int64)
        t.quantization = q
        t.isVariable = variable
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data.astype(dtype)).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, builtin: int, inputs: list[int], outputs: list[int], options_type: int, options) -> None:
        s = self.s
        if builtin not in self.opcodes:
            self.opcodes.append(builtin)
        o = s.OperatorT()
        o.opcodeIndex = self.opcodes.index(builtin)
        o.inputs = np.array(inputs, np.int32)
        o.outputs = np.array(outputs, np.int32)
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        self.ops.append(o)

    def weights(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.integers(-127, 128, size=shape).astype(np.int8)

    def svdf(self, x: int, x_scale: float, layer: SvdfLayer, i: int) -> tuple[int, float]:
        s = self.s
        n_filter = layer.units * layer.rank
        wf = self.weights((n_filter, layer.n_input))
        wide = layer.state == "int16"
        wt = self.rng.integers(-3000, 3001, size=(n_filter, layer.memory)).astype(np.int16) if wide else \
            self.weights((n_filter, layer.memory))
        wf_scale, wt_scale = 0.02, 0.015
        # int8 codes of uniform random weights and inputs have a standard deviation near 74; the scales put
        # the feature values and outputs at a standard deviation of about 40 codes (int16 state: 4,000 codes,
        # time weights 1,700), so few saturate
        state_sd, wt_sd = (4000, 1700) if wide else (40, 74)
        state_scale = float(x_scale * wf_scale * 74 * 74 * np.sqrt(layer.n_input) / state_sd)
        if layer.saturate:  # a feature standard deviation at which that share falls outside +-range/2
            from statistics import NormalDist
            half = 32767 if wide else 127
            state_scale *= (state_sd / half) * NormalDist().inv_cdf(1 - layer.saturate / 2)
        out_scale = float(state_scale * wt_scale * wt_sd * state_sd * np.sqrt(layer.memory * layer.rank) / 40)
        state_zp = layer.state_zp if layer.state_zp is not None else 0 if wide else int(self.rng.integers(-20, 21))
        out_zp = int(self.rng.integers(-30, 31))
        bias = self.rng.integers(-3000, 3000, size=layer.units).astype(np.int32)
        t_wf = self.tensor(f"svdf{i}/feature", wf.shape, "int8", wf_scale, 0, wf)
        t_wt = self.tensor(f"svdf{i}/time", wt.shape, layer.state, wt_scale, 0, wt)
        t_b = self.tensor(f"svdf{i}/bias", bias.shape, "int32", state_scale * wt_scale, 0, bias)
        t_s = self.tensor(f"svdf{i}/state", (1, n_filter * layer.memory), layer.state, state_scale, state_zp,
                          variable=True)
        t_y = self.tensor(f"svdf{i}/out", (1, layer.units), "int8", out_scale, out_zp)
        o = s.SVDFOptionsT()
        o.rank = layer.rank
        o.fusedActivationFunction = s.ActivationFunctionType.RELU if layer.relu else s.ActivationFunctionType.NONE
        self.op(s.BuiltinOperator.SVDF, [x, t_wf, t_wt, t_b, t_s], [t_y], s.BuiltinOptions.SVDFOptions, o)
        return t_y, out_scale

    def fully_connected(self, x: int, x_scale: float, n_in: int, n_out: int, i: int) -> tuple[int, float]:
        s = self.s
        w = self.weights((n_out, n_in))
        w_scale = 0.01
        out_scale = float(x_scale * w_scale * 74 * 40 * np.sqrt(n_in) / 40)
        bias = self.rng.integers(-500, 500, size=n_out).astype(np.int32)
        t_w = self.tensor(f"fc{i}/w", w.shape, "int8", w_scale, 0, w)
        t_b = self.tensor(f"fc{i}/b", bias.shape, "int32", x_scale * w_scale, 0, bias)
        t_y = self.tensor(f"fc{i}/out", (1, n_out), "int8", out_scale, int(self.rng.integers(-10, 11)))
        o = s.FullyConnectedOptionsT()
        self.op(s.BuiltinOperator.FULLY_CONNECTED, [x, t_w, t_b], [t_y], s.BuiltinOptions.FullyConnectedOptions, o)
        return t_y, out_scale

    def finish(self, inp: int, out: int) -> bytes:
        s = self.s
        sg = s.SubGraphT()
        sg.tensors = self.tensors
        sg.operators = self.ops
        sg.inputs = np.array([inp], np.int32)
        sg.outputs = np.array([out], np.int32)
        sg.name = b"main"
        m = s.ModelT()
        m.version = 3
        m.description = b"cimsdk test SVDF model"
        codes = []
        for b in self.opcodes:
            c = s.OperatorCodeT()
            c.builtinCode = b
            c.deprecatedBuiltinCode = min(b, 127)
            c.version = 3 if b == s.BuiltinOperator.SVDF else 4
            codes.append(c)
        m.operatorCodes = codes
        m.subgraphs = [sg]
        m.buffers = self.buffers
        fb = flatbuffers.Builder(1024)
        fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def svdf_model(layers: list[SvdfLayer], seed: int = 0) -> bytes:
    """int8 frame -> SVDF (-> FULLY_CONNECTED -> SVDF ...) -> int8 output."""
    b = _Builder(seed)
    x_scale = 0.05
    x = b.tensor("input", (1, layers[0].n_input), "int8", x_scale, int(b.rng.integers(-5, 6)))
    inp = x
    for i, layer in enumerate(layers):
        if i:
            x, x_scale = b.fully_connected(x, x_scale, layers[i - 1].units, layer.n_input, i)
        x, x_scale = b.svdf(x, x_scale, layer, i)
    return b.finish(inp, x)
