"""Board data (`boards/<name>/board.toml`) as the contracts read it: memory map, mailbox window, flash layout,
and the MCU figures (clock, cycles per op, energy per cycle) the energy model prices the CPU with.

The richer view the build uses is `cimsdk.build.boards`; this one only parses the TOML so the
declarations below cimsdk can take addresses from the board files instead of restating them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache

from cimcontracts.errors import UserError
from cimcontracts.resources import data_path


def board_names() -> list[str]:
    return sorted(p.parent.name for p in data_path("boards").glob("*/board.toml"))


@cache
def board_data(name: str) -> dict:
    with open(data_path("boards", name, "board.toml"), "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class Mcu:
    """The MCU figures a board carries (and only a board): its clock, what the firmware runtime costs
    on its core in cycles per op, and what a cycle costs in energy. Targets carry only the macro.

    `clock_hz` is `[cpu] clock_hz`; `pj_per_cycle`, `idle_mw`, `voltage_v` are `[power]`;
    `cycle_costs` is the file `[cpu] cycle_costs` names (under boards/). docs/energy-model.md.
    """

    board: str
    clock_hz: float
    pj_per_cycle: float
    idle_mw: float
    voltage_v: float
    cycle_costs: dict = field(default_factory=dict, compare=False)
    source: str = ""

    @classmethod
    def from_table(cls, name: str, table: dict, cycle_costs: dict | None = None) -> Mcu:
        """From a flat table (a `[power]` table plus `clock_hz`), e.g. a JSON file a meter is given."""
        try:
            mcu = cls(name, float(table["clock_hz"]), float(table["pj_per_cycle"]), float(table["idle_mw"]),
                      float(table["voltage_v"]), dict(cycle_costs or {}), str(table.get("source", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"board {name}: MCU figures incomplete ({type(exc).__name__}: {exc}); need "
                            "clock_hz, pj_per_cycle, idle_mw, voltage_v (docs/energy-model.md)") from None
        if mcu.clock_hz <= 0 or mcu.voltage_v <= 0:
            raise UserError(f"board {name}: clock_hz and voltage_v must be positive")
        return mcu

    def cpu_us(self, cycles: float) -> float:
        return cycles / self.clock_hz * 1e6


#: The board `convert`, `profile` and `demo` price the CPU part with when none is named.
DEFAULT_BOARD = "qemu-virt-rv32"


@cache
def board_mcu(name: str = DEFAULT_BOARD) -> Mcu:
    """The MCU of board `name` (boards/<name>/board.toml, or fpga.toml for an FPGA board)."""
    boards = data_path("boards")
    folder = boards / name
    files = [folder / "board.toml", folder / "fpga.toml"]
    path = next((p for p in files if p.is_file()), None)
    if path is None:
        known = sorted({p.parent.name for p in boards.glob("*/*.toml") if p.name in ("board.toml", "fpga.toml")})
        raise UserError(f"board {name!r} not found under {boards}; known: {', '.join(known)}")
    with open(path, "rb") as f:
        data = tomllib.load(f)
    cpu, power = data.get("cpu", {}), data.get("power", {})
    costs_name = cpu.get("cycle_costs")
    if not costs_name:
        raise UserError(f"{path}: [cpu] names no cycle_costs file (docs/energy-model.md)")
    with open(boards / costs_name, "rb") as f:
        costs = tomllib.load(f)
    return Mcu.from_table(name, {**power, "clock_hz": cpu.get("clock_hz")}, costs)
