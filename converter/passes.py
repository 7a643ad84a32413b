"""Graph passes before lowering: input checks, float edges peeled off, unsupported ops named."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cimconv.errors import ModelError
from cimconv.float_islands import fold_float_islands
from cimconv.fold import FOLDERS, fold_constants, why_not_folded
from cimconv.image import DTYPES, MAX_RANK
from cimconv.ir import Graph, Operator, Tensor, is_float_model, same_per_tensor_quant, shape_text
from cimconv.opspec import OPS
from cimconv.resource_vars import lower_resource_variables
from cimconv.unrolled import (
    pack_then_unpack,
    reshape_dropping_batch_before_broadcast,
    unstack_time_through_batch,
)

QUANTIZE_HINT = (
    "quantize it to int8 first from the original Keras/SavedModel model: TFLiteConverter with "
    "optimizations=[DEFAULT], a representative_dataset, target_spec.supported_ops=[TFLITE_BUILTINS_INT8] "
    "and int8 inference_input_type/inference_output_type (docs/targets.md)"
)


# Per supported op (contracts/ops.py): (fewest, most) inputs, which of them may be omitted (-1), the
# builtin options table it carries (an op whose options are of another table is damaged), most outputs.
ARITY: dict[str, tuple[int, int, tuple[int, ...], str, int]] = {
    s.name: (*s.inputs, s.optional, s.options, s.outputs) for s in OPS.values()
}
# Integer edges the program reads or writes as they are: int16 inputs and outputs (a QUANTIZE reading one, TFLM's
# keyword model; or a 16x8 model's ops, whose lowerings check they take int16), int32 outputs of QUANTIZE/SOFTMAX.
WIDE_EDGES = ("int16", "int32")
MAX_TENSOR_BYTES = 1 << 31  # an image records tensor sizes and offsets as u32; MCU tensors are far smaller


def check_structure(g: Graph, op: Operator) -> None:
    """Input/output counts, options table and the shapes and dtypes of every tensor the op touches."""
    lo, hi, optional, options, most_outputs = ARITY[op.opcode]
    where = f"{g.name}: {op.opcode} at operator {op.index}"
    if not lo <= len(op.inputs) <= hi or not 1 <= len(op.outputs) <= most_outputs:
        ins = f"{lo}" if lo == hi else f"{lo} to {hi}"
        outs = "1 output" if most_outputs == 1 else f"1 to {most_outputs} outputs"
        raise ModelError(f"{where}: {len(op.inputs)} inputs and {len(op.outputs)} outputs; the op takes {ins} "
                         f"inputs and {outs}")
    for pos, t in enumerate(op.inputs):
        if t < 0 and pos not in optional:
            raise ModelError(f"{where}: input {pos} is omitted (-1) but the op needs it")
    if op.options_type not in ("", options):
        raise ModelError(f"{where}: carries {op.options_type}, expected {options or 'no options'}")
    for t in [*op.inputs, *op.outputs]:
        if t >= 0:
            check_tensor(g.tensors[t], where)


# Fewest (inputs, outputs) of the TFLite ops the graph rewrites read before check_structure runs.
RESOURCE_ARITY = {"VAR_HANDLE": (0, 1), "READ_VARIABLE": (1, 1), "ASSIGN_VARIABLE": (2, 0), "CALL_ONCE": (0, 0)}


def check_operand_counts(g: Graph) -> None:
    """The fewest inputs and outputs each op needs, before the rewrites (resource variables, float islands,
    unrolled recurrent layers) read them; the most, and the tensors, are check_structure's, after them (a
    rewrite may remove a PACK of more inputs than the firmware takes)."""
    for op in g.operators:
        if op.opcode in RESOURCE_ARITY:  # TFLite's form (ASSIGN_VARIABLE has no output until it is rewritten)
            (lo, lo_out), optional = RESOURCE_ARITY[op.opcode], ()
        elif op.opcode in ARITY:
            lo, _hi, optional, _options, _most = ARITY[op.opcode]
            lo_out = 1
        else:
            lo, lo_out, optional = 0, 0, ()
        missing = [i for i in range(min(lo, len(op.inputs))) if op.inputs[i] < 0 and i not in optional]
        if len(op.inputs) < lo or len(op.outputs) < lo_out or missing:
            raise ModelError(f"{g.name}: {op.opcode} at operator {op.index}: {len(op.inputs)} inputs and "
                             f"{len(op.outputs)} outputs{f', input {missing[0]} omitted' if missing else ''}; the op "
                             f"takes at least {lo} input(s) and {lo_out} output(s)")


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
    dtype: str  # user-facing dtype: int8, or float32/uint8 when a QUANTIZE/DEQUANTIZE edge runs on the host
    scale: float  # of the user-facing values: the int8 tensor's for int8/float32, the uint8 tensor's for uint8
    zero_point: int


@dataclass
class Prepared:
    graph: Graph
    ops: list[Operator]  # operators that run in the program, in order
    inputs: list[Edge]
    outputs: list[Edge]


UNSUPPORTED_LISTED = 5  # unsupported ops named in the one-line error; the rest are counted


def _why_unsupported(g: Graph, op: Operator) -> str:
    if op.opcode in FOLDERS:
        return f"folded only on constants; {why_not_folded(g, op) or 'its value could not be computed'}"
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


MAX_IO = 8  # inputs, and outputs, a program may have (the firmware's CIM_RT_MAX_IO)
EDGE_DTYPES = ("float32", "uint8")  # edge dtypes converted on the host (docs/edges.md)


def _int8_per_tensor(t: Tensor) -> bool:
    return t.dtype == "int8" and t.quant is not None and not t.quant.per_channel


def _edge_quant_ok(t: Tensor) -> bool:
    """A float32 edge needs no parameters; a uint8 edge needs per-tensor ones."""
    return t.dtype == "float32" or (t.quant is not None and not t.quant.per_channel)


def _input_edge(g: Graph, ops: list[Operator], t: int) -> Edge:
    """A model input: int8 as it is, or a float32/uint8 input whose only reader is a QUANTIZE to int8 (that
    QUANTIZE runs on the host, and the program starts at its int8 output)."""
    tensor = g.tensors[t]
    check_tensor(tensor, f"{g.name}: model input")
    first = [op for op in ops if t in op.inputs]
    if tensor.dtype in EDGE_DTYPES and len(first) == 1 and first[0].opcode == "QUANTIZE" and _edge_quant_ok(tensor):
        q = first[0]
        out = g.tensors[q.outputs[0]]
        if not _int8_per_tensor(out):
            raise ModelError(f"{g.name}: QUANTIZE at operator {q.index} makes {out.label} {out.dtype}; the "
                             "program takes per-tensor quantized int8 inputs")
        ops.remove(q)
        if tensor.dtype == "uint8":
            return Edge(q.outputs[0], "uint8", tensor.quant.s, tensor.quant.zp)
        return Edge(q.outputs[0], "float32", out.quant.s, out.quant.zp)
    if tensor.dtype == "int16" and first and tensor.quant is not None and not tensor.quant.per_channel:
        return Edge(t, "int16", tensor.quant.s, tensor.quant.zp)  # its readers' lowerings check they take int16
    if not _int8_per_tensor(tensor):
        raise ModelError(f"{g.name}: input {tensor.label} is {tensor.dtype}; inputs must be int8, float32, uint8 "
                         f"or int16 (per-tensor); {QUANTIZE_HINT}")
    return Edge(t, "int8", tensor.quant.s, tensor.quant.zp)


def _output_edge(g: Graph, ops: list[Operator], t: int) -> Edge:
    """A model output: int8 as it is, or float32 from a DEQUANTIZE / uint8 from a QUANTIZE of an int8 tensor
    (that last op runs on the host)."""
    tensor = g.tensors[t]
    prod = g.producer(t)
    edge = prod is not None and prod in ops and (
        (tensor.dtype == "float32" and prod.opcode == "DEQUANTIZE")
        or (tensor.dtype == "uint8" and prod.opcode == "QUANTIZE" and _edge_quant_ok(tensor)))
    if edge:
        src = g.tensors[prod.inputs[0]]
        if not _int8_per_tensor(src) or src.data is not None or prod.inputs[0] in g.inputs:
            raise ModelError(f"{g.name}: {prod.opcode} at operator {prod.index} reads {src.label} of "
                             f"{src.dtype}; only per-tensor quantized int8 activations can feed a model output")
        ops.remove(prod)
        if tensor.dtype == "uint8":
            return Edge(prod.inputs[0], "uint8", tensor.quant.s, tensor.quant.zp)
        return Edge(prod.inputs[0], "float32", src.quant.s, src.quant.zp)
    if tensor.dtype in WIDE_EDGES and prod is not None and tensor.quant is not None \
            and not tensor.quant.per_channel and (tensor.dtype == "int16" or prod.opcode in ("QUANTIZE", "SOFTMAX")):
        return Edge(t, tensor.dtype, tensor.quant.s, tensor.quant.zp)  # written by the program's own kernel
    if not _int8_per_tensor(tensor):
        raise ModelError(f"{g.name}: output {tensor.label} is {tensor.dtype}; outputs must be int8, float32, uint8 "
                         f"int16 or int32 from QUANTIZE/SOFTMAX; {QUANTIZE_HINT}")
    return Edge(t, "int8", tensor.quant.s, tensor.quant.zp)


def drop_flattening_reshapes(g: Graph, ops: list[Operator]) -> list[Operator]:
    """A RESHAPE whose only reader is a FULLY_CONNECTED's input goes: the FULLY_CONNECTED flattens its input to
    rows of its depth anyway, so it reads the RESHAPE's input (same bytes, same quantization) and the program
    saves the RESHAPE's dispatch and copy (KWS and VWW: the pooled features before the classifier)."""
    readers: dict[int, list[Operator]] = {}
    for op in ops:
        for t in op.inputs:
            readers.setdefault(t, []).append(op)
    dropped = []
    for op in ops:
        if op.opcode != "RESHAPE" or len(op.outputs) != 1:
            continue
        src, dst = op.inputs[0], op.outputs[0]
        users = readers.get(dst, [])
        if (dst in g.outputs or src in g.inputs or len(users) != 1 or users[0].opcode != "FULLY_CONNECTED"
                or users[0].inputs[0] != dst or users[0].inputs[1:].count(dst)):
            continue
        x, y, fc = g.tensors[src], g.tensors[dst], users[0]
        if x.data is not None or x.dtype != y.dtype or x.size != y.size or not same_per_tensor_quant(x.quant, y.quant):
            continue
        w = g.tensors[fc.inputs[1]]
        if len(x.shape) < 2 or len(w.shape) != 2 or x.shape[0] != y.shape[0] or math.prod(x.shape[1:]) % w.shape[1]:
            continue  # the batch rows must stay the same rows
        fc.inputs[0] = src
        readers.setdefault(src, []).append(fc)
        dropped.append(op)
    if dropped:
        g.operators = [op for op in g.operators if all(op is not d for d in dropped)]
    return [op for op in ops if all(op is not d for d in dropped)]


