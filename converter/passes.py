"""Graph passes before lowering: input checks, float edges peeled off, unsupported ops named."""

from __future__ import annotations

from dataclasses import dataclass

from cimconv.errors import ModelError
from cimconv.fold import FOLDERS, fold_constants, why_not_folded
from cimconv.image import DTYPES, MAX_RANK
from cimconv.ir import Graph, Operator, Tensor, shape_text
from cimconv.opspec import OPS

QUANTIZE_HINT = (
    "quantize it to int8 first from the original Keras/SavedModel model: TFLiteConverter with "
    "optimizations=[DEFAULT], a representative_dataset, target_spec.supported_ops=[TFLITE_BUILTINS_INT8] "
    "and int8 inference_input_type/inference_output_type (docs/targets.md)"
)


# Per supported op: (fewest, most) inputs, which of them may be omitted (-1), and the builtin options
# table it carries (an op whose options are of another table is damaged).
ARITY: dict[str, tuple[int, int, tuple[int, ...], str]] = {
    "CONV_2D": (2, 3, (2,), "Conv2DOptions"),
    "DEPTHWISE_CONV_2D": (2, 3, (2,), "DepthwiseConv2DOptions"),
    "FULLY_CONNECTED": (2, 3, (2,), "FullyConnectedOptions"),
    "AVERAGE_POOL_2D": (1, 1, (), "Pool2DOptions"),
    "MAX_POOL_2D": (1, 1, (), "Pool2DOptions"),
    "ADD": (2, 2, (), "AddOptions"),
    "MUL": (2, 2, (), "MulOptions"),
    "RESHAPE": (1, 2, (1,), "ReshapeOptions"),
    "SOFTMAX": (1, 1, (), "SoftmaxOptions"),
    "PAD": (2, 2, (), "PadOptions"),
    "CONCATENATION": (1, 10, (), "ConcatenationOptions"),
    "MEAN": (2, 2, (), "ReducerOptions"),
    "LOGISTIC": (1, 1, (), ""),
    "QUANTIZE": (1, 1, (), "QuantizeOptions"),
    "DEQUANTIZE": (1, 1, (), "DequantizeOptions"),
    "SVDF": (5, 5, (3,), "SVDFOptions"),
}
# Integer edges the program reads or writes as they are (kernels inside the program convert them): an
# int16 input a QUANTIZE reads, an int16/int32 output a QUANTIZE or SOFTMAX writes (TFLM's keyword model).
WIDE_EDGES = ("int16", "int32")
MAX_TENSOR_BYTES = 1 << 31  # an image records tensor sizes and offsets as u32; MCU tensors are far smaller


def check_structure(g: Graph, op: Operator) -> None:
    """Input/output counts, options table and the shapes and dtypes of every tensor the op touches."""
    lo, hi, optional, options = ARITY[op.opcode]
    where = f"{g.name}: {op.opcode} at operator {op.index}"
    if not lo <= len(op.inputs) <= hi or len(op.outputs) != 1:
        ins = f"{lo}" if lo == hi else f"{lo} to {hi}"
        raise ModelError(f"{where}: {len(op.inputs)} inputs and {len(op.outputs)} outputs; the op takes {ins} "
                         "inputs and 1 output")
    for pos, t in enumerate(op.inputs):
        if t < 0 and pos not in optional:
            raise ModelError(f"{where}: input {pos} is omitted (-1) but the op needs it")
    if op.options_type not in ("", options):
        raise ModelError(f"{where}: carries {op.options_type}, expected {options or 'no options'}")
    for t in [*op.inputs, *op.outputs]:
        if t >= 0:
            check_tensor(g.tensors[t], where)


def check_tensor(t: Tensor, where: str) -> None:
    if t.dtype not in DTYPES:
        raise ModelError(f"{where}: tensor {t.label} is {t.dtype}; supported: {', '.join(DTYPES)}")
    if len(t.shape) > MAX_RANK or any(d < 1 for d in t.shape):
        raise ModelError(f"{where}: tensor {t.label} has shape {shape_text(t.shape)}; up to {MAX_RANK} dimensions, "
                         "each at least 1, are supported")
    if t.nbytes > MAX_TENSOR_BYTES:
        raise ModelError(f"{where}: tensor {t.label} of shape {shape_text(t.shape)} needs {t.nbytes:,} bytes, more "
                         "than any supported device holds")


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
    return bool(compute) and all(len(op.inputs) > 1 and op.inputs[1] >= 0
                                 and g.tensors[op.inputs[1]].dtype == "float32" for op in compute)


