"""`cimsdk data`: make a labelled keyword set, and measure a model's accuracy on a labelled folder."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group(name="data")
def command() -> None:
    """Labelled data sets: synthesise keyword clips, measure top-1 accuracy."""


@command.command(name="kws-synth")
@click.option(
    "-o",
    "--output",
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="output folder",
)
@click.option(
    "--per-word",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="clips per label (12 labels)",
)
@click.option("--seed", default=0, show_default=True, type=int, help="random seed (same seed, same clips)")
@click.option(
    "--jobs", default=2, show_default=True, type=click.IntRange(min=1), help="parallel espeak-ng processes"
)
def kws_synth(out: Path, per_word: int, seed: int, jobs: int) -> None:
    """Synthesise 1 s, 16 kHz keyword clips with espeak-ng: one folder per KWS label plus labels.txt.

    \b
    Examples:
      cimsdk data kws-synth -o clips/ --per-word 20
    """
    from cimsdk.data.synth import generate

    summary = generate(out, per_word=per_word, seed=seed, workers=jobs, progress=True)
    click.echo(f"wrote {summary['clips']} clips ({per_word} per label, seed {seed}) to {out}")


@command.command(name="accuracy")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="also write the report as JSON",
)
def accuracy(model: Path, folder: Path, json_out: Path | None) -> None:
    """Top-1 accuracy of MODEL (run by TFLM) on FOLDER (one sub-folder per label).

    \b
    Examples:
      cimsdk data accuracy model.tflite clips/ --json accuracy.json
    """
    from cimconv import atomic
    from cimconv.errors import UserError
    from cimsdk.data.accuracy import evaluate

    if not model.is_file():
        raise UserError(f"model not found: {model}; give a .tflite file")
    rep = evaluate(model, folder, progress=True)
    click.echo(
        f"top-1 accuracy: {rep['top1']:.2%} ({rep['correct']}/{rep['n']}), front end: {rep['frontend']}"
    )
    width = max(len(n) for n in rep["per_label"])
    for name, r in rep["per_label"].items():
        click.echo(f"  {name:<{width}}  {r['accuracy']:7.1%}  ({r['correct']}/{r['n']})")
    if rep["top_confusions"]:
        click.echo("most frequent confusions (true -> predicted):")
        for e in rep["top_confusions"][:5]:
            click.echo(f"  {e['true']} -> {e['predicted']}: {e['count']}")
    if json_out is not None:
        atomic.write_text(json_out, json.dumps(rep, indent=1) + "\n")
        click.echo(f"wrote {json_out}")
