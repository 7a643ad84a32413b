"""The sample-efficient searcher: Ray Tune trials proposed by Optuna's multi-objective TPE sampler
(accuracy up, energy per inference down), for spaces too large to grid.

Why Tune and Optuna rather than a hand-made search: Optuna's TPE learns which regions pay off from the points
seen so far, and Tune runs the trials on whatever Ray cluster there is (here, a throwaway local one when
`--ray` is not given). Each trial evaluates its point with `point.evaluate`, through the same cache, so its
numbers equal a grid run's at that point. With more than one trial in flight the sampler sees results in
completion order, so which points are proposed can vary between runs; each point's result does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time

from cimconv.errors import UserError
from cimsdk.explore import cache as cache_mod
from cimsdk.explore.point import Context, Job, evaluate
from cimsdk.explore.space import Param, Space, complete

INFEASIBLE_ENERGY = 1e9  # what a point that does not convert or simulate reports, so the sampler avoids it


def _domain(p: Param):
    from ray import tune

    if p.values is not None:
        return tune.choice(list(p.values))
    if p.step is not None:
        return tune.choice(list(range(int(p.lo), int(p.hi) + 1, p.step)))
    return tune.loguniform(p.lo, p.hi) if p.log else tune.uniform(p.lo, p.hi)


def _Progress(total: int, show: bool, where: str):
    """A Tune callback advancing the sweep's progress bar as trials finish."""
    from ray import tune

    from cimsdk.explore.sweep import Progress

    class _Cb(tune.Callback):  # Tune pickles its callbacks: the bar (threads, locks) starts in setup()
        bar = None

        def setup(self, **info) -> None:
            self.bar = Progress(total, show, f"exploring ({where})")

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            if self.bar is not None:
                self.bar.advance()

        def on_experiment_end(self, trials, **info) -> None:
            if self.bar is not None:
                self.bar.close()

    return _Cb()


def _trial(config: dict, ctx: Context, names: dict, cache_dir: str | None) -> None:
    from ray import tune

    from cimsdk.explore.runners import _limit_threads

    _limit_threads(1)
    point = complete({names[k]: v for k, v in config.items()})
    cache = cache_mod.Cache(cache_dir)
    recs = []
    for m in range(len(ctx.models)):
        key = cache_mod.point_key(ctx, m, point)
        rec = cache.get(key) or evaluate(ctx, Job(m, point, key))
        recs.append(rec)
    ok = all(r["feasible"] for r in recs)
    tune.report({"score": sum(r["score"] for r in recs) / len(recs) if ok else 0.0,
                 "energy_uj": sum(r["energy_uj"] for r in recs) if ok else INFEASIBLE_ENERGY,
                 "point_json": json.dumps(point), "records_json": json.dumps(recs, default=float)})


def tune_points(ctx: Context, space: Space, n: int, runner, cache: cache_mod.Cache, progress: bool = True
                ) -> tuple[list[dict], dict, dict]:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no Tune tables on stdout: the progress bar says enough
    try:
        import optuna
        import ray
        from ray import tune
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise UserError("--search tune needs Ray Tune and Optuna: pip install 'cimsdk[explore]'") from None
    from cimsdk.explore.runners import RayRunner, connect_ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = {f"p{i}": p.name for i, p in enumerate(space.params)}
    param_space = {k: _domain(p) for k, p in zip(names, space.params, strict=True)}
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if isinstance(runner, RayRunner):
            connect_ray(runner.address)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            where = f"Ray Tune on the cluster at {runner.address}, {cpus} CPUs"
        else:
            from cimsdk.explore import local_ray

            cpus = runner.processes
            connect_ray(stack.enter_context(local_ray.cluster(nodes=1, cpus=cpus)))
            where = f"Ray Tune on a local one-node cluster, {cpus} CPUs"
        stack.callback(ray.shutdown)
        sampler = optuna.samplers.TPESampler(seed=space.seed, n_startup_trials=min(8, max(2, n // 3)))
        searcher = OptunaSearch(metric=["score", "energy_uj"], mode=["max", "min"], sampler=sampler)
        storage = stack.enter_context(tempfile.TemporaryDirectory(prefix="cimsdk-tune-"))
        trainable = tune.with_resources(
            tune.with_parameters(_trial, ctx=ctx, names=names,
                                 cache_dir=str(cache.folder) if cache.folder is not None else None),
            {"cpu": 1})
        tuner = tune.Tuner(
            trainable, param_space=param_space,
            tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=max(1, cpus)),
                                        num_samples=n),
            run_config=tune.RunConfig(storage_path=storage, name="explore", verbose=0,
                                      callbacks=[_Progress(n, progress, where)]))
        grid = tuner.fit()
        results = [grid[i] for i in range(len(grid))]
    pts: list[dict] = []
    records: dict[tuple[int, int], dict] = {}
    for res in results:
        if res.error is not None:
            raise UserError(f"a Tune trial failed: {str(res.error).strip().splitlines()[-1]}")
        pt = json.loads(res.metrics["point_json"])
        if pt in pts:
            continue  # the sampler may propose a point twice
        recs = json.loads(res.metrics["records_json"])
        for m, rec in enumerate(recs):
            cache.put(rec["key"], rec)
            records[len(pts), m] = rec
        pts.append(pt)
    return pts, records, {"evaluated": len(results), "cached": 0, "seconds": time.perf_counter() - t0,
                          "runner": where}
