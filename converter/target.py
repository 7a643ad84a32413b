"""CiM macro targets are data (converter/targets/*.toml); this turns one into derived quantities."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cimconv.errors import UserError

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
ENCODINGS = ("twos-complement", "differential", "offset")
#: Keys that belong to the board's MCU, refused in a target file (one home for every figure).
MCU_KEYS = (("timing", "cpu_clock_mhz"), ("timing", "cpu_cycles_per_element"), ("energy", "pj_per_cpu_cycle"))


@dataclass(frozen=True)
class Target:
    id: int
    name: str
    description: str
    exact: bool
    rows: int
    cols: int
    bits_per_cell: int
    cells_per_weight: int
    signed_encoding: str
    input_bits: int
    input_bits_per_cycle: int
    rows_active: int
    adc_bits: int
    arrays_per_macro: int
    macros: int
    digital_bits: int = 0  # hybrid macros: the weight's top bits computed digitally (exact), the rest analog
    timing: dict = field(default_factory=dict)
    energy: dict = field(default_factory=dict)
    noise: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    path: str = ""
    rtl: dict = field(default_factory=dict)  # an RTL coprocessor instance's parameters (fpga-dcim-*), else empty

    @property
    def sign_factor(self) -> int:
        """Cells per weight slice: 2 for a differential pair, else 1."""
        return 2 if self.signed_encoding == "differential" else 1

    @property
    def weight_cols(self) -> int:
        """int8 weight columns per array."""
        return self.cols // (self.cells_per_weight * self.sign_factor)

    @property
    def digital_slices(self) -> int:
        """Top cell slices of a weight that a hybrid macro computes digitally (0: all analog)."""
        return self.digital_bits // self.bits_per_cell

    @property
    def arrays(self) -> int:
        return self.macros * self.arrays_per_macro

    @property
    def weight_capacity(self) -> int:
        return self.arrays * self.rows * self.weight_cols

    @property
    def input_cycles(self) -> int:
        """Input cycles of one matrix-vector product of the macro's native (`input_bits`, int8) inputs."""
        return math.ceil(self.input_bits / self.input_bits_per_cycle)

    def input_cycles_for(self, bits: int) -> int:
        """Input cycles of `bits`-wide activations: bit-serial inputs (`input_bits_per_cycle` at a time) take
        one cycle per slice, so int16 (TFLM's 16x8 mode) takes twice the cycles of int8 at 1 bit per cycle."""
        return math.ceil(max(bits, self.input_bits) / self.input_bits_per_cycle)

    def row_groups(self, k: int) -> int:
        return math.ceil(k / self.rows_active)

    @property
    def adc_lossless(self) -> bool:
        """True when one conversion can represent every partial sum of `rows_active` rows."""
        if self.adc_bits == 0:
            return True
        peak = self.rows_active * (2**self.bits_per_cell - 1) * (2**self.input_bits_per_cycle - 1)
        return peak < 2**self.adc_bits

    def with_overrides(self, **kw) -> Target:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.update(kw)
        return Target(**d)


def available_targets() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name_or_path: str) -> Target:
    """A shipped target by name, or a user's TOML file by path."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = TARGETS_DIR / f"{name_or_path}.toml"
    if not path.exists():
        raise UserError(f"unknown target '{name_or_path}'; choose one of {', '.join(available_targets())} "
                        "or give a target .toml file")
    try:
        data = tomllib.loads(path.read_text())
        m = data["macro"]
        t = Target(
            id=int(data["id"]), name=str(data["name"]), description=str(data.get("description", "")),
            exact=bool(data.get("exact", False)),
            rows=int(m["rows"]), cols=int(m["cols"]), bits_per_cell=int(m["bits_per_cell"]),
            cells_per_weight=int(m["cells_per_weight"]), signed_encoding=str(m["signed_encoding"]),
            input_bits=int(m.get("input_bits", 8)), input_bits_per_cycle=int(m["input_bits_per_cycle"]),
            rows_active=int(m["rows_active"]), adc_bits=int(m["adc_bits"]),
            arrays_per_macro=int(m["arrays_per_macro"]), macros=int(m["macros"]),
            digital_bits=int(m.get("digital_bits", 0)), timing=dict(data.get("timing", {})), energy=dict(data.get("energy", {})),
            noise=dict(data.get("noise", {})), sources=dict(data.get("sources", {})), path=str(path),
            rtl=dict(data.get("rtl", {})),
        )
    except (KeyError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: invalid target file ({type(exc).__name__}: {exc}); "
                        "see docs/targets.md for the keys") from None
    mcu_keys = [f"[{sec}] {k}" for sec, k in MCU_KEYS if k in data.get(sec, {})]
    if mcu_keys:
        raise UserError(f"{path}: {', '.join(mcu_keys)} is an MCU figure; boards carry the MCU (boards/<name>/board.toml "
                        "[cpu]/[power]), targets only the macro: remove it and pass --board (docs/energy-model.md)")
    if t.signed_encoding not in ENCODINGS:
        raise UserError(f"{path}: signed_encoding '{t.signed_encoding}' is not one of {', '.join(ENCODINGS)}")
    if t.digital_bits % t.bits_per_cell or not 0 <= t.digital_bits <= t.bits_per_cell * t.cells_per_weight:
        raise UserError(f"{path}: digital_bits {t.digital_bits} must be whole cell slices: a multiple of "
                        f"bits_per_cell ({t.bits_per_cell}) up to {t.bits_per_cell * t.cells_per_weight}")
    if t.weight_cols < 1 or t.rows < 1:
        raise UserError(f"{path}: an array must hold at least one weight column and one row")
    return t
