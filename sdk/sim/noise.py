"""Device and circuit non-idealities of analog CiM cells, with parameters from TOML presets.

Presets live in `converter/targets/noise/*.toml` (data, each number with its source). Everything here works in
normalised conductance g = G / g_max in [0, 1]; a cell holding digit d of L levels is programmed to
g_T = g_min + (1 - g_min) d / (L - 1), and the digital periphery reads it back in digit units.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimconv.target import TARGETS_DIR

NOISE_DIR = TARGETS_DIR / "noise"
DEVICES = ("ideal", "flash", "reram", "pcm")
_K_B_EV = 8.617333262e-5


def available_presets() -> list[str]:
    return sorted(p.stem for p in NOISE_DIR.glob("*.toml"))


@dataclass(frozen=True)
class NoiseModel:
    """One preset, optionally scaled (`level`) and aged (`age_s` at `temp_c`)."""

    name: str = "ideal"
    device: str = "ideal"
    description: str = ""
    g_min: float = 0.0
    prog_sigma_rel: float = 0.0
    prog_sigma_abs: float = 0.0
    read_sigma_rel: float = 0.0
    read_sigma_abs: float = 0.0
    stuck_off: float = 0.0
    stuck_on: float = 0.0
    off_state_exact: bool = False
    drift_t0_s: float = 1.0
    drift_mean_rel: float = 0.0
    drift_sigma_abs: float = 0.0
    ea_ev: float = 1.1
    t_ref_c: float = 25.0
    ir_drop_row: float = 0.0
    ir_drop_col: float = 0.0
    adc_sigma_lsb: float = 0.0
    # PCM (aihwkit)
    g_max_us: float = 25.0
    prog_coeff: tuple[float, ...] = (0.26348, 1.9650, -1.1731)
    t_read_s: float = 250e-9
    pcm_t0_s: float = 20.0
    drift_compensation: bool = True
    # use conditions
    level: float = 1.0
    age_s: float = 0.0
    temp_c: float = 25.0
    sources: dict = field(default_factory=dict)
    path: str = ""

    # -- derived ----------------------------------------------------------------------------------
    @property
    def is_ideal(self) -> bool:
        if self.level == 0 or self.device == "ideal":
            return True
        return not any((self.prog_sigma_rel, self.prog_sigma_abs, self.read_sigma_rel, self.read_sigma_abs,
                        self.stuck_off, self.stuck_on, self.ir_drop_row, self.ir_drop_col, self.adc_sigma_lsb,
                        self.device == "pcm", self.age_s and (self.drift_mean_rel or self.drift_sigma_abs)))

    @property
    def has_read_noise(self) -> bool:
        return self.level > 0 and (self.device == "pcm" or bool(self.read_sigma_rel or self.read_sigma_abs))

    def scaled(self, level: float) -> NoiseModel:
        return replace(self, level=level)

    def aged(self, age_s: float, temp_c: float | None = None) -> NoiseModel:
        return replace(self, age_s=float(age_s), temp_c=self.temp_c if temp_c is None else float(temp_c))

    def summary(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("sources",)}
        d["prog_coeff"] = list(self.prog_coeff)
        d["sources"] = dict(self.sources)
        return d

    def equivalent_time_s(self) -> float:
        """Age at the use temperature as time at the preset's reference temperature (Arrhenius)."""
        if self.age_s <= 0:
            return 0.0
        tu, tr = self.temp_c + 273.15, self.t_ref_c + 273.15
        return self.age_s * math.exp(self.ea_ev / _K_B_EV * (1.0 / tr - 1.0 / tu))

    # -- static (per chip) perturbation ---------------------------------------------------------
    def program(self, g_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Conductances a chip holds at its age: programming error, drift, stuck cells (g_t normalised)."""
        lv = self.level
        if self.device == "ideal" or lv == 0:
            return g_t.astype(np.float32)
        if self.device == "pcm":
            g = self._pcm_program(g_t, rng)
        else:
            sd = np.sqrt((self.prog_sigma_rel * g_t) ** 2 + self.prog_sigma_abs**2) * lv
            if self.off_state_exact:  # cells left erased/off are not tuned: no tuning error
                sd = np.where(g_t > self.g_min, sd, 0.0).astype(np.float32)
            g = g_t + sd * rng.standard_normal(g_t.shape, dtype=np.float32)
            dec = math.log10(1.0 + self.equivalent_time_s() / self.drift_t0_s)
            if dec > 0:
                g = g * (1.0 - self.drift_mean_rel * lv * dec)
                g = g + (self.drift_sigma_abs * lv * dec) * rng.standard_normal(g_t.shape, dtype=np.float32)
            g = np.clip(g, 0.0, 1.0)
        p_off, p_on = self.stuck_off * lv, self.stuck_on * lv
        if p_off or p_on:
            u = rng.random(g_t.shape, dtype=np.float32)
            g = np.where(u < p_off, 0.0, np.where(u > 1.0 - p_on, 1.0, g))
        return g.astype(np.float32)

    def _pcm_program(self, g_t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """aihwkit PCMLikeNoiseModel: programming noise polynomial, then drift with a per-cell exponent."""
        c0, c1, c2 = self.prog_coeff
        s = np.maximum(c0 + c1 * g_t + c2 * g_t**2, 0.0) / self.g_max_us * self.level
        g = np.clip(g_t + s * rng.standard_normal(g_t.shape, dtype=np.float32), 0.0, None)
        t = max(self.equivalent_time_s(), self.pcm_t0_s)
        if t > self.pcm_t0_s:
            gt = np.maximum(g_t, 1e-6)
            mu = np.clip(-0.0155 * np.log(gt) + 0.0244, 0.049, 0.1)
            sd = np.clip(-0.0125 * np.log(gt) - 0.0059, 0.008, 0.045)
            nu = mu + sd * self.level * rng.standard_normal(g_t.shape, dtype=np.float32)
            g_d = g * (t / self.pcm_t0_s) ** (-nu)
            if self.drift_compensation:  # global drift compensation: one scalar from a reference read
                g_d = g_d * (np.sum(g) / max(float(np.sum(g_d)), 1e-12))
            g = g_d
        return g

    # -- dynamic (per read) noise -----------------------------------------------------------------
    def read_sigma(self, g: np.ndarray) -> np.ndarray:
        """Standard deviation of one read of a cell of conductance g (normalised)."""
        if not self.has_read_noise:
            return np.zeros_like(g, dtype=np.float32)
        if self.device == "pcm":
            t = max(self.equivalent_time_s(), self.pcm_t0_s)
            gt = np.maximum(g, 1e-6)
            q_s = np.minimum(0.0088 / gt**0.65, 0.2)
            return (g * q_s * math.sqrt(math.log((t + self.t_read_s) / (2 * self.t_read_s))) * self.level
                    ).astype(np.float32)
        return (np.sqrt((self.read_sigma_rel * g) ** 2 + self.read_sigma_abs**2) * self.level).astype(np.float32)

    def ir_factor(self, row_frac: np.ndarray, col_frac: np.ndarray) -> np.ndarray:
        """First-order IR drop: the fraction of a cell's current that reaches the ADC."""
        lv = self.level
        return (1.0 - lv * self.ir_drop_row * col_frac - lv * self.ir_drop_col * row_frac).astype(np.float32)


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31557600, "yr": 31557600}


