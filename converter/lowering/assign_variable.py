"""ASSIGN_VARIABLE lowering: the int8 value a streaming model writes into its state tensor.

converter/resource_vars.py has already turned the TFLite resource variable into a variable tensor (the
op's output) and the float write (DEQUANTIZE -> ASSIGN_VARIABLE) into this op from the int8 value, with a
256-entry int8 table (input 1) when the value's quantization is not the state's."""

from __future__ import annotations

from cimconv.image import STORE_CONST, Image, OpRec
from cimconv.image_check import _fail, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail, tensor


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    state = tensor(graph, op, 0, output=True)
    if not state.variable:
        raise fail(op, f"writes {state.label}, which is not a state tensor")
    if x.dtype != "int8" or state.dtype != "int8" or x.nbytes != state.nbytes:
        raise fail(op, f"writes {x.dtype} {list(x.shape)} into state {state.dtype} {list(state.shape)}; the value "
                       "must be int8 of the state's size")
    if len(op.inputs) > 1:
        table = tensor(graph, op, 1)
        if table.data is None or table.dtype != "int8" or table.shape != (256,):
            raise fail(op, f"table {table.label} is not a constant int8[256]")
    return {}


def check_record(img: Image, op: OpRec, at: str) -> None:
    ins, y = _recs(img, op, at, (1, 2))
    x = ins[0]
    if len(ins) == 2 and (ins[1].storage != STORE_CONST or ins[1].dtype != "int8" or ins[1].shape != (256,)):
        raise _fail(at, f"table of {ins[1].dtype} {list(ins[1].shape)}; it must be a constant int8[256]")
    if not y.state or x.dtype != "int8" or y.dtype != "int8" or x.nbytes != y.nbytes:
        raise _fail(at, f"writes {x.dtype} {list(x.shape)} into {'state' if y.state else 'non-state tensor'} "
                        f"{y.dtype} {list(y.shape)}; the value must be int8 of the state tensor's size")
