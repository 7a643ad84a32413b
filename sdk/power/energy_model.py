"""Activity counts -> power over emulated time (the emulated meter's physics).

An emulated board has no current to measure, so power comes from a model (docs/energy-model.md):

    E_segment = cpu_cycles x pj_per_cycle + sum_k cim_ops[k] x pj_per_<k>      (dynamic)
    P_static  = idle_mw + leakage_uw / 1000                                   (always)

Each segment's dynamic energy is spread evenly over [t_start_s, t_end_s); a sample bin
gets the exact share of every segment it overlaps plus the static power, so the sum of the
samples equals the model's total energy however segments and bins line up.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cimconv.errors import UserError

#: Board keys (the `[power]` table of boards/<name>/board.toml, or a target's `[energy]`).
BOARD_KEYS = ("pj_per_cycle", "idle_mw", "voltage_v", "clock_hz")
#: CiM keys: pj_per_<op> for each counted operation, plus static leakage. The plural names are
#: the converter's and the coprocessor's count keys (`cimconv.energy.COUNT_KEYS`); None = no energy
#: of its own (a tile operation's cost is in its MACs, conversions and pulses).
CIM_OP_KEYS: dict[str, str | None] = {
    "mac": "pj_per_mac",
    "adc_conversion": "pj_per_adc_conversion",
    "input_bit": "pj_per_input_bit",
    "digital_op": "pj_per_digital_op",
    "macs": "pj_per_mac",
    "adc_conversions": "pj_per_adc_conversion",
    "input_bit_pulses": "pj_per_input_bit",
    "digital_ops": "pj_per_digital_op",
    "tile_ops": None,
}

#: Defaults when no board is given: WCH CH32V203 (RISC-V, Qingke V4B) run mode 44.65 uA/MHz
#: at 3.3 V = 147 pJ/cycle; sleep mode 17.90 uA/MHz (at 48 MHz, 3.3 V: 2.84 mW). openwch/ch32v20x.
DEFAULT_BOARD: dict[str, float] = {
    "clock_hz": 48e6,
    "pj_per_cycle": 44.65e-6 * 3.3 * 1e6,  # A/MHz x V = J/Mcycle -> pJ/cycle: 147.3
    "idle_mw": 17.90e-6 * 48 * 3.3 * 1e3,  # 2.835 mW
    "voltage_v": 3.3,
}

#: Built-in per-operation energies of the two reference targets when their TOML has no
#: `[energy]` table. System-level TOPS/W figures already include the array periphery (ADC,
#: input drivers), so those terms are 0 here and everything sits in pj_per_mac = 2 / (TOPS/W).
DEFAULT_TARGETS: dict[str, dict[str, float]] = {
    # 55 nm 8 Mb embedded-NOR CiM SoC: 0.16 TOPS at 21.4 mW = 7.48 TOPS/W (system).
    "nor-acim": {"pj_per_mac": 2 / 7.48, "pj_per_adc_conversion": 0.0, "pj_per_input_bit": 0.0,
                 "pj_per_digital_op": 0.0, "leakage_uw": 0.0},
    # Axelera Metis digital in-SRAM compute, ISSCC 2024 11.3: 15 TOPS/W int8.
    "sram-dcim": {"pj_per_mac": 2 / 15.0, "pj_per_adc_conversion": 0.0, "pj_per_input_bit": 0.0,
                  "pj_per_digital_op": 0.0, "leakage_uw": 0.0},
    # No coprocessor: MACs run on the CPU and show up as cpu_cycles.
    "soft": {"pj_per_mac": 0.0, "leakage_uw": 0.0},
}


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


def load_energy_table(source: str | os.PathLike | dict | None, kind: str) -> dict[str, float]:
    """Energy parameters from a dict, a JSON/TOML file (`[energy]` or `[power]` table) or a target name."""
    if source is None:
        return dict(DEFAULT_BOARD) if kind == "board" else {}
    if isinstance(source, dict):
        table = source
    else:
        text = str(source)
        path = Path(text)
        if not path.is_file() and kind == "target":
            path = _target_path(text)
            if path is None:
                if text in DEFAULT_TARGETS:
                    return dict(DEFAULT_TARGETS[text])
                raise UserError(f"target {text!r} has no energy table; known: {', '.join(DEFAULT_TARGETS)} or a TOML path")
        if not path.is_file() and kind == "board":
            cand = _board_path(text)
            if cand is None:
                raise UserError(f"board {text!r} not found; pass a board name under boards/ or a TOML/JSON path")
            path = cand
        raw = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
        table = raw.get("energy") or raw.get("power") or raw
        if not isinstance(table, dict) or not any(k.startswith("pj_per_") or k in BOARD_KEYS for k in table):
            if kind == "target" and path.stem in DEFAULT_TARGETS:
                return dict(DEFAULT_TARGETS[path.stem])
            raise UserError(f"{path} has no [energy] or [power] table with pj_per_* keys; see docs/energy-model.md")
    out: dict[str, float] = {}
    for k, v in table.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[k] = float(v)
    return out


def _target_path(name: str) -> Path | None:
    try:
        import cimconv

        p = Path(cimconv.__file__).parent / "targets" / f"{name}.toml"
        return p if p.exists() else None
    except ImportError:
        return None


def _board_path(name: str) -> Path | None:
    from cimcontracts.resources import data_root as project_root

    p = project_root() / "boards" / name / "board.toml"
    return p if p.exists() else None


class EnergyModel:
    """Board + CiM target energy parameters; turns activity segments into sampled power."""

    def __init__(self, board: dict[str, float] | None = None, target: dict[str, float] | None = None) -> None:
        b = dict(DEFAULT_BOARD)
        b.update(board or {})
        missing = [k for k in BOARD_KEYS if k not in b]
        if missing:
            raise UserError(f"board energy table lacks {', '.join(missing)}; see docs/energy-model.md")
        self.board = b
        self.target = dict(target or {})
        if b["voltage_v"] <= 0 or b["clock_hz"] <= 0:
            raise UserError("board voltage_v and clock_hz must be positive")

    @property
    def voltage_v(self) -> float:
        return self.board["voltage_v"]

    @property
    def static_w(self) -> float:
        """Power drawn whatever the board does: idle MCU plus CiM leakage."""
        return self.board["idle_mw"] * 1e-3 + self.target.get("leakage_uw", 0.0) * 1e-6

    def op_pj(self, op: str) -> float:
        key = CIM_OP_KEYS.get(op, f"pj_per_{op}")
        if key is None:
            return 0.0
        if key not in self.target:
            if op in CIM_OP_KEYS:
                return 0.0  # a target that folds this term into pj_per_mac
            raise UserError(f"CiM operation {op!r} has no energy {key} in the target's [energy] table")
        return self.target[key]

    def dynamic_j(self, seg: ActivitySegment) -> float:
        e_pj = seg.cpu_cycles * self.board["pj_per_cycle"]
        e_pj += sum(n * self.op_pj(op) for op, n in seg.cim_ops.items())
        return e_pj * 1e-12

    def cpu_seconds(self, cycles: int) -> float:
        return cycles / self.board["clock_hz"]

    def sample(self, segments: list[ActivitySegment], k0: int, k1: int, fs: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """Current (A) and marker of sample bins k0..k1-1 (bin k covers [k/fs, (k+1)/fs))."""
        edges = np.arange(k0, k1 + 1, dtype=np.float64) / fs
        energy = np.full(k1 - k0, self.static_w / fs)
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
                energy += np.diff(cum)
            if seg.marker:
                marker |= ((mid >= seg.t_start_s) & (mid < seg.t_end_s)).astype(np.uint8)
        power_w = energy * fs
        return power_w / self.voltage_v, marker


def model_from_options(board: str | dict | None, target: str | dict | None) -> EnergyModel:
    return EnergyModel(load_energy_table(board, "board"), load_energy_table(target, "target"))
