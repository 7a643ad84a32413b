"""`cimsdk simulate IMAGE --data DIR|FILE`: Monte Carlo accuracy of an image on an analog macro with noise."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--data", "data", required=True, type=click.Path(path_type=Path),
              help="labelled folder (one sub-folder per label) or an input file (.npy batch, .wav, image)")
@click.option("--noise", "noise", default=None, help="noise preset name or .toml file (default: the target's)")
@click.option("--trials", default=10, show_default=True, type=click.IntRange(min=1), help="Monte Carlo chips")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--age", default="0s", show_default=True, help="time since programming, e.g. 1y, 30d, 12h")
@click.option("--temp", "temp_c", default=25.0, show_default=True, type=float, help="use temperature (C) for drift")
@click.option("--calib", "calib", type=click.Path(path_type=Path), help="calibration frames (default: 128 of --data)")
@click.option("--target", "target", default=None, help="override the macro target (name or .toml)")
@click.option("--mapping-search", "search", is_flag=True, help="also run the noise-aware mapping search")
@click.option("--max-drop", default=1.0, show_default=True, type=float,
              help="mapping search: largest top-1 drop (or agreement loss without labels) from int8, pp")
@click.option("--min-snr", default=None, type=float, help="mapping search: minimum per-layer SNR target, dB")
@click.option("--max-evals", default=8, show_default=True, type=click.IntRange(min=1),
              help="mapping search: candidate mappings simulated at most (besides the target's)")
@click.option("--sweeps/--no-sweeps", default=True, show_default=True, help="accuracy vs ADC bits and noise level (hybrid targets: and vs the digital/analog split)")
@click.option("-o", "--output", "--out", "out", type=click.Path(file_okay=False, path_type=Path), help="write simulate.json and plots")
@click.option("--chip-blocks", default=2, show_default=True, type=click.IntRange(min=1),
              help="chips run in this many seeded blocks (threads or Ray tasks); same blocks, same numbers")
@click.option("--ray", "ray_address", default=None, metavar="auto|ADDRESS",
              help="spread the chip blocks over a Ray cluster (pip install 'cimsdk[explore]')")
def command(image: Path, data: Path, noise: str | None, trials: int, seed: int, age: str, temp_c: float,
            calib: Path | None, target: str | None, search: bool, max_drop: float, min_snr: float | None,
            max_evals: int, sweeps: bool, out: Path | None, chip_blocks: int, ray_address: str | None) -> None:
    """Monte Carlo top-1 accuracy and agreement with the int8 reference over TRIALS chips.

    \b
    Examples:
      cimsdk simulate model/ --data clips/ -o sim/
      cimsdk simulate model/ --data clips/ --noise nor-flash --age 1y --trials 50
    """
    from cimconv.target import load_target
    from cimsdk.imagefile import read_weight_image
    from cimsdk.sim import simulate as sim
    from cimsdk.sim.noise import default_preset, load_noise, parse_age

    img = read_weight_image(image)
    tgt = load_target(target or img.target)
    nz = load_noise(noise or default_preset(tgt)).aged(parse_age(age), temp_c)
    ds = sim.load_data(img, data)
    cal_x = sim.load_data(img, calib).inputs if calib else None
    found = None
    if search:
        from cimsdk.sim.mapping_search import search as do_search

        found = do_search(img, tgt, nz, ds, max_drop, min_snr, seed=seed, max_evals=max_evals)
        ch = found["chosen"]
        click.echo(f"noise-aware mapping ({found['goal']}, {found['samples']} inputs x {found['trials']} chips, "
                   f"{len(found['candidates'])} candidates simulated): " + _mapping_text(ch["mapping"]))
        click.echo(f"  why: {found['why']}")
    mapper = None
    if ray_address:
        from cimsdk.explore.ray_backend import chip_mapper

        mapper = chip_mapper(ray_address)
    res = sim.simulate(img, ds, nz, trials=trials, seed=seed, target=tgt, calib=cal_x,
                       sweeps=sweeps and out is not None, mapping=found["target_overrides"] if found else None,
                       chip_blocks=chip_blocks, mapper=mapper)
    if found:
        res["mapping_search"] = found
    _print(res)
    if out is not None:
        from cimconv import atomic

        with atomic.output_dir(out) as d:
            d = Path(d)
            (d / "simulate.json").write_text(json.dumps(res, indent=1, default=float) + "\n")
            sim.plots(res, d)
            if found:
                from cimsdk.sim.mapping_search import target_toml

                (d / "mapping.toml").write_text(target_toml(tgt, found["target_overrides"]))
        extra = " and mapping.toml (convert with -t it)" if found else ""
        click.echo(f"wrote {out / 'simulate.json'}, plots{extra}")


def _mapping_text(m: dict) -> str:
    return (f"{m['bits_per_cell']}-bit cells x {m['cells_per_weight']}, {m['signed_encoding']}, "
            f"{m['rows_active']} rows at once, {m['input_bits_per_cycle']} input bit(s)/cycle, "
            f"{m['adc_bits']}-bit ADC")


def _print(r: dict) -> None:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    click.echo(f"noise {r['noise']['name']} (level {r['noise']['level']}, age {r['noise']['age_s']:.0f} s), "
               f"{r['samples']} inputs x {r['trials']} chips")
    click.echo(f"  int8 reference top-1: {pct(r['reference_accuracy'])}")
    if r.get("adc_calibration_source"):
        click.echo(f"  ADC ranges from: {r['adc_calibration_source']}")
    for name, c in r["configs"].items():
        acc = "" if c["accuracy_mean"] is None else \
            f"top-1 {pct(c['accuracy_mean'])} +- {100 * c['accuracy_std']:.2f} pp, "
        click.echo(f"  {name:<11} {acc}agreement {pct(c['agreement_mean'])} +- {100 * c['agreement_std']:.2f} pp "
                   f"({c['inferences_per_s']:.0f} inferences/s)")
        click.echo(f"  {'':<11} mapping: {_mapping_text(c['mapping'])}")
        click.echo(f"  {'':<11} per-layer SNR (dB): "
                   + ", ".join(f"{k}:{v:.1f}" for k, v in c["layer_snr_db"].items()))
        for op, st in c.get("recurrent_steps", {}).items():
            a = st["agreement"]
            click.echo(f"  {'':<11} sequence op {op}: outputs equal to the ideal at step 0 {pct(a[0])}, "
                       f"step {len(a) // 2} {pct(a[len(a) // 2])}, last step {pct(a[-1])}")
    sp = r.get("split_sweep")
    if sp:
        click.echo(f"  digital/analog split ({sp['metric']}, calibrated, {sp['samples']} inputs x {sp['trials']} chips; "
                   "digital bits: value, macro energy per inference):")
        for bits, q in sp["digital_bits"].items():
            mark = " (target)" if int(bits) == sp["target_split"] else ""
            click.echo(f"    {bits:>2} of {sp['weight_bits']}: {pct(q['mean'])} +- {100 * q['std']:.2f} pp, "
                       f"{q['macro_energy_uj']:.3f} uJ{mark}")
