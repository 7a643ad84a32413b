"""TFLite resource variables as state tensors: a streaming model's state written the way TensorFlow exports it.

A stateful model exported with `experimental_enable_resource_variables` keeps its state in a resource
variable: VAR_HANDLE names it, READ_VARIABLE reads it, ASSIGN_VARIABLE writes it, and a CALL_ONCE runs an
initialisation subgraph that assigns its first value. TensorFlow's int8 quantization leaves the variable
float: the graph reads it through READ_VARIABLE -> QUANTIZE and writes it through DEQUANTIZE -> ASSIGN_VARIABLE.
The variable only ever holds values dequantized from int8, so it is an int8 tensor in disguise: kept with
the reader's scale and zero point, and written through a 256-entry table of TFLM's float round trip when
the writer's quantization differs (with the same quantization the round trip is exact and needs none).

This pass turns each variable into a TFLite variable tensor (kept in the arena between invocations, like
SVDF's and the LSTM's state): the QUANTIZE's int8 output becomes the state tensor that every reader reads,
and the write becomes an ASSIGN_VARIABLE op from the int8 value (through the table, if any) into the state
tensor, last in the program
(TFLM runs the graph in order, so reads before the write see the previous frame's value). Initial values
must be zero (the state then starts at its zero point, which is where TFLM's reset puts it too).
"""

from __future__ import annotations

import numpy as np

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator, Tensor, same_per_tensor_quant

RESOURCE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")


def _consumers(g: Graph, t: int) -> list[Operator]:
    return [op for op in g.operators if t in op.inputs]


MOVES = ("STRIDED_SLICE", "SLICE", "RESHAPE")  # data movement a float read may go through before its QUANTIZE


def _quantized_use(g: Graph, name: str, user: Operator) -> tuple[Operator | None, Operator]:
    """(data movement op or None, the QUANTIZE) of one reader of the float variable."""
    if user.opcode == "QUANTIZE":
        return None, user
    nxt = _consumers(g, user.outputs[0]) if user.opcode in MOVES and len(user.outputs) == 1 else []
    if len(nxt) == 1 and nxt[0].opcode == "QUANTIZE" and user.outputs[0] not in g.outputs:
        return user, nxt[0]
    raise ModelError(f"{g.name}: resource variable '{name}' is read as float32 into {user.opcode} at operator "
                     f"{user.index}; cimsdk runs variables read as int8, or as float32 into QUANTIZE (through "
                     f"{', '.join(MOVES)} at most)")


def _int8_state(g: Graph, name: str, reads: list[Operator]) -> tuple[Tensor, list[Operator]]:
    """The int8 state tensor every reader reads instead of the variable, and the ops that go (READ_VARIABLE,
    QUANTIZE). A float read is exact to move after the quantization: the variable only ever holds values
    dequantized from int8 with the same scale and zero point (checked on the write side)."""
    gone: list[Operator] = list(reads)
    direct: list[Tensor] = []  # int8 tensors that are the whole state (reads as int8, or READ -> QUANTIZE)
    moved: list[tuple[Operator, Tensor]] = []  # (STRIDED_SLICE..., its int8 output) that read the state
    for rd in reads:
        v = g.tensors[rd.outputs[0]]
        if v.dtype == "int8":
            direct.append(v)
            continue
        users = _consumers(g, v.index)
        if v.dtype != "float32" or not users or v.index in g.outputs:
            raise ModelError(f"{g.name}: resource variable '{name}' is read as {v.dtype}; cimsdk runs variables "
                             "read as int8, or as float32 that is quantized to int8")
        for u in users:
            move, q = _quantized_use(g, name, u)
            gone.append(q)
            (moved.append((move, g.tensors[q.outputs[0]])) if move else direct.append(g.tensors[q.outputs[0]]))
    quants = direct + [t for _, t in moved]
    for q in quants:
        if q.dtype != "int8" or q.quant is None or q.quant.per_channel:
            raise ModelError(f"{g.name}: resource variable '{name}' is used as {q.label} of {q.dtype}; the state "
                             "must be per-tensor quantized int8")
        if not same_per_tensor_quant(quants[0].quant, q.quant):
            raise ModelError(f"{g.name}: resource variable '{name}' is read with two quantizations "
                             f"({quants[0].label} and {q.label}); re-export with one")
    var_shape = g.tensors[reads[0].outputs[0]].shape
    if direct:
        state = direct[0]
    else:
        state = Tensor(len(g.tensors), f"{name} (state)", var_shape, "int8", quants[0].quant)
        g.tensors.append(state)
    aliases = {t.index for t in direct[1:]}
    for op in g.operators:  # every reader reads the one state tensor
        op.inputs = [state.index if t in aliases else t for t in op.inputs]
    for move, out in moved:  # the move now reads the int8 state and writes what its QUANTIZE wrote
        move.inputs = [state.index, *move.inputs[1:]]
        move.outputs = [out.index]
    return state, gone


