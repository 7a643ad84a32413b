"""Place the program: which reductions run on the macro, then the placement spread over empty arrays.

Which reductions run on the macro: place the model with its pools and means as depthwise CiM passes
(`cimconv.lowering._window_sum`), and keep them on the CPU where that costs the rest of the model.

A reduction on the macro needs array room: one block-diagonal column of K constant weights per channel.
The converter takes the macro form when the model still places as well as without it (it fits, and the
depthwise layers keep blocks as wide as without the extra tiles); else every reduction stays on the CPU.
RTL coprocessor targets (`fpga-dcim-*`, a target file with an `[rtl]` table) keep them on the CPU: the
hardware's limits (window bytes, output channels per op) are checked by the FPGA flow, not here.
"""

from __future__ import annotations

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


def _place(lowered: list[Lowered], t: Target) -> Mapping:
    number_matrices(lowered)
    return place(lowered, t)


def _place_spread(lowered: list[Lowered], t: Target) -> Mapping:
    """The final placement: packed, then each layer spread over the arrays left empty (`cimconv.spread`)."""
    return spread([low for low in lowered if low.cim], _place(lowered, t), t)


def place_program(graph: Graph, lowered: list[Lowered], t: Target, enabled: bool = True
                  ) -> tuple[list[Lowered], Mapping]:
    """The program (reductions on the macro where they fit without cost to the rest) and its placement;
    `enabled` False keeps every reduction on the CPU."""
    macro = [None if t.rtl or not enabled else on_macro(graph, low) for low in lowered]
    if not any(macro):
        return lowered, _place_spread(lowered, t)
    with_macro = [part for m, low in zip(macro, lowered, strict=True) for part in (m or [low])]
    try:
        mapping = _place(with_macro, t)
    except FitError:
        return lowered, _place_spread(lowered, t)
    try:
        base = _place(lowered, t)
    except FitError:  # cannot happen with fewer tiles; keep the form that placed
        return with_macro, _place_spread(with_macro, t)
    if mapping.depthwise_block < base.depthwise_block:
        return lowered, _place_spread(lowered, t)
    return with_macro, _place_spread(with_macro, t)
