"""Activation memory planner: one arena, buffers reused once their tensor is dead (greedy by size).

State tensors (TFLite variable tensors, SVDF's activation state) live across invocations: they are live
for the whole program and never share bytes with another tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cimconv.errors import FitError, ModelError
from cimconv.image import MAX_ARENA_SIZE
from cimconv.ir import Graph
from cimconv.lowering import Lowered

ALIGN = 4
STATE_WRITER = "ASSIGN_VARIABLE"  # the one op that writes a state tensor as its output (once per invocation)


@dataclass
class Plan:
    offsets: dict[int, int]  # tensor -> arena offset
    arena_size: int
    lifetimes: dict[int, tuple[int, int]]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _tensors(t: int | Sequence[int]) -> list[int]:
    return [t] if isinstance(t, int) else list(t)


def check_dataflow(graph: Graph, ops: list[Lowered], input_tensor: int | Sequence[int],
                   output_tensor: int | Sequence[int]) -> None:
    """Every op reads constants or tensors already written, and writes a new tensor; every output gets written."""
    ready = set(_tensors(input_tensor)) | state_tensors(graph, ops)
    written: set[int] = set()
    for op in ops:
        where = f"{graph.name}: {op.opcode} at operator {op.source_index}"
        for t in op.inputs:
            if graph.tensors[t].data is None and t not in ready:
                raise ModelError(f"{where} reads {graph.tensors[t].label}, which no earlier operator writes "
                                 "(operators out of order or a broken graph)")
        for t in op.outputs:
            if op.opcode == STATE_WRITER and graph.tensors[t].variable and t not in written:
                written.add(t)  # the state's new value, written once (converter/resource_vars.py)
                continue
            if graph.tensors[t].data is not None or t in ready or graph.tensors[t].variable:
                kind = "a constant" if graph.tensors[t].data is not None else "already written"
                raise ModelError(f"{where} writes {graph.tensors[t].label}, which is {kind}")
            ready.add(t)
    for t in _tensors(output_tensor):
        if t not in ready:
            raise ModelError(f"{graph.name}: no supported operator writes the model output {graph.tensors[t].label}")


def state_tensors(graph: Graph, ops: list[Lowered]) -> set[int]:
    """The variable tensors the program reads: state kept in the arena between invocations."""
    return {t for op in ops for t in op.inputs if graph.tensors[t].variable and graph.tensors[t].data is None}


def plan(graph: Graph, ops: list[Lowered], input_tensor: int | Sequence[int],
         output_tensor: int | Sequence[int]) -> Plan:
    """Arena offsets; the model inputs live from the start, the outputs to the end (several of each allowed)."""
    check_dataflow(graph, ops, input_tensor, output_tensor)
    inputs, outputs = _tensors(input_tensor), _tensors(output_tensor)
    # Lifetimes in program steps: produced at step i, last read at step j (inclusive).
    first: dict[int, int] = dict.fromkeys(inputs, -1)
    last: dict[int, int] = {}
    for t in state_tensors(graph, ops):
        first[t], last[t] = -1, len(ops)
    alias: dict[int, int] = {}  # RESHAPE output -> its input buffer (same bytes, same place)
    for i, op in enumerate(ops):
        for t in op.inputs:
            if graph.tensors[t].data is None and not graph.tensors[t].variable:
                last[t] = i
        for t in op.outputs:
            first.setdefault(t, i)
            last.setdefault(t, i)
    for t in outputs:
        last[t] = len(ops)
    for i, op in enumerate(ops):
        src = op.inputs[0] if op.inputs else -1
        if op.opcode == "RESHAPE" and src >= 0 and last.get(src) == i and src not in inputs:
            alias[op.outputs[0]] = src

    def root(t: int) -> int:
        while t in alias:
            t = alias[t]
        return t

    spans: dict[int, tuple[int, int]] = {}
    for t in first:
        r = root(t)
        lo, hi = spans.get(r, (first[t], last.get(t, first[t])))
        spans[r] = (min(lo, first[t]), max(hi, last.get(t, first[t])))
    order = sorted(spans, key=lambda t: (-graph.tensors[t].nbytes, spans[t][0]))
    placed: list[tuple[int, int, int, int, int]] = []  # (offset, size, lo, hi, tensor)
    offsets: dict[int, int] = {}
    for t in order:
        size = _align(graph.tensors[t].nbytes)
        lo, hi = spans[t]
        clashes = sorted((o, s) for o, s, a, b, _ in placed if not (hi < a or b < lo))
        off = 0
        for o, s in clashes:
            if off + size <= o:
                break
            off = max(off, _align(o + s))
        offsets[t] = off
        placed.append((off, size, lo, hi, t))
    for t in alias:
        offsets[t] = offsets[root(t)]
    arena = max((o + s for o, s, *_ in placed), default=0)
    if arena > MAX_ARENA_SIZE:
        raise FitError(f"{graph.name}: activations need a {arena:,}-byte arena, more than the "
                       f"{MAX_ARENA_SIZE:,} bytes a weight image may ask for; use a smaller model")
    return Plan(offsets, arena, spans)
