"""Activation memory planner: one arena, buffers reused once their tensor is dead (first fit).

A convolution whose input dies at it may write its output over that input, starting a computed number
of bytes below it and walking its pixels forward, or above it and walking them backward
(`cimconv.inplace`: the input's consumed rows are reused as the output grows). The planner places the
tensors in a few orders (largest first, program order, reverse program order, seeded shuffles), with and
without those overlaps allowed, and keeps the smallest arena; `Plan.in_place` says which ops ended up
writing over their input, in which direction and how far from it.

State tensors (TFLite variable tensors, SVDF's activation state) live across invocations: they are live
for the whole program and never share bytes with another tensor.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cimconv.errors import FitError, ModelError
from cimconv.image import MAX_ARENA_SIZE
from cimconv.inplace import Shifts, in_place_shifts
from cimconv.ir import Graph
from cimconv.lowering import Lowered

ALIGN = 4
SHUFFLES, SHUFFLE_SEED = 64, 0  # placement orders tried besides the three ordered ones (first fit is order-bound)
SHUFFLE_MAX_BUFFERS = 150  # first fit is quadratic in the buffers: larger programs get the three orders only
STATE_WRITER = "ASSIGN_VARIABLE"  # the one op that writes a state tensor as its output (once per invocation)


@dataclass
class Plan:
    offsets: dict[int, int]  # tensor -> arena offset
    arena_size: int
    lifetimes: dict[int, tuple[int, int]]
    # program op -> its output's offset minus its input's: negative walks forward, positive backward
    in_place: dict[int, int] = field(default_factory=dict)
    step_bytes: list[int] = field(default_factory=list)  # per program op: arena bytes its live buffers cover


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


def in_place_pairs(graph: Graph, ops: list[Lowered], spans: dict[int, tuple[int, int]],
                   root: Callable[[int], int], backward: bool) -> dict[tuple[int, int], Shifts]:
    """(input buffer, output buffer) -> distances of the ops that may write their output over their input: the
    input's last reader is that op, and neither buffer is a state tensor."""
    pairs: dict[tuple[int, int], Shifts] = {}
    for i, op in enumerate(ops):
        shift = in_place_shifts(graph, op, backward)
        if shift is None:
            continue
        x, y = root(op.inputs[0]), root(op.outputs[0])
        if x == y or x not in spans or y not in spans or spans[x][1] != i or spans[y][0] != i:
            continue
        if graph.tensors[x].variable or graph.tensors[y].variable:
            continue
        pairs[(x, y)] = Shifts(_align(shift.down), None if shift.up is None else _align(shift.up))
    return pairs


def _orders(spans: dict[int, tuple[int, int]], sizes: dict[int, int]) -> list[list[int]]:
    by_size = sorted(spans, key=lambda t: (-sizes[t], spans[t][0]))
    by_time = sorted(spans, key=lambda t: (spans[t][0], -sizes[t]))
    by_end = sorted(spans, key=lambda t: (-spans[t][1], -sizes[t]))
    rng = random.Random(SHUFFLE_SEED)  # seeded: the same model always gets the same plan
    shuffles = []
    for _ in range(SHUFFLES if len(spans) <= SHUFFLE_MAX_BUFFERS else 0):
        order = list(by_size)
        rng.shuffle(order)
        shuffles.append(order)
    return [by_size, by_time, by_end, *shuffles]


def _place(order: list[int], spans: dict[int, tuple[int, int]], sizes: dict[int, int],
           shifts: dict[tuple[int, int], Shifts]) -> dict[int, int]:
    """First fit in `order`: the lowest offset outside every forbidden interval. A buffer live at the same
    time as a placed one may not overlap it, except an in-place output, which may start `down` or more
    bytes below its input's start, or `up` or more above it."""
    offsets: dict[int, int] = {}
    for t in order:
        size = sizes[t]
        lo_t, hi_t = spans[t]
        banned: list[tuple[int, int]] = []  # offsets o with lo < o < hi are taken
        for u, off in offsets.items():
            lo_u, hi_u = spans[u]
            if hi_t < lo_u or hi_u < lo_t:
                continue
            if (u, t) in shifts:  # t is written over its input u
                sh = shifts[(u, t)]
                up = sizes[u] if sh.up is None else min(sh.up, sizes[u])
                banned.append((off - min(sh.down, size), off + up))
            elif (t, u) in shifts:  # t is the input that u is written over
                sh = shifts[(t, u)]
                up = size if sh.up is None else min(sh.up, size)
                banned.append((off - up, off + min(sh.down, sizes[u])))
            else:
                banned.append((off - size, off + sizes[u]))
        for cand in sorted({0, *(_align(hi) for _, hi in banned)}):
            if cand >= 0 and all(cand <= lo or cand >= hi for lo, hi in banned):
                offsets[t] = cand
                break
    return offsets


def plan(graph: Graph, ops: list[Lowered], input_tensor: int | Sequence[int],
         output_tensor: int | Sequence[int], in_place: bool = True, backward: bool = True) -> Plan:
    """Arena offsets; the model inputs live from the start, the outputs to the end (several of each allowed).
    in_place: let convolutions write over their dying input where that lowers the arena. backward: the
    target's executors can walk a convolution's pixels last to first (not the RTL coprocessor)."""
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
    sizes = {t: _align(graph.tensors[t].nbytes) for t in spans}
    shifts = in_place_pairs(graph, ops, spans, root, backward) if in_place else {}
    best: tuple[int, dict[int, int], dict[tuple[int, int], Shifts]] = (-1, {}, {})
    for allowed in ({}, shifts) if shifts else ({},):  # the first, smallest kept: no overlap unless it helps
        for order in _orders(spans, sizes):
            offsets = _place(order, spans, sizes, allowed)
            size = max((offsets[t] + sizes[t] for t in order), default=0)
            if best[0] < 0 or size < best[0]:
                best = (size, offsets, allowed)
    arena, offsets, shifts = best
    arena = max(arena, 0)
    overlapped = {(x, y) for x, y in shifts
                  if offsets[y] < offsets[x] + sizes[x] and offsets[x] < offsets[y] + sizes[y]}
    in_place_ops = {i: offsets[root(op.outputs[0])] - offsets[root(op.inputs[0])] for i, op in enumerate(ops)
                    if op.inputs and op.outputs and (root(op.inputs[0]), root(op.outputs[0])) in overlapped}
    for t in alias:
        offsets[t] = offsets[root(t)]
    if arena > MAX_ARENA_SIZE:
        raise FitError(f"{graph.name}: activations need a {arena:,}-byte arena, more than the "
                       f"{MAX_ARENA_SIZE:,} bytes a weight image may ask for; use a smaller model")
    return Plan(offsets, arena, spans, in_place_ops, _step_bytes(len(ops), spans, sizes, offsets))


def _step_bytes(n_ops: int, spans: dict[int, tuple[int, int]], sizes: dict[int, int],
                offsets: dict[int, int]) -> list[int]:
    """Per program step, the bytes of the union of the buffers live then (where the arena's peak is)."""
    out = []
    for i in range(n_ops):
        ranges = sorted((offsets[t], offsets[t] + sizes[t]) for t, (lo, hi) in spans.items() if lo <= i <= hi)
        total, end = 0, 0
        for a, b in ranges:
            a = max(a, end)
            if b > a:
                total += b - a
                end = b
        out.append(total)
    return out
