"""Hybrid digital/analog targets: a weight's top `digital_bits` are computed digitally (exact), the rest on
analog cells. `AnalogCimModel` keeps the digital slices free of programming, read and ADC error; this module
prices a split (macro energy per inference) so `simulate` can show accuracy and energy against it.

Pricing (docs/targets.md, "Hybrid targets"): a MAC costs `pj_per_analog_mac` x (analog bits / weight bits)
plus `pj_per_digital_bit_mac` x digital bits; the periphery terms of the energy model (ADC conversions, input
pulses, shift-adds) are paid by the analog part only, in proportion to its bits.
"""

from __future__ import annotations

import numpy as np

from cimconv import energy
from cimconv.image import Image
from cimconv.target import Target


def is_hybrid(t: Target) -> bool:
    return "pj_per_digital_bit_mac" in t.energy


def weight_bits(t: Target) -> int:
    return t.bits_per_cell * t.cells_per_weight


def splits(t: Target) -> list[int]:
    """The split points a target allows: whole cell slices, from all analog to all digital."""
    return list(range(0, weight_bits(t) + 1, t.bits_per_cell))


def mac_pj(t: Target) -> float:
    """Energy of one MAC at the target's split."""
    e = t.energy
    analog = (weight_bits(t) - t.digital_bits) / weight_bits(t)
    return e.get("pj_per_analog_mac", e.get("pj_per_mac", 0.0)) * analog + e["pj_per_digital_bit_mac"] * t.digital_bits


def macro_energy_uj(image: Image, t: Target) -> float:
    """Macro energy of one inference at the target's split (the same counts as the converter's report)."""
    e = t.energy
    analog = (weight_bits(t) - t.digital_bits) / weight_bits(t)
    total = 0.0
    for op in image.ops:
        if not op.cim:
            continue
        m = image.matrices[op.params["matrix"]]
        out = image.tensors[op.outputs[0]]
        pos = (int(np.prod(image.tensors[op.inputs[0]].shape)) // m.rows if op.opcode == "FULLY_CONNECTED"
               else out.shape[1] * out.shape[2])
        c = energy.cim_counts(m.kind, m.tiles, pos, t, energy.input_bits(image.tensors[op.inputs[0]].dtype))
        total += c["macs"] * mac_pj(t) + analog * (c["adc_conversions"] * e.get("pj_per_adc_conversion", 0.0)
                                                   + c["input_bit_pulses"] * e.get("pj_per_input_bit", 0.0)
                                                   + c["digital_ops"] * e.get("pj_per_digital_op", 0.0))
    return total / 1e6