def _float_round_trip(src: Tensor, state: Tensor) -> np.ndarray:
    """The int8 state TFLM's float variable ends up as, for each int8 value written: DEQUANTIZE (the scale
    as double times the offset value, cast to float32), then the reader's QUANTIZE (that float divided by
    the scale as double, rounded half away from zero, plus the zero point, clamped)."""
    q = np.arange(-128, 128, dtype=np.int64)
    f = (np.float64(np.float32(src.quant.s)) * (q - src.quant.zp)).astype(np.float32).astype(np.float64)
    r = f / np.float64(np.float32(state.quant.s))
    rounded = np.sign(r) * np.floor(np.abs(r) + 0.5)
    return np.clip(rounded + state.quant.zp, -128, 127).astype(np.int8)


def _assigned_value(g: Graph, name: str, state: Tensor, assign: Operator) -> tuple[list[int], list[Operator]]:
    """ASSIGN_VARIABLE's new inputs (the int8 value, and a 256-entry table when the value is quantized
    otherwise than the state is read), and the DEQUANTIZE that goes."""
    v = g.tensors[assign.inputs[1]]
    if v.dtype == "int8":
        src, gone = v, []
    else:
        prod = g.producer(v.index)
        if prod is None or prod.opcode != "DEQUANTIZE" or v.dtype != "float32":
            raise ModelError(f"{g.name}: resource variable '{name}' is assigned {v.label} of {v.dtype} from "
                             f"{prod.opcode if prod else 'no op'}; cimsdk runs variables assigned int8, or float32 "
                             "from a DEQUANTIZE")
        src = g.tensors[prod.inputs[0]]
        others = [op for op in _consumers(g, v.index) if op is not assign]
        gone = [] if others or v.index in g.outputs else [prod]
    if src.data is not None or src.size != state.size or src.dtype != "int8" or src.quant is None \
            or src.quant.per_channel:
        raise ModelError(f"{g.name}: resource variable '{name}' is assigned {src.label} ({src.dtype}, shape "
                         f"{list(src.shape)}) but read as {state.label} (shape {list(state.shape)}); cimsdk needs "
                         "per-tensor int8 values of the variable's size")
    if same_per_tensor_quant(src.quant, state.quant) or v.dtype == "int8":
        return [src.index], gone  # the float round trip is exact: the value is the state
    table = Tensor(len(g.tensors), f"{name} (write table)", (256,), "int8", None, _float_round_trip(src, state))
    g.tensors.append(table)
    return [src.index, table.index], gone


def _check_initial(g: Graph, name: str, state: Tensor) -> None:
    init = g.variable_inits.get(name)
    if init is None:
        return  # no initialiser: TFLM starts the buffer at zero
    if not isinstance(init, np.ndarray) or init.size not in (1, state.size) or np.any(init != 0):
        raise ModelError(f"{g.name}: resource variable '{name}' starts at a value other than zero; cimsdk starts "
                         "state at zero (re-export with a zero initial state)")


def lower_resource_variables(g: Graph) -> None:
    """Rewrite every resource variable of `g` into a variable tensor and an ASSIGN_VARIABLE op, in place."""
    handles = [op for op in g.operators if op.opcode == "VAR_HANDLE"]
    if not handles and not any(op.opcode in RESOURCE_OPS for op in g.operators):
        return
    gone: list[Operator] = [op for op in g.operators if op.opcode in ("VAR_HANDLE", "CALL_ONCE")]
    assigns_out: list[Operator] = []
    for h in handles:
        res = h.outputs[0]
        name = h.options.get("shared_name") or f"variable {res}"
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        users = _consumers(g, res)
        reads = [op for op in users if op.opcode == "READ_VARIABLE"]
        assigns = [op for op in users if op.opcode == "ASSIGN_VARIABLE" and op.inputs[0] == res]
        if len(reads) + len(assigns) != len(users) or len(assigns) != 1 or not reads:
            raise ModelError(f"{g.name}: resource variable '{name}' has {len(reads)} reads and {len(assigns)} "
                             "writes; cimsdk runs variables read before one write per invocation")
        assign = assigns[0]
        if any(g.operators.index(rd) > g.operators.index(assign) for rd in reads):
            raise ModelError(f"{g.name}: resource variable '{name}' is read after it is written in the same "
                             "invocation; cimsdk runs variables read before one write per invocation")
        state, read_ops = _int8_state(g, name, reads)
        _check_initial(g, name, state)
        ins, deq = _assigned_value(g, name, state, assign)
        state.variable = True
        assign.inputs, assign.outputs, assign.options, assign.options_type = ins, [state.index], {}, ""
        gone += read_ops + deq
        assigns_out.append(assign)
    stray = [op for op in g.operators if op.opcode in ("READ_VARIABLE", "ASSIGN_VARIABLE") and op not in gone
             and op not in assigns_out]
    if stray:
        raise ModelError(f"{g.name}: {stray[0].opcode} at operator {stray[0].index} uses a resource no VAR_HANDLE "
                         "of the main graph makes; cimsdk runs variables the model creates itself")
    keep = [op for op in g.operators if op not in gone and op not in assigns_out]
    g.operators = keep + assigns_out  # each write last: every read of the invocation sees the previous value
