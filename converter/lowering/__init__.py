"""Lowering: each supported TFLite op becomes a program op with integer params (and a matrix for CiM ops).

One module per op (`cimconv.lowering.<opcode lowercased>`), each exporting `lower(graph, op)`; CiM ops
return a `Lowered` with a `MatrixSpec`, CPU ops a dict of params (and `PARAM_INPUTS`, the inputs folded
into params). An op that splits into a CiM part and a CPU part (SVDF) returns a list of `Lowered`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator
from cimconv.opspec import OPS
from cimconv.qmath import QuantRangeError

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass
class MatrixSpec:
    """The logical matrix a CiM op multiplies by: weights (N, K), column c contiguous."""

    kind: int
    weights: np.ndarray  # int8 (N, K)
    bias: np.ndarray  # int32 (N,), input zero point folded in
    mult: np.ndarray  # int32 (N,)
    shift: np.ndarray  # int32 (N,)
    kernel: tuple[int, int] = (1, 1)

    @property
    def rows(self) -> int:
        return int(self.weights.shape[1])

    @property
    def cols(self) -> int:
        return int(self.weights.shape[0])


@dataclass
class Lowered:
    opcode: str
    inputs: list[int]
    outputs: list[int]
    params: dict[str, int]
    matrix: MatrixSpec | None
    source_index: int
    source_opcode: str = ""  # the TFLite op, when it runs as another program op (a pool as a depthwise pass)

    @property
    def label(self) -> str:
        """How reports name the op: the model's op (AVERAGE_POOL_2D), whatever program op runs it."""
        return self.source_opcode or self.opcode

    @property
    def cim(self) -> bool:
        return self.matrix is not None


def lower_ops(graph: Graph, op: Operator) -> list[Lowered]:
    """The program ops one TFLite op becomes (one, or a CiM op and a CPU op)."""
    return lower_op(graph, op, many=True)


def lower_op(graph: Graph, op: Operator, many: bool = False) -> Lowered | list[Lowered]:
    spec = OPS.get(op.opcode)
    if spec is None:
        raise ModelError(f"unsupported op {op.opcode} at operator {op.index}; "
                         "`cimsdk convert --supported-ops` lists what runs")
    module = importlib.import_module(f"cimconv.lowering.{op.opcode.lower()}")
    try:
        result = module.lower(graph, op)
    except QuantRangeError as exc:
        raise ModelError(f"{op.opcode} at operator {op.index}: {exc}; check the model's quantization") from None
    parts = result if isinstance(result, list) else [result]
    for part in parts:
        params = part.params if isinstance(part, Lowered) else part
        for name, value in params.items():
            if not I32_MIN <= int(value) <= I32_MAX:
                raise ModelError(f"{op.opcode} at operator {op.index}: parameter {name} = {value} does not fit "
                                 "the image's int32 parameters")
    if isinstance(result, list):
        if not many:
            raise ModelError(f"internal: {op.opcode} lowers to {len(result)} program ops; use lower_ops")
        return result
    if isinstance(result, Lowered):
        return [result] if many else result
    folded = set(getattr(module, "PARAM_INPUTS", ()))
    inputs = [t for i, t in enumerate(op.inputs) if i not in folded and t >= 0]
    missing = set(spec.params) - set(result)
    if missing:
        raise ModelError(f"internal: lowering of {op.opcode} at operator {op.index} lacks {sorted(missing)}")
    low = Lowered(op.opcode, inputs, list(op.outputs), {k: int(result[k]) for k in spec.params}, None, op.index)
    return [low] if many else low
