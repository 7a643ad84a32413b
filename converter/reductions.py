"""Place the program: which reductions run on the macro, then the placement spread over empty arrays.

A reduction on the macro (`cimconv.lowering._window_sum`: pools and means as depthwise CiM passes) saves
the CPU's window sums but needs array room, one block-diagonal column of K constant weights per channel,
and that room is no longer free for spreading the other layers over empty arrays (`cimconv.spread`). So
the converter places the program both ways and keeps the one the energy model prices better: the lower
energy-delay product (energy x latency per inference, `cimconv.energy.price` with the board's MCU), the
CPU form when the macro form does not fit. RTL coprocessor targets (`fpga-dcim-*`, a target file with an
`[rtl]` table) keep reductions on the CPU: the hardware's limits (window bytes, output channels per op)
are checked by the FPGA flow, not here.
"""

from __future__ import annotations

from cimconv import energy
from cimconv.errors import FitError
from cimconv.ir import Graph
from cimconv.lowering import Lowered
from cimconv.lowering._window_sum import on_macro
from cimconv.mapper import Mapping, place
from cimconv.spread import spread
from cimconv.target import Target


def number_matrices(lowered: list[Lowered]) -> None:
    """Matrix indexes of the CiM ops, in program order (the image's matrix table)."""
    mi = 0
    for low in lowered:
        if low.cim:
            low.params["matrix"] = mi
            mi += 1


def positions(graph: Graph, low: Lowered) -> int:
    """Matrix-vector products per inference of a CiM op."""
    if low.opcode == "FULLY_CONNECTED":
        return graph.tensors[low.inputs[0]].size // low.matrix.rows
    y = graph.tensors[low.outputs[0]]
    return int(y.shape[1] * y.shape[2])


def _place(lowered: list[Lowered], t: Target) -> Mapping:
    """Packed (`cimconv.mapper`), then each layer spread over the arrays left empty (`cimconv.spread`)."""
    number_matrices(lowered)
    return spread([low for low in lowered if low.cim], place(lowered, t), t)


def estimate(graph: Graph, lowered: list[Lowered], mapping: Mapping, t: Target, mcu: energy.Mcu
             ) -> energy.Estimate:
    """One inference of a placed program priced as the report prices it (a recurrent op's CPU MACs aside:
    the same in every form of a program)."""
    cycles = energy.invoke_cycles(mcu)
    counts = dict.fromkeys(energy.COUNT_KEYS, 0)
    cim_us = 0.0
    for low in lowered:
        x = graph.tensors[low.inputs[0]] if low.inputs else None
        y = graph.tensors[low.outputs[0]]
        cycles += energy.cpu_op_cycles(mcu, low.opcode, low.cim, x.size if x is not None else 0, y.size, y.nbytes)
        if low.cim:
            tiles, pos = mapping.tiles[low.params["matrix"]], positions(graph, low)
            for k, n in energy.cim_counts(low.matrix.kind, tiles, pos, t).items():
                counts[k] += n
            cim_us += energy.cim_cycles(low.matrix.kind, tiles, pos, t) / energy.macro_clock_hz(t) * 1e6
    return energy.price(cycles, counts, cim_us, mcu, t)


def place_program(graph: Graph, lowered: list[Lowered], t: Target, mcu: energy.Mcu, enabled: bool = True
                  ) -> tuple[list[Lowered], Mapping]:
    """The program (reductions on the macro when that prices better) and its placement; `enabled` False
    keeps every reduction on the CPU."""
    macro = [None if t.rtl or not enabled else on_macro(graph, low) for low in lowered]
    if not any(macro):
        return lowered, _place(lowered, t)
    with_macro = [part for m, low in zip(macro, lowered, strict=True) for part in (m or [low])]
    try:
        on = _place(with_macro, t)
    except FitError:
        return lowered, _place(lowered, t)
    try:
        off = _place(lowered, t)
    except FitError:  # cannot happen with fewer tiles; keep the form that placed
        return with_macro, _place(with_macro, t)
    e_on, e_off = estimate(graph, with_macro, on, t, mcu), estimate(graph, lowered, off, t, mcu)
    if e_on.total_uj * e_on.latency_us <= e_off.total_uj * e_off.latency_us:
        return with_macro, _place(with_macro, t)
    return lowered, _place(lowered, t)
