"""The space file: which target parameters and noise settings to sweep, and over what values.

Why a file: a sweep is an experiment a team reruns and reviews; its space belongs in version control, and
the cache key of every point is computed from what the file resolves to, not from the file's text.

    target = "nor-acim"             # base target: a shipped name or a .toml path
    chips = 4                       # Monte Carlo chips per point
    samples = 120                   # inputs per point: a seeded subset of --data (all when absent)
    seed = 0
    [search]
    method = "grid"                 # grid | random | tune (Ray Tune + Optuna)
    points = 16                     # random / tune: points to evaluate
    [goal]
    max_drop_pp = 1.0               # best design: cheapest whose worst-case top-1 drop from int8 is <= this
    [params]                        # a list = choices; a table = a range; a scalar = fixed
    "macro.rows_active" = [8, 16, 32]             # any key of the target TOML as "section.key"
    "macro.adc_bits" = { min = 6, max = 8 }       # integers, step 1 (or step = N)
    "energy.pj_per_mac" = { min = 0.05, max = 0.2, num = 3, log = false }   # floats: grid takes num values
    "noise.preset" = ["nor-flash", "reram"]       # noise settings: preset, level, age, temp_c, or a preset field
    "noise.age" = ["0s", "1y"]

Target keys are design choices; `noise.*` keys are conditions a design must survive (docs/explore.md).
"""

from __future__ import annotations

import itertools
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from cimconv.errors import UserError
from cimconv.target import Target, load_target
from cimsdk.sim.noise import NoiseModel, parse_age

METHODS = ("grid", "random", "tune")
NOISE_SETTINGS = ("preset", "level", "age", "temp_c")
# Preset fields a space may set directly (floats); the rest (names, tuples) are not sweepable.
NOISE_FIELDS = tuple(f.name for f in fields(NoiseModel) if f.type == "float" and f.name not in ("level", "age_s",
                                                                                                    "temp_c"))
MACRO_KEYS = ("rows", "cols", "bits_per_cell", "cells_per_weight", "signed_encoding", "input_bits",
              "input_bits_per_cycle", "rows_active", "adc_bits", "arrays_per_macro", "macros")
WEIGHT_BITS = 8


@dataclass(frozen=True)
class Param:
    """One swept (or fixed) parameter: `values` for choices, or a range lo..hi (int step, or float num/log)."""

    name: str
    values: tuple | None = None
    lo: float | None = None
    hi: float | None = None
    step: int | None = None  # integer range
    num: int | None = None  # float range: grid points
    log: bool = False

    @property
    def is_noise(self) -> bool:
        return self.name.startswith("noise.")

    def grid(self) -> list:
        if self.values is not None:
            return list(self.values)
        if self.step is not None:
            return list(range(int(self.lo), int(self.hi) + 1, self.step))
        if self.num is None:
            raise UserError(f"space: '{self.name}' is a float range without num; grid search needs "
                            f"num = N (values on the grid), or use method = \"random\" or \"tune\"")
        if self.log:
            return [float(v) for v in np.geomspace(self.lo, self.hi, self.num)]
        return [float(v) for v in np.linspace(self.lo, self.hi, self.num)]

    def sample(self, rng: np.random.Generator) -> Any:
        if self.values is not None:
            return self.values[int(rng.integers(len(self.values)))]
        if self.step is not None:
            return int(self.lo) + self.step * int(rng.integers((int(self.hi) - int(self.lo)) // self.step + 1))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))
        return float(rng.uniform(self.lo, self.hi))


@dataclass
class Space:
    path: str
    target: Target
    params: list[Param]
    chips: int = 4
    samples: int | None = None
    seed: int = 0
    method: str = "grid"
    points: int = 16
    chip_blocks: int = 2
    max_drop_pp: float | None = 1.0
    min_accuracy: float | None = None
    raw: dict = field(default_factory=dict)

    @property
    def design_params(self) -> list[Param]:
        return [p for p in self.params if not p.is_noise]

    @property
    def noise_params(self) -> list[Param]:
        return [p for p in self.params if p.is_noise]

    def grid(self) -> list[dict]:
        names = [p.name for p in self.params]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(p.grid() for p in self.params))]

    def random(self, n: int) -> list[dict]:
        """n distinct points drawn from a generator seeded by the space's seed (same seed, same points)."""
        rng = np.random.default_rng([self.seed, 21])
        out: list[dict] = []
        seen: set = set()
        for _ in range(50 * n):
            pt = {p.name: p.sample(rng) for p in self.params}
            key = tuple(sorted(pt.items()))
            if key not in seen:
                seen.add(key)
                out.append(pt)
            if len(out) == n:
                break
        return out


