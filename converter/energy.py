"""Counts of macro operations, and the energy and latency they cost on a target (docs/energy-model.md).

One function turns a CiM op's tiles into counts; the converter's report, the emulated coprocessor and
the emulated power meter all use it, so their figures agree by construction of the same model.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from cimcontracts.counts import COUNT_KEYS  # noqa: F401  (the vocabulary lives in the contracts)
from cimconv.image import MATRIX_DEPTHWISE, TileRec
from cimconv.target import Target


def cim_counts(kind: int, tiles: list[TileRec], positions: int, t: Target) -> dict[str, int]:
    """Macro operations for `positions` matrix-vector products through all tiles of one matrix."""
    macs = adc = pulses = digital = 0
    for tile in tiles:
        rows = tile.k_len * (tile.n_len if kind == MATRIX_DEPTHWISE else 1)
        groups = t.row_groups(tile.k_len)
        planes = tile.n_len * t.cells_per_weight * t.sign_factor * t.input_cycles
        macs += tile.k_len * tile.n_len
        pulses += rows * t.input_cycles
        if t.adc_bits:
            adc += planes * groups
        digital += planes * (groups if t.adc_bits else 1) + tile.n_len
    return {
        "macs": macs * positions,
        "tile_ops": len(tiles) * positions,
        "adc_conversions": adc * positions,
        "input_bit_pulses": pulses * positions,
        "digital_ops": digital * positions,
    }


def cim_cycles(kind: int, tiles: list[TileRec], positions: int, t: Target) -> int:
    """Macro clock cycles: tiles on different arrays run in parallel, tiles sharing an array in turn."""
    per_array: dict[tuple[int, int], int] = {}
    for tile in tiles:
        groups = 1 if t.adc_bits == 0 else t.row_groups(tile.k_len)
        key = (tile.macro, tile.array)
        per_array[key] = per_array.get(key, 0) + t.input_cycles * groups
    return positions * max(per_array.values(), default=0)


def cim_energy_pj(counts: dict[str, int], t: Target) -> float:
    e = t.energy
    return (counts["macs"] * e.get("pj_per_mac", 0.0)
            + counts["adc_conversions"] * e.get("pj_per_adc_conversion", 0.0)
            + counts["input_bit_pulses"] * e.get("pj_per_input_bit", 0.0)
            + counts["digital_ops"] * e.get("pj_per_digital_op", 0.0))


_COSTS_FILE = Path(__file__).resolve().parent / "cpu_costs.toml"


@lru_cache(maxsize=1)
def cpu_costs() -> dict:
    """The firmware runtime's CPU cost model (converter/cpu_costs.toml)."""
    return tomllib.loads(_COSTS_FILE.read_text())


def cpu_op_cycles(opcode: str, cim: bool, input_elements: int, output_elements: int, nbytes: int) -> int:
    """CPU cycles of one program op on the MCU: dispatch, plus the kernel for a CPU op, or the
    descriptor set-up for a CiM op (the macro's own time is `cim_cycles`)."""
    c = cpu_costs()
    cycles = c["overhead"]["per_op"]
    if cim:
        return int(cycles + c["overhead"]["per_cim_op"])
    op = c["ops"].get(opcode, {"basis": "output_elements", "per_unit": 8})
    units = {"input_elements": input_elements, "output_elements": output_elements, "bytes": nbytes}[op["basis"]]
    return int(round(cycles + op.get("fixed", 0) + op["per_unit"] * units))


def invoke_cycles() -> int:
    return int(cpu_costs()["overhead"]["per_invoke"])


def cpu_energy_pj(cycles: int, t: Target) -> float:
    return cycles * t.energy.get("pj_per_cpu_cycle", 20.0)


def leakage_pj(latency_us: float, t: Target) -> float:
    return t.energy.get("leakage_uw", 0.0) * latency_us  # uW x us = pJ