def prepare(g: Graph) -> Prepared:
    if not g.operators:
        raise ModelError(f"{g.name}: the model has no operators")
    if is_float_model(g):
        raise ModelError(f"{g.name}: this is a float32 model, not int8 quantized; {QUANTIZE_HINT}")
    check_operand_counts(g)
    lower_resource_variables(g)
    fold_constants(g)
    fold_float_islands(g)
    unstack_time_through_batch(g)
    pack_then_unpack(g)
    reshape_dropping_batch_before_broadcast(g)
    check_supported(g)
    for op in g.operators:
        check_structure(g, op)
    ops = list(g.operators)
    if not g.inputs or not g.outputs:
        raise ModelError(f"{g.name}: {len(g.inputs)} inputs and {len(g.outputs)} outputs; a model needs at least "
                         "one of each")
    if len(g.inputs) > MAX_IO or len(g.outputs) > MAX_IO:
        raise ModelError(f"{g.name}: {len(g.inputs)} inputs and {len(g.outputs)} outputs; cimsdk supports up to "
                         f"{MAX_IO} of each")
    inputs = [_input_edge(g, ops, t) for t in g.inputs]
    outputs = [_output_edge(g, ops, t) for t in g.outputs]
    ops = drop_flattening_reshapes(g, ops)
    program = [e.tensor for e in inputs]
    produced = [e.tensor for e in outputs]
    if len(set(produced)) != len(produced):
        raise ModelError(f"{g.name}: two model outputs are the same int8 tensor (one of them through a "
                         "DEQUANTIZE); drop one of them from the model's outputs")
    if len(set(program)) != len(program) or set(program) & set(produced):
        raise ModelError(f"{g.name}: a model input feeds another input or is itself an output; every input and "
                         "output must be a tensor of its own")
    for op in ops:
        if op.opcode == "DEQUANTIZE":
            raise ModelError(f"{g.name}: DEQUANTIZE at operator {op.index} inside the graph; only a DEQUANTIZE "
                             "feeding a model output runs (on the host)")
    return Prepared(g, ops, inputs, outputs)
