"""Activity counts -> power over emulated time (the emulated meter's physics).

An emulated board has no current to measure, so power comes from the one energy model
(`cimconv.energy`, docs/energy-model.md), spread over time:

    E_segment = cpu_cycles x pj_per_cycle + sum_k cim_ops[k] x pj_per_<k>      (dynamic)
    P_static  = idle_mw + leakage_uw / 1000                                   (always)

`cim_ops` keys are the count keys (`cimcontracts.counts.COUNT_KEYS`), the board's figures are its
`cimcontracts.boards.Mcu`. Each segment's dynamic energy is spread evenly over
[t_start_s, t_end_s); a sample bin gets the exact share of every segment it overlaps plus the static
power, so the sum of the samples equals the model's total energy however segments and bins line up.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cimconv import energy
from cimconv.energy import Mcu
from cimconv.errors import UserError

#: Board keys of a flat board table (a `[power]` table plus the `[cpu]` clock, or a JSON file).
BOARD_KEYS = ("pj_per_cycle", "idle_mw", "voltage_v", "clock_hz")
#: A device without a macro (the `soft` backend): nothing to price but the CPU, no leakage.
NO_MACRO = "soft"


@dataclass
class ActivitySegment:
    """What the board did in [t_start_s, t_end_s) of emulated time; `marker` = inside an inference."""

    t_start_s: float
    t_end_s: float
    cpu_cycles: int = 0
    cim_ops: dict[str, int] = field(default_factory=dict)
    marker: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> ActivitySegment:
        try:
            seg = cls(float(d["t_start_s"]), float(d["t_end_s"]), int(d.get("cpu_cycles", 0)),
                      {str(k): int(v) for k, v in dict(d.get("cim_ops", {})).items()}, bool(d.get("marker", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"activity segment {d!r} is malformed ({exc}); need t_start_s, t_end_s") from None
        if not seg.t_end_s >= seg.t_start_s:
            raise UserError(f"activity segment ends before it starts: {d!r}")
        return seg


def load_segments(path: str | os.PathLike) -> list[ActivitySegment]:
    """Segments from a JSON list or JSON lines file."""
    text = Path(path).read_text()
    s = text.lstrip()
    items = json.loads(s) if s.startswith("[") else [json.loads(line) for line in s.splitlines() if line.strip()]
    return [ActivitySegment.from_dict(d) for d in items if "end" not in d]


def load_board(source: str | os.PathLike | dict | Mcu | None) -> Mcu:
    """The MCU figures: a board name (boards/), a TOML/JSON file with a `[power]` table and `clock_hz`,
    a flat dict, or None for the emulated default board."""
    if isinstance(source, Mcu):
        return source
    if source is None:
        return energy.board_mcu()
    if isinstance(source, dict):
        return Mcu.from_table("custom", source)
    path = Path(source)
    if not path.is_file():
        return energy.board_mcu(str(source))
    raw = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
    table = {**raw.get("power", raw), **({"clock_hz": raw["cpu"]["clock_hz"]} if "clock_hz" in raw.get("cpu", {})
                                         else {})}
    return Mcu.from_table(str(path), table)


def load_energy_table(source: str | os.PathLike | dict | None, kind: str) -> dict[str, float]:
    """Energy parameters: `kind` "board" -> the MCU's flat table (`BOARD_KEYS`); "target" -> a target's
    `[energy]` table from a dict, a TOML/JSON file or a target name (`soft`: no macro, empty)."""
    if kind == "board":
        mcu = load_board(source)
        return {"clock_hz": mcu.clock_hz, "pj_per_cycle": mcu.pj_per_cycle, "idle_mw": mcu.idle_mw,
                "voltage_v": mcu.voltage_v}
    if source is None or source == NO_MACRO:
        return {}
    if isinstance(source, dict):
        table = source
    else:
        path = Path(str(source))
        if not path.is_file():
            from cimconv.target import load_target

            try:
                return {k: float(v) for k, v in load_target(str(source)).energy.items()}
            except UserError:
                raise UserError(f"target {source!r} has no energy table; give a target name "
                                "(converter/targets), a TOML/JSON path, or soft") from None
        raw = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
        table = raw.get("energy", raw)
        if not isinstance(table, dict) or not any(k.startswith("pj_per_") for k in table):
            raise UserError(f"{path} has no [energy] table with pj_per_* keys; see docs/energy-model.md")
    return {k: float(v) for k, v in table.items() if isinstance(v, int | float) and not isinstance(v, bool)}


class EnergyModel:
    """A board's MCU + a CiM target's energy table; turns activity segments into sampled power."""

    def __init__(self, board: Mcu | dict | None = None, target: dict[str, float] | None = None) -> None:
        self.mcu = load_board(board)
        self.target = dict(target or {})

    @property
    def board(self) -> dict[str, float]:
        m = self.mcu
        return {"clock_hz": m.clock_hz, "pj_per_cycle": m.pj_per_cycle, "idle_mw": m.idle_mw, "voltage_v": m.voltage_v}

    @property
    def voltage_v(self) -> float:
        return self.mcu.voltage_v

    @property
    def static_w(self) -> float:
        """Power drawn whatever the board does: idle MCU plus CiM leakage."""
        return energy.static_uw(self.mcu, self.target) * 1e-6

    def dynamic_j(self, seg: ActivitySegment) -> float:
        return (seg.cpu_cycles * self.mcu.pj_per_cycle + energy.cim_energy_pj(seg.cim_ops, self.target)) * 1e-12

    def cpu_seconds(self, cycles: int) -> float:
        return cycles / self.mcu.clock_hz

    def sample(self, segments: list[ActivitySegment], k0: int, k1: int, fs: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """Current (A) and marker of sample bins k0..k1-1 (bin k covers [k/fs, (k+1)/fs))."""
        edges = np.arange(k0, k1 + 1, dtype=np.float64) / fs
        bins_j = np.full(k1 - k0, self.static_w / fs)
        mid = (edges[:-1] + edges[1:]) / 2
        marker = np.zeros(k1 - k0, np.uint8)
        lo, hi = edges[0], edges[-1]
        for seg in segments:
            if seg.t_end_s < lo or seg.t_start_s > hi:
                continue
            t0, t1 = seg.t_start_s, max(seg.t_end_s, seg.t_start_s + 1e-12)
            e = self.dynamic_j(seg)
            if e:
                cum = e * np.clip((edges - t0) / (t1 - t0), 0.0, 1.0)
                bins_j += np.diff(cum)
            if seg.marker:
                marker |= ((mid >= seg.t_start_s) & (mid < seg.t_end_s)).astype(np.uint8)
        power_w = bins_j * fs
        return power_w / self.voltage_v, marker


def model_from_options(board: str | dict | None, target: str | dict | None) -> EnergyModel:
    return EnergyModel(load_board(board), load_energy_table(target, "target"))
