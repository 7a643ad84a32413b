"""Graph passes before lowering: input checks, float edges peeled off, unsupported ops named."""

from __future__ import annotations

from dataclasses import dataclass

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator
from cimconv.opspec import OPS

QUANTIZE_HINT = (
    "quantize it to int8 first from the original Keras/SavedModel model: TFLiteConverter with "
    "optimizations=[DEFAULT], a representative_dataset, target_spec.supported_ops=[TFLITE_BUILTINS_INT8] "
    "and int8 inference_input_type/inference_output_type (docs/targets.md)"
)


@dataclass
class Edge:
    """What the model's user sees at an input or output, and the int8 tensor the device uses."""

    tensor: int  # int8 tensor inside the program
    dtype: str  # user-facing dtype (int8, or float32 when a QUANTIZE/DEQUANTIZE edge runs on the host)
    scale: float
    zero_point: int


@dataclass
class Prepared:
    graph: Graph
    ops: list[Operator]  # operators that run in the program, in order
    inputs: list[Edge]
    outputs: list[Edge]


def _is_float_model(g: Graph) -> bool:
    compute = [op for op in g.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    return bool(compute) and all(g.tensors[op.inputs[1]].dtype == "float32" for op in compute)


def prepare(g: Graph) -> Prepared:
    if not g.operators:
        raise ModelError(f"{g.name}: the model has no operators")
    if _is_float_model(g):
        raise ModelError(f"{g.name}: this is a float32 model, not int8 quantized; {QUANTIZE_HINT}")
    for op in g.operators:
        if op.opcode not in OPS:
            raise ModelError(f"{g.name}: unsupported op {op.opcode} at operator {op.index}; "
                             "`cimsdk convert --supported-ops` lists what runs")
    ops = list(g.operators)
    inputs, outputs = [], []
    for t in g.inputs:
        tensor = g.tensors[t]
        first = [op for op in ops if t in op.inputs]
        if tensor.dtype == "float32" and len(first) == 1 and first[0].opcode == "QUANTIZE":
            q = first[0]
            out = g.tensors[q.outputs[0]]
            ops.remove(q)
            inputs.append(Edge(q.outputs[0], "float32", out.quant.s, out.quant.zp))
        else:
            if tensor.dtype != "int8" or tensor.quant is None:
                raise ModelError(f"{g.name}: input '{tensor.name}' is {tensor.dtype}; the program takes int8 "
                                 f"inputs; {QUANTIZE_HINT}")
            inputs.append(Edge(t, "int8", tensor.quant.s, tensor.quant.zp))
    for t in g.outputs:
        tensor = g.tensors[t]
        prod = g.producer(t)
        if tensor.dtype == "float32" and prod is not None and prod.opcode == "DEQUANTIZE":
            src = g.tensors[prod.inputs[0]]
            ops.remove(prod)
            outputs.append(Edge(prod.inputs[0], "float32", src.quant.s, src.quant.zp))
        else:
            if tensor.dtype != "int8" or tensor.quant is None:
                raise ModelError(f"{g.name}: output '{tensor.name}' is {tensor.dtype}; only int8 outputs are "
                                 f"supported; {QUANTIZE_HINT}")
            outputs.append(Edge(t, "int8", tensor.quant.s, tensor.quant.zp))
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{g.name}: {len(inputs)} inputs and {len(outputs)} outputs; cimsdk supports models "
                         "with one input and one output")
    for op in ops:
        if op.opcode == "DEQUANTIZE":
            raise ModelError(f"{g.name}: DEQUANTIZE at operator {op.index} inside the graph; only a DEQUANTIZE "
                             "feeding the model output runs (on the host)")
    return Prepared(g, ops, inputs, outputs)