def complete(point: dict) -> dict:
    """A point with its derived keys: cells per weight follows bits per cell (int8 weights) unless set."""
    pt = dict(point)
    if "macro.bits_per_cell" in pt and "macro.cells_per_weight" not in pt:
        pt["macro.cells_per_weight"] = -(-WEIGHT_BITS // int(pt["macro.bits_per_cell"]))
    return pt


def _param(name: str, spec: Any, where: str) -> Param:
    if isinstance(spec, list):
        if not spec:
            raise UserError(f"{where}: '{name}' has an empty list of choices; give at least one value")
        return Param(name, values=tuple(spec))
    if isinstance(spec, dict):
        unknown = set(spec) - {"min", "max", "step", "num", "log"}
        if unknown or "min" not in spec or "max" not in spec:
            raise UserError(f"{where}: '{name}' range needs min and max (and optionally step, num, log); "
                            f"got keys {', '.join(sorted(spec))}")
        lo, hi = spec["min"], spec["max"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)) or lo > hi:
            raise UserError(f"{where}: '{name}' range min {lo!r} .. max {hi!r} must be numbers with min <= max")
        log = bool(spec.get("log", False))
        if log and lo <= 0:
            raise UserError(f"{where}: '{name}' log range must have min > 0")
        if isinstance(lo, int) and isinstance(hi, int) and "num" not in spec and not log:
            step = int(spec.get("step", 1))
            if step < 1:
                raise UserError(f"{where}: '{name}' step must be >= 1")
            return Param(name, lo=lo, hi=hi, step=step)
        num = spec.get("num")
        if num is not None and (not isinstance(num, int) or num < 1):
            raise UserError(f"{where}: '{name}' num must be an integer >= 1")
        return Param(name, lo=float(lo), hi=float(hi), num=num, log=log)
    return Param(name, values=(spec,))


def _check_key(name: str, target_data: dict, where: str) -> str:
    """Canonical name of a parameter, or UserError naming what is allowed."""
    if "." not in name:
        if name in MACRO_KEYS:
            return f"macro.{name}"
        raise UserError(f"{where}: parameter '{name}' needs a section, e.g. macro.{name}, energy.{name} or "
                        f"noise.{name}")
    section, key = name.split(".", 1)
    if section == "noise":
        if key not in NOISE_SETTINGS + NOISE_FIELDS:
            raise UserError(f"{where}: '{name}' is not a noise setting; use one of "
                            f"{', '.join('noise.' + k for k in NOISE_SETTINGS)} or a preset field "
                            f"({', '.join(NOISE_FIELDS)})")
        return name
    known = set(target_data.get(section, {})) if isinstance(target_data.get(section), dict) else set()
    if section == "macro":
        known |= set(MACRO_KEYS)
    if section not in ("macro", "timing", "energy") or key not in known:
        raise UserError(f"{where}: '{name}' is not a key of the base target; sweep keys of [macro], [timing] "
                        f"or [energy] (this target has {', '.join(sorted('macro.' + k for k in MACRO_KEYS))}, "
                        f"{', '.join(sorted(f'{s}.{k}' for s in ('timing', 'energy') for k in target_data.get(s, {})))})")
    return name


def parse_space(path: str | Path, target_override: str | None = None) -> Space:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--space {path}: no such file; write a space TOML (see docs/explore.md)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    where = str(path)
    allowed = {"target", "chips", "samples", "seed", "chip_blocks", "search", "goal", "params"}
    extra = set(raw) - allowed
    if extra:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(allowed))}")
    target = load_target(target_override or str(raw.get("target", "nor-acim")))
    tdata = tomllib.loads(Path(target.path).read_text())
    params_raw = raw.get("params", {})
    if not isinstance(params_raw, dict) or not params_raw:
        raise UserError(f"{where}: [params] is empty; name at least one target key or noise setting to sweep")
    params = []
    seen: set[str] = set()
    for name, spec in params_raw.items():
        canon = _check_key(name, tdata, where)
        if canon in seen:
            raise UserError(f"{where}: '{canon}' is given twice")
        seen.add(canon)
        p = _param(canon, spec, where)
        if canon == "noise.age":
            for v in p.grid() if p.values is not None else ():
                parse_age(v)
        params.append(p)
    search = raw.get("search", {})
    goal = raw.get("goal", {})
    method = str(search.get("method", "grid"))
    if method not in METHODS:
        raise UserError(f"{where}: search method '{method}' is not one of {', '.join(METHODS)}")

    def pos_int(v: Any, name: str) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise UserError(f"{where}: {name} must be an integer >= 1, not {v!r}")
        return v

    samples = raw.get("samples")
    return Space(
        path=str(path), target=target, params=params, chips=pos_int(raw.get("chips", 4), "chips"),
        samples=pos_int(samples, "samples") if samples is not None else None, seed=int(raw.get("seed", 0)),
        method=method, points=pos_int(search.get("points", 16), "search.points"),
        chip_blocks=pos_int(raw.get("chip_blocks", 2), "chip_blocks"),
        max_drop_pp=goal.get("max_drop_pp", None if "min_accuracy" in goal else 1.0),
        min_accuracy=goal.get("min_accuracy"), raw=raw,
    )
