"""`cimsdk explore MODEL... --space SPACE.toml --data DIR -o OUT`: design-space exploration of CiM macros."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--space", "space_file", required=True, type=click.Path(path_type=Path),
              help="space TOML: target keys and noise settings to sweep (docs/explore.md)")
@click.option("--data", "data", required=True, multiple=True, type=click.Path(path_type=Path),
              help="labelled folder (or input file); once for all models or once per model")
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="output folder: points, Pareto fronts, plot, best_target.toml, cache/")
@click.option("--target", "target", default=None, help="base target (name or .toml), instead of the space's")
@click.option("--search", "method", type=click.Choice(["grid", "random", "tune"]), default=None,
              help="searcher (default: the space's [search] method)")
@click.option("--points", type=click.IntRange(min=1), default=None, help="random / tune: points to evaluate")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="local worker processes (default: all cores)")
@click.option("--ray", "ray_address", default=None, metavar="auto|ADDRESS",
              help="run on a Ray cluster (auto: the one on this machine or $RAY_ADDRESS)")
@click.option("--no-cache", is_flag=True, help="evaluate every point again (the cache is still not deleted)")
def command(models: tuple[Path, ...], space_file: Path, data: tuple[Path, ...], out: Path, target: str | None,
            method: str | None, points: int | None, jobs: int | None, ray_address: str | None,
            no_cache: bool) -> None:
    """Sweep macro parameters and noise settings; Pareto fronts of accuracy vs energy and area.

    \b
    Examples:
      cimsdk explore model.tflite --space space.toml --data clips/ --output sweep/
      cimsdk explore model.tflite --space space.toml --data clips/ -o sweep/ --search tune --points 40
    """
    from cimsdk.explore import sweep
    from cimsdk.explore.runners import LocalRunner, RayRunner
    from cimsdk.explore.space import parse_space

    space = parse_space(space_file, target)
    runner = RayRunner(ray_address) if ray_address else LocalRunner(jobs)
    if ray_address:
        from cimsdk.explore.runners import connect_ray

        connect_ray(ray_address)
    try:
        res = sweep.run(list(models), list(data), space, out, runner, method=method, points=points,
                        use_cache=not no_cache)
    finally:
        if ray_address:
            runner.close()
    r, st = res["result"], res["stats"]
    click.echo(f"{r['points']} points ({r['feasible_points']} feasible), {st['evaluated']} evaluated, "
               f"{st['cached']} from the cache, {st['seconds']:.1f} s on {res['meta']['runner']}")
    best = r["best"]
    if best is not None:
        click.echo("best design: " + ", ".join(f"{k} = {v}" for k, v in best["design"].items()))
        click.echo(f"  {r['why']}")
    else:
        click.echo(f"no best design: {r['why']}")
    if len(r["best_per_condition"]) > 1:
        for cond, bc in r["best_per_condition"].items():
            what = ("none meets the goal" if bc is None else
                    ", ".join(f"{k} = {v}" for k, v in bc["design"].items())
                    + f" ({100 * bc['score']:.1f}%, {bc['energy_uj']:.3f} uJ/inference)")
            click.echo(f"  built for {cond} only: {what}")
    click.echo(f"wrote {', '.join(str(f.relative_to(out)) for f in res['files'])} in {out}")