UNSUPPORTED_LISTED = 5  # unsupported ops named in the one-line error; the rest are counted


def _why_unsupported(g: Graph, op: Operator) -> str:
    if op.opcode in FOLDERS:
        return f"folded only on constants; {why_not_folded(g, op)}"
    return "no kernel"


def check_supported(g: Graph) -> None:
    """One error naming every op that neither runs nor folds (op, operator index, why), cut after a few."""
    bad = [op for op in g.operators if op.opcode not in OPS]
    if not bad:
        return
    named = ", ".join(f"{op.opcode} at operator {op.index} ({_why_unsupported(g, op)})"
                      for op in bad[:UNSUPPORTED_LISTED])
    more = f", and {len(bad) - UNSUPPORTED_LISTED} more" if len(bad) > UNSUPPORTED_LISTED else ""
    noun = "op" if len(bad) == 1 else "ops"
    raise ModelError(f"{g.name}: {len(bad)} unsupported {noun}: {named}{more}; "
                     "`cimsdk convert --supported-ops` lists what runs")


def prepare(g: Graph) -> Prepared:
    if not g.operators:
        raise ModelError(f"{g.name}: the model has no operators")
    if _is_float_model(g):
        raise ModelError(f"{g.name}: this is a float32 model, not int8 quantized; {QUANTIZE_HINT}")
    fold_constants(g)
    check_supported(g)
    for op in g.operators:
        check_structure(g, op)
    ops = list(g.operators)
    inputs, outputs = [], []
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise ModelError(f"{g.name}: {len(g.inputs)} inputs and {len(g.outputs)} outputs; cimsdk supports models "
                         "with one input and one output")
    for t in g.inputs:
        tensor = g.tensors[t]
        check_tensor(tensor, f"{g.name}: model input")
        first = [op for op in ops if t in op.inputs]
        if tensor.dtype == "float32" and len(first) == 1 and first[0].opcode == "QUANTIZE":
            q = first[0]
            out = g.tensors[q.outputs[0]]
            if out.dtype != "int8" or out.quant is None or out.quant.per_channel:
                raise ModelError(f"{g.name}: QUANTIZE at operator {q.index} makes {out.label} {out.dtype}; the "
                                 "program takes per-tensor quantized int8 inputs")
            ops.remove(q)
            inputs.append(Edge(q.outputs[0], "float32", out.quant.s, out.quant.zp))
        elif tensor.dtype == "int16" and first and all(op.opcode == "QUANTIZE" for op in first) \
                and tensor.quant is not None and not tensor.quant.per_channel:
            inputs.append(Edge(t, "int16", tensor.quant.s, tensor.quant.zp))
        else:
            if tensor.dtype != "int8" or tensor.quant is None or tensor.quant.per_channel:
                raise ModelError(f"{g.name}: input {tensor.label} is {tensor.dtype}; the program takes int8 "
                                 f"inputs; {QUANTIZE_HINT}")
            inputs.append(Edge(t, "int8", tensor.quant.s, tensor.quant.zp))
    for t in g.outputs:
        tensor = g.tensors[t]
        prod = g.producer(t)
        if tensor.dtype == "float32" and prod is not None and prod.opcode == "DEQUANTIZE":
            src = g.tensors[prod.inputs[0]]
            if src.dtype != "int8" or src.quant is None or src.quant.per_channel:
                raise ModelError(f"{g.name}: DEQUANTIZE at operator {prod.index} reads {src.label} of "
                                 f"{src.dtype}; only per-tensor quantized int8 outputs are supported")
            ops.remove(prod)
            outputs.append(Edge(prod.inputs[0], "float32", src.quant.s, src.quant.zp))
        elif tensor.dtype in WIDE_EDGES and prod is not None and prod.opcode in ("QUANTIZE", "SOFTMAX") \
                and tensor.quant is not None and not tensor.quant.per_channel:
            outputs.append(Edge(t, tensor.dtype, tensor.quant.s, tensor.quant.zp))
        else:
            if tensor.dtype != "int8" or tensor.quant is None or tensor.quant.per_channel:
                raise ModelError(f"{g.name}: output {tensor.label} is {tensor.dtype}; only int8 outputs are "
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
