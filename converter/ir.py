"""Graph IR: what the reader produces and every later stage reads (tensors, quantization, operators)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LABEL_MAX = 40  # characters of a tensor name an error message quotes


def clip_text(text: str, limit: int = LABEL_MAX) -> str:
    """Text from a model as it may appear in a one-line message: printable, at most `limit` characters."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def shape_text(shape: tuple[int, ...], limit: int = 6) -> str:
    """A shape for a message, its dims after the first `limit` elided."""
    dims = ", ".join(str(d) for d in shape[:limit])
    return f"[{dims}, ... ({len(shape)} dims)]" if len(shape) > limit else f"[{dims}]"


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-channel along `axis` when len(scale) > 1."""

    scale: np.ndarray  # float32, shape (C,) or (1,)
    zero_point: np.ndarray  # int64, shape (C,) or (1,)
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def s(self) -> float:
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        return int(self.zero_point[0])


def same_per_tensor_quant(a: Quant | None, b: Quant | None) -> bool:
    """Both per-tensor with equal scale and zero point: moving a value from one to the other changes nothing."""
    return (a is not None and b is not None and not a.per_channel and not b.per_channel
            and a.s == b.s and a.zp == b.zp)


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: int8, int16, int32, int64, uint8, float32, bool
    quant: Quant | None = None
    data: np.ndarray | None = None  # constant contents, else None
    variable: bool = False  # TFLite variable tensor: state kept between invocations (SVDF's activation state)

    @property
    def label(self) -> str:
        """How error messages name the tensor: its (clipped) name and index."""
        return f"'{clip_text(self.name)}' (tensor {self.index})"

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Operator:
    index: int
    opcode: str  # TFLite builtin name, e.g. "CONV_2D"
    inputs: list[int]  # tensor indices; -1 for an omitted optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)
    version: int = 1
    options_type: str = ""  # name of the flatbuffer's builtin options table ("" when it has none)


@dataclass
class Graph:
    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    description: str = ""
    # Resource variables' initial values by shared name, from the CALL_ONCE initialisation subgraphs
    # (None: initialised by something other than a constant); converter/resource_vars.py reads them.
    variable_inits: dict[str, np.ndarray | None] = field(default_factory=dict)

    def producer(self, tensor: int) -> Operator | None:
        for op in self.operators:
            if tensor in op.outputs:
                return op
        return None


# Ops that multiply activations by weights: the dtype of their activation input says how a model computes.
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D", "BATCH_MATMUL")
QUANTIZED_DTYPES = ("int8", "uint8", "int16")


def is_float_model(g: Graph) -> bool:
    """A float model computes in float: its MAC ops read float32 activations (float weights, or int8 weights
    of TFLite's dynamic-range quantization, which calibration turns into a full-integer model); a model without
    MAC ops has no integer activations. The model's edges do not decide it: an int8 model exported with float32
    inputs and outputs (QUANTIZE first, DEQUANTIZE last) is not a float model."""
    macs = [op for op in g.operators if op.opcode in MAC_OPS and op.inputs and op.inputs[0] >= 0]
    if macs:
        return all(g.tensors[op.inputs[0]].dtype == "float32" for op in macs)
    return bool(g.operators) and not any(t.dtype in QUANTIZED_DTYPES and t.data is None for t in g.tensors)