def parse_age(text: str | float | None) -> float:
    """'1y', '30d', '12h', '100s', a number of seconds -> seconds."""
    if text is None or text == "":
        return 0.0
    if isinstance(text, int | float):
        return float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([a-z]*)\s*", str(text).lower())
    if not m or (m.group(2) and m.group(2) not in _UNITS):
        raise UserError(f"age '{text}' is not understood; write a number with a unit s, min, h, d, w or y (e.g. 1y)")
    return float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1)


def load_noise(name_or_path: str | Path) -> NoiseModel:
    """A shipped preset by name (see `available_presets`) or a user's TOML file."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = NOISE_DIR / f"{name_or_path}.toml"
    if not path.exists():
        raise UserError(f"unknown noise preset '{name_or_path}'; choose one of {', '.join(available_presets())} "
                        "or give a noise .toml file")
    try:
        d = tomllib.loads(path.read_text())
        cell, drift, circ = d.get("cell", {}), d.get("drift", {}), d.get("circuit", {})
        device = str(d.get("device", "flash"))
        if device not in DEVICES:
            raise ValueError(f"device '{device}' is not one of {DEVICES}")
        kw = dict(
            name=str(d.get("name", path.stem)), device=device, description=str(d.get("description", "")),
            g_min=float(cell.get("g_min", 0.0)),
            prog_sigma_rel=float(cell.get("prog_sigma_rel", 0.0)), prog_sigma_abs=float(cell.get("prog_sigma_abs", 0.0)),
            read_sigma_rel=float(cell.get("read_sigma_rel", 0.0)), read_sigma_abs=float(cell.get("read_sigma_abs", 0.0)),
            stuck_off=float(cell.get("stuck_off", 0.0)), stuck_on=float(cell.get("stuck_on", 0.0)),
            off_state_exact=bool(cell.get("off_state_exact", False)),
            drift_t0_s=float(drift.get("t0_s", 1.0)), drift_mean_rel=float(drift.get("mean_rel_per_decade", 0.0)),
            drift_sigma_abs=float(drift.get("sigma_abs_per_decade", 0.0)), ea_ev=float(drift.get("ea_ev", 1.1)),
            t_ref_c=float(drift.get("t_ref_c", 25.0)),
            ir_drop_row=float(circ.get("ir_drop_row", 0.0)), ir_drop_col=float(circ.get("ir_drop_col", 0.0)),
            adc_sigma_lsb=float(circ.get("adc_sigma_lsb", 0.0)),
            g_max_us=float(cell.get("g_max_us", 25.0)),
            prog_coeff=tuple(float(c) for c in cell.get("prog_coeff", (0.26348, 1.9650, -1.1731))),
            t_read_s=float(cell.get("t_read_s", 250e-9)), pcm_t0_s=float(cell.get("t0_s", 20.0)),
            drift_compensation=bool(cell.get("drift_compensation", True)),
            sources=dict(d.get("sources", {})), path=str(path),
        )
        if not 0 <= kw["g_min"] < 1:
            raise ValueError("g_min must be in [0, 1)")
    except (ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: invalid noise preset ({exc}); see docs/noise-models.md for the keys") from None
    return NoiseModel(**kw)


def default_preset(target) -> str:
    """The preset `simulate` uses when none is given: the target's `[noise] simulate_preset`, else by kind."""
    name = target.noise.get("simulate_preset") if target.noise else None
    if name:
        return str(name)
    return "ideal" if target.exact else "nor-flash"
