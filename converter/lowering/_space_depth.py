"""DEPTH_TO_SPACE and SPACE_TO_DEPTH: 4-D int8 byte moves between the spatial axes and the channels in
blocks of `block_size` x `block_size` (TFLM copies bytes; its converter gives input and output one scale)."""

from __future__ import annotations

from cimconv.image import Image, OpRec
from cimconv.image_check import _fail, _int8, _recs
from cimconv.ir import Graph, Operator
from cimconv.lowering._cpu_common import fail, int8, tensor


def moved_shape(shape: tuple[int, ...], block: int, to_space: bool) -> tuple[int, ...] | None:
    """The output shape of the move, or None when the input does not divide into blocks."""
    n, h, w, c = shape
    if to_space:
        return (n, h * block, w * block, c // (block * block)) if c % (block * block) == 0 else None
    return (n, h // block, w // block, c * block * block) if h % block == 0 and w % block == 0 else None


def lower_move(graph: Graph, op: Operator, to_space: bool) -> dict[str, int]:
    x, y = tensor(graph, op, 0), tensor(graph, op, 0, output=True)
    int8(op, x, y)
    block = int(op.options.get("block_size", 0))
    if len(x.shape) != 4 or block < 1:
        raise fail(op, f"input {list(x.shape)}, block size {block}: a 4-D input and a block size of at least 1")
    want = moved_shape(tuple(x.shape), block, to_space)
    if want is None or tuple(y.shape) != want:
        raise fail(op, f"input {list(x.shape)} with block size {block} does not give output {list(y.shape)}")
    return {"block_size": block}


def check_move(img: Image, op: OpRec, at: str, to_space: bool) -> None:
    (x,), y = _recs(img, op, at, (1, 1))
    _int8(at, x, y)
    block = op.params["block_size"]
    if len(x.shape) != 4 or block < 1 or moved_shape(tuple(x.shape), block, to_space) != tuple(y.shape):
        raise _fail(at, f"input {list(x.shape)} with block size {block} does not give output {list(y.shape)}")
