"""TRANSPOSE lowering: the constant permutation, extended to 4-D as TFLM extends shapes (leading axes stay).

TFLM's TRANSPOSE (int8, and int16 in the 16x8 mode) moves elements without requantizing, so no scale is kept. Dim 0 is the batch the host
model runs over: it must stay in place.
"""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8_or_int16, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import const_ints, fail, int8_or_int16, tensor

PARAM_INPUTS: tuple[int, ...] = (1,)


def lower(graph: Graph, op: Operator) -> dict[str, int]:
    x = tensor(graph, op, 0)
    y = tensor(graph, op, 0, output=True)
    int8_or_int16(op, x, y)
    rank = len(x.shape)
    if not 1 <= rank <= 4:
        raise fail(op, f"input {list(x.shape)}: only 1-D to 4-D tensors are supported")
    perm = [int(p) for p in const_ints(graph, op, 1, "permutation")]
    perm = [p + rank if p < 0 else p for p in perm]
    if sorted(perm) != list(range(rank)):
        raise fail(op, f"permutation {perm} is not a permutation of the input's {rank} dimensions")
    if perm[0] != 0:
        raise fail(op, f"permutation {perm} moves dimension 0 (the batch dimension); that is not supported")
    if tuple(y.shape) != tuple(x.shape[p] for p in perm):
        raise fail(op, f"output {list(y.shape)} is not input {list(x.shape)} permuted by {perm}")
    lead = 4 - rank
    full = list(range(lead)) + [p + lead for p in perm]
    return {f"perm{i}": full[i] for i in range(4)}


def check_record(img: Image, op: OpRec, at: str) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    _int8_or_int16(at, x, y)
    lead = 4 - len(x.shape)
    perm = [op.params[f"perm{i}"] for i in range(4)]
    if len(y.shape) != len(x.shape) or perm[: lead + 1] != list(range(lead + 1)) or sorted(perm) != [0, 1, 2, 3]:
        raise _fail(at, f"permutation {perm} of a {len(x.shape)}-D tensor")
    dims = (1,) * lead + tuple(x.shape)
    if (1,) * lead + tuple(y.shape) != tuple(dims[p] for p in perm):
        raise _fail(at, f"output {list(y.shape)} is not input {list(x.shape)} permuted by {perm}")
