"""One sweep from start to files: context, points, cache, runner, fronts, outputs (`cimsdk explore`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cimconv.errors import FitError, UserError
from cimsdk.explore import cache as cache_mod
from cimsdk.explore import pareto
from cimsdk.explore.point import Context, Job, ModelData, data_hash, point_version
from cimsdk.explore.space import Space, complete

CALIB_FRAMES = 128


def _input_image(model: Path, space: Space):
    """An image of the model to read its input format from (the base target, or a roomy one if it does not fit)."""
    from cimconv.pipeline import convert

    try:
        return convert(model, space.target).image
    except FitError:
        t = space.target
        return convert(model, t.with_overrides(macros=max(t.macros, 1 << 16))).image


def build_context(models: Sequence[Path], data: Sequence[Path], space: Space) -> Context:
    from cimsdk.sim import calibrate as cal
    from cimsdk.sim import simulate as sim

    if len(data) not in (1, len(models)):
        raise UserError(f"--data given {len(data)} times for {len(models)} models; give one data set for all "
                        "models or one per model, in the same order")
    mds = []
    for i, m in enumerate(models):
        m = Path(m)
        if not m.is_file():
            raise UserError(f"{m}: no such model file")
        blob = m.read_bytes()
        ds = sim.load_data(_input_image(m, space), data[i if len(data) > 1 else 0])
        n = len(ds.inputs)
        rng = np.random.default_rng([space.seed, 7])
        calib = ds.inputs[np.sort(rng.choice(n, min(n, CALIB_FRAMES), replace=False))]
        if len(calib) < cal.MIN_FRAMES:
            raise UserError(f"{data[i if len(data) > 1 else 0]}: {n} inputs; calibration needs at least "
                            f"{cal.MIN_FRAMES} frames, give a larger data set")
        x, labels = ds.inputs, ds.labels
        if space.samples is not None and space.samples < n:
            pick = np.sort(np.random.default_rng([space.seed, 11]).permutation(n)[: space.samples])
            x, labels = x[pick], (labels[pick] if labels is not None else None)
        mds.append(ModelData(name=m.stem, model_bytes=blob, sha256=hashlib.sha256(blob).hexdigest(), x=x,
                             labels=labels, calib=calib, data_sha256=data_hash(x, labels, calib)))
    return Context(models=mds, base_target_text=Path(space.target.path).read_text(), chips=space.chips,
                   seed=space.seed, chip_blocks=space.chip_blocks, code_version=point_version())


def choose_points(space: Space, method: str, points: int) -> list[dict]:
    if method == "grid":
        pts = space.grid()
    elif method == "random":
        pts = space.random(points)
    else:
        raise ValueError(method)
    out, seen = [], set()
    for p in pts:  # derived keys can make two points equal (and a grid may repeat a value)
        c = complete(p)
        k = tuple(sorted((a, str(b)) for a, b in c.items()))
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out


class Progress:
    """A rich progress bar over points (or nothing)."""

    def __init__(self, total: int, show: bool, label: str):
        self.bar = None
        if show and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                transient=True, console=Console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task("points", total=total)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def evaluate_points(ctx: Context, points: list[dict], runner, cache: cache_mod.Cache, progress: bool = True
                    ) -> tuple[dict[tuple[int, int], dict], dict]:
    """Records of every (point, model), from the cache or the runner (which fills the cache as it goes)."""
    keys = {(pi, m): cache_mod.point_key(ctx, m, p) for pi, p in enumerate(points) for m in range(len(ctx.models))}
    records: dict[tuple[int, int], dict] = {}
    jobs = []
    by_key: dict[str, list[tuple[int, int]]] = {}
    for (pi, m), k in keys.items():
        hit = cache.get(k)
        if hit is not None:
            records[pi, m] = hit
        elif k not in by_key:
            jobs.append(Job(m, points[pi], k))
        by_key.setdefault(k, []).append((pi, m))
    bar = Progress(len(jobs), progress, f"exploring ({runner.describe()})" if jobs else "")
    t0 = time.perf_counter()

    def on_result(rec: dict) -> None:
        cache.put(rec["key"], rec)
        for slot in by_key[rec["key"]]:
            records[slot] = rec
        bar.advance()

    try:
        runner.run(ctx, jobs, on_result)
    finally:
        bar.close()
    stats = {"evaluated": len(jobs), "cached": len(keys) - sum(len(by_key[j.key]) for j in jobs),
             "seconds": time.perf_counter() - t0}
    return records, stats


def run(models: Sequence[Path], data: Sequence[Path], space: Space, out: Path, runner, method: str | None = None,
        points: int | None = None, use_cache: bool = True, progress: bool = True) -> dict:
    method = method or space.method
    points = points or space.points
    ctx = build_context(models, data, space)
    cache = cache_mod.Cache(Path(out) / "cache" if use_cache else None)
    if method == "tune":
        from cimsdk.explore.tune import tune_points

        pts, records, stats = tune_points(ctx, space, points, runner, cache, progress)
    else:
        pts = choose_points(space, method, points)
        records, stats = evaluate_points(ctx, pts, runner, cache, progress)
    rows = pareto.aggregate(pts, records, len(ctx.models))
    result = pareto.analyse(rows, space.max_drop_pp, space.min_accuracy)
    names = sorted({k for p in pts for k in p}, key=lambda k: (k.startswith("noise."), k))
    meta = {"title": f"{', '.join(m.name for m in ctx.models)} on {space.target.name}: {len(pts)} points, "
                     f"{space.chips} chips x {len(ctx.models[0].x)} inputs each ({method})",
            "models": [m.name for m in ctx.models], "base_target": space.target.name, "method": method,
            "chips": space.chips, "samples": [int(len(m.x)) for m in ctx.models], "seed": space.seed,
            "chip_blocks": space.chip_blocks, "runner": stats.get("runner") or runner.describe(), "space": space.raw, "stats": stats}
    files = pareto.write_outputs(Path(out), rows, result, meta, names, ctx.base_target_text, space.target.name)
    return {"rows": rows, "result": result, "meta": meta, "files": files, "stats": stats}
