"""One RTL instance of the CiM coprocessor: its Verilog parameters, read from the target TOML.

The target file is the single source: its `[macro]` numbers are what the converter maps onto, its
`[rtl]` section adds what only the hardware needs (columns per pass, buffer sizes). Building the RTL
from the same file is what keeps an image mapped for a target runnable on that target's hardware.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from cimconv.errors import UserError
from cimconv.target import Target, load_target


@dataclass(frozen=True)
class Instance:
    target: Target
    par: int
    quant_words: int
    window_bytes: int
    max_out_channels: int
    max_tiles: int
    clock_mhz: float
    weight_word_bytes: int = 4
    serial_planes: bool = False  # the array one weight bit plane a cycle (rtl/cim_array.v, cim_array_serial)

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def memory_words(self) -> int:
        """Words of the coprocessor's weight memory: every array's weights, the quantization table, then
        the running op's tile table (8 words a tile, rtl/seq/cim_seq.c)."""
        t = self.target
        return t.arrays * t.weight_cols * t.rows // self.weight_word_bytes + self.quant_words + 8 * self.max_tiles

    def verilog_parameters(self) -> dict[str, int]:
        t = self.target
        return {
            "TARGET_ID": t.id, "ROWS": t.rows, "WCOLS": t.weight_cols, "NARR": t.arrays,
            "APM": t.arrays_per_macro, "PAR": self.par, "IB": t.input_bits_per_cycle,
            "QWORDS": self.quant_words, "WINMAX": self.window_bytes, "NMAX": self.max_out_channels,
            "TMAX": self.max_tiles, "WMB": self.weight_word_bytes, "SERIAL": int(self.serial_planes),
        }  # fmt: skip


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def load_instance(target: str | Target) -> Instance:
    """The RTL instance of an FPGA target (a name like fpga-dcim-up5k or a .toml path)."""
    t = target if isinstance(target, Target) else load_target(target)
    data = tomllib.loads(Path(t.path).read_text())
    rtl = data.get("rtl")
    if rtl is None:
        raise UserError(f"target {t.name} has no [rtl] section: it is not an FPGA instance "
                        "(choose fpga-dcim-up5k or fpga-dcim-large)")
    if t.cells_per_weight != 8 or t.bits_per_cell != 1 or t.signed_encoding != "twos-complement" or t.adc_bits:
        raise UserError(f"{t.path}: the RTL array is digital two's complement with 8 one-bit cells per "
                        "weight; keep bits_per_cell = 1, cells_per_weight = 8, adc_bits = 0")
    if t.input_bits_per_cycle not in (1, 2, 4, 8) or t.input_bits != 8:
        raise UserError(f"{t.path}: input_bits_per_cycle must be 1, 2, 4 or 8 (int8 inputs)")
    if t.rows_active != t.rows:
        raise UserError(f"{t.path}: the RTL adder tree sums every row; set rows_active = rows")
    inst = Instance(t, int(rtl["parallel_columns"]), int(rtl["quant_words"]), int(rtl["window_bytes"]),
                    int(rtl["max_out_channels"]), int(rtl["max_tiles"]), float(rtl.get("clock_mhz", 12.0)),
                    int(rtl.get("weight_word_bytes", 4)), bool(rtl.get("serial_planes", False)))
    for key, value in (("quant_words", inst.quant_words), ("window_bytes", inst.window_bytes),
                       ("max_out_channels", inst.max_out_channels), ("max_tiles", inst.max_tiles),
                       ("arrays x weight columns", t.arrays * t.weight_cols)):
        if not _pow2(value):
            raise UserError(f"{t.path}: [rtl] {key} = {value} must be a power of two (memory address width)")
    wmb = inst.weight_word_bytes
    if wmb % 4 or t.rows % wmb:
        raise UserError(f"{t.path}: [rtl] weight_word_bytes = {wmb}: the weight memory word must be a multiple "
                        f"of 4 bytes that divides rows ({t.rows})")
    if inst.serial_planes and t.input_bits_per_cycle != 1:
        raise UserError(f"{t.path}: [rtl] serial_planes computes one input bit a cycle: set input_bits_per_cycle = 1")
    if not 1 <= inst.par <= t.weight_cols:
        raise UserError(f"{t.path}: parallel_columns must be between 1 and the weight columns ({t.weight_cols})")
    return inst
