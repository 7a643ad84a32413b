"""The one energy model (docs/energy-model.md): macro counts, CPU cycles, and the price of both.

Boards carry the MCU (clock, cycles per op of the firmware runtime, pJ per cycle:
`cimcontracts.boards.Mcu`), targets carry the macro (counts per tile, macro clock, pJ per counted
operation). Everything that prices an inference goes through `price`: the converter's report
(modelled CPU cycles), the demo's and the profiler's estimate from the device's counters (measured
CPU cycles, the coprocessor's counts) and the emulated meter (`cimsdk.power.energy_model`, which
spreads the same `dynamic_pj` over time). So the three figures a report shows differ only in their
inputs, and the report can say which input moved.

    t       = cpu_cycles / clock_hz + cim_latency                       (us)
    E_cpu   = cpu_cycles x pj_per_cycle                                 (board)
    E_cim   = sum_k counts[k] x pj_per_<k>                              (target, k in COUNT_KEYS)
    E_static= (idle_mw + leakage_uw / 1000) x t                         (board idle + macro leakage)
    E       = E_cpu + E_cim + E_static
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cimcontracts.boards import DEFAULT_BOARD, Mcu, board_mcu
from cimcontracts.counts import COUNT_KEYS, ENERGY_KEYS
from cimcontracts.errors import UserError
from cimconv.image import MATRIX_DEPTHWISE, TileRec
from cimconv.target import Target

__all__ = ["COUNT_KEYS", "DEFAULT_BOARD", "Estimate", "Mcu", "board_mcu", "cim_counts", "cim_cycles",
           "cim_energy_pj", "cpu_op_cycles", "input_bits", "invoke_cycles", "price"]


def input_bits(dtype: str) -> int:
    """Width of a CiM op's activations: 16 for TFLM's 16x8 mode (int16 input tensor), else 8."""
    return 16 if dtype == "int16" else 8


def cim_counts(kind: int, tiles: list[TileRec], positions: int, t: Target, in_bits: int = 8) -> dict[str, int]:
    """Macro operations for `positions` matrix-vector products through all tiles of one matrix, with
    `in_bits`-wide inputs (bit-serial: every input bit plane is one more pulse, conversion and shift-add)."""
    cycles = t.input_cycles_for(in_bits)
    macs = adc = pulses = digital = 0
    for tile in tiles:
        rows = tile.k_len * (tile.n_len if kind == MATRIX_DEPTHWISE else 1)
        groups = t.row_groups(tile.k_len)
        planes = tile.n_len * t.cells_per_weight * t.sign_factor * cycles
        macs += tile.k_len * tile.n_len
        pulses += rows * cycles
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


def cim_cycles(kind: int, tiles: list[TileRec], positions: int, t: Target, in_bits: int = 8) -> int:
    """Macro clock cycles: tiles on different arrays run in parallel, tiles sharing an array in turn;
    `in_bits`-wide inputs take `t.input_cycles_for(in_bits)` input cycles per product."""
    cycles = t.input_cycles_for(in_bits)
    per_array: dict[tuple[int, int], int] = {}
    for tile in tiles:
        groups = 1 if t.adc_bits == 0 else t.row_groups(tile.k_len)
        key = (tile.macro, tile.array)
        per_array[key] = per_array.get(key, 0) + cycles * groups
    return positions * max(per_array.values(), default=0)


def macro_clock_hz(t: Target) -> float:
    """The macro's clock (target `[timing] clock_mhz`): turns `cim_cycles` into time."""
    return float(t.timing.get("clock_mhz", 100.0)) * 1e6


def cim_energy_pj(counts: dict[str, int], t: Target | dict) -> float:
    """sum_k counts[k] x pj_per_<k> over the count-key vocabulary; `t` is a target or its [energy] table.

    A key outside the vocabulary is an error (one vocabulary); a vocabulary key whose price the table
    leaves out costs 0 (a target that folds that term into pj_per_mac)."""
    table = t.energy if isinstance(t, Target) else t
    total = 0.0
    for key, n in counts.items():
        if key not in ENERGY_KEYS:
            raise UserError(f"macro operation {key!r} is not a count key ({', '.join(COUNT_KEYS)}); "
                            "see docs/energy-model.md")
        price_key = ENERGY_KEYS[key]
        if price_key is not None and n:
            total += n * float(table.get(price_key, 0.0))
    return total


def cpu_op_cycles(mcu: Mcu, opcode: str, cim: bool, input_elements: int, output_elements: int,
                  nbytes: int, macs: int = 0) -> int:
    """CPU cycles of one program op on the board's MCU: dispatch, plus the kernel for a CPU op, or the
    descriptor set-up for a CiM op (the macro's own time is `cim_cycles`). Board `cycle_costs`."""
    c = mcu.cycle_costs
    cycles = c["overhead"]["per_op"]
    if cim:
        return int(cycles + c["overhead"]["per_cim_op"])
    op = c["ops"].get(opcode, {"basis": "output_elements", "per_unit": 8})
    units = {"input_elements": input_elements, "output_elements": output_elements, "bytes": nbytes,
             "macs": macs}[op["basis"]]
    return int(round(cycles + op.get("fixed", 0) + op["per_unit"] * units))


def invoke_cycles(mcu: Mcu) -> int:
    """CPU cycles of entering and leaving one inference (markers, program start)."""
    return int(mcu.cycle_costs["overhead"]["per_invoke"])


def static_uw(mcu: Mcu, t: Target | dict | None) -> float:
    """Power drawn whatever the board does: the MCU's idle power plus the macro's leakage (uW)."""
    table = (t.energy if isinstance(t, Target) else t) or {}
    return mcu.idle_mw * 1e3 + float(table.get("leakage_uw", 0.0))


@dataclass(frozen=True)
class Estimate:
    """One inference priced by the model; every field is a formula of docs/energy-model.md."""

    cpu_cycles: float
    cpu_us: float
    cim_latency_us: float
    latency_us: float
    cpu_uj: float
    cim_uj: float
    static_uj: float
    total_uj: float

    def as_dict(self) -> dict:
        return asdict(self)


def price(cpu_cycles: float, counts: dict[str, int], cim_latency_us: float, mcu: Mcu,
          target: Target | dict | None) -> Estimate:
    """The energy and latency of one inference: the formula at the top of this module."""
    table = (target.energy if isinstance(target, Target) else target) or {}
    cpu_us = mcu.cpu_us(cpu_cycles)
    t_us = cpu_us + cim_latency_us
    cpu_pj = cpu_cycles * mcu.pj_per_cycle
    cim_pj = cim_energy_pj(counts, table)
    static_pj = static_uw(mcu, table) * t_us  # uW x us = pJ
    return Estimate(cpu_cycles, cpu_us, cim_latency_us, t_us, cpu_pj / 1e6, cim_pj / 1e6, static_pj / 1e6,
                    (cpu_pj + cim_pj + static_pj) / 1e6)
