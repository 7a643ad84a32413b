"""`cimsdk quantize MODEL --calib DATA -o OUT`: a float model in, OUT/model_int8.tflite out (and, with
--eval, where accuracy goes: float, int8 in TFLM, CiM on simulated chips)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--calib", required=True, type=click.Path(path_type=Path),
              help="representative inputs: labelled folder (cimsdk data layouts), folder of files, or a file")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="output folder (default: <model>_int8)")
@click.option("--method", default=None, type=click.Choice(["minmax", "percentile", "mse", "kl"]),
              help="activation range calibration [default: percentile for a float .tflite; minmax, i.e. "
                   "TensorFlow's own converter, for Keras and SavedModel]")
@click.option("--percentile", default=99.99, show_default=True, type=float, help="for --method percentile")
@click.option("--per-tensor", is_flag=True, help="one weight scale per tensor instead of per output channel")
@click.option("--bias-correction/--no-bias-correction", default=True, show_default=True,
              help="correct biases for the mean output shift weight rounding causes")
@click.option("--activations", default="int8", show_default=True, type=click.Choice(["int8", "int16"]),
              help="int16 = 16x8 mode (int16 activations, int8 weights)")
@click.option("--io", default="int8", show_default=True, type=click.Choice(["int8", "float"]),
              help="model input/output type (float adds QUANTIZE/DEQUANTIZE edges)")
@click.option("--eval", "eval_data", type=click.Path(path_type=Path),
              help="also measure float vs int8 (TFLM) vs CiM (simulate) on this data; writes accuracy.json")
@click.option("--target", "-t", default="nor-acim", show_default=True, help="CiM target for --eval and --hwa")
@click.option("--noise", default=None, help="noise preset for --eval (default: the target's)")
@click.option("--trials", default=10, show_default=True, type=click.IntRange(min=1), help="simulated chips for --eval")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--hwa", is_flag=True, help="hardware-aware fine-tuning first (Keras model, labelled --train data)")
@click.option("--train", "train_data", type=click.Path(path_type=Path), help="labelled training data for --hwa")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(min=1), help="--hwa fine-tuning epochs")
@click.option("--noise-level", default=1.0, show_default=True, type=float,
              help="noise for --hwa training and the --eval CiM rows, as a multiple of the preset's")
@click.option("--age", default="0s", show_default=True, help="drift age for --hwa training and the --eval CiM rows, e.g. 1y")
@click.option("--clip-sigmas", default=2.0, show_default=True, type=float,
              help="--hwa: clip each output channel to this many RMS after every step (0: off)")
def command(model: Path, calib: Path, out: Path | None, method: str | None, percentile: float, per_tensor: bool,
            bias_correction: bool, activations: str, io: str, eval_data: Path | None, target: str,
            noise: str | None, trials: int, seed: int, hwa: bool, train_data: Path | None, epochs: int,
            noise_level: float, age: str, clip_sigmas: float) -> None:
    """Quantize a float MODEL (.tflite, Keras .keras/.h5, or a SavedModel folder) to an int8 TFLite model.

    \b
    Examples:
      cimsdk quantize model_float.tflite --calib clips/  # -> model_float_int8/
      cimsdk quantize model.keras --calib clips/ --method percentile --eval clips/
    """
    from cimconv.atomic import output_dir
    from cimconv.errors import UserError
    from cimconv.quantize import QuantOptions
    from cimsdk.quant.run import check_float_model, default_method, quantize_model

    check_float_model(model)
    method = method or default_method(model)
    opts = QuantOptions(method=method, percentile=percentile, per_channel=not per_tensor,
                        bias_correction=bias_correction, activations=activations, io=io)
    opts.check()
    out = out or Path(f"{model.stem}_int8")
    src = model
    hwa_report = None
    with output_dir(out) as tmp:
        if hwa:
            from cimsdk.quant.hwa import fine_tune_file

            if train_data is None:
                raise UserError("--hwa needs --train DATA: a labelled folder to fine-tune on")
            hwa_report = fine_tune_file(model, train_data, target, noise, noise_level, age, epochs, seed,
                                        tmp / "model_hwa.keras", clip_sigmas)
            src = tmp / "model_hwa.keras"
        res = quantize_model(src, calib, opts)
        (tmp / "model_int8.tflite").write_bytes(res.model)
        if hwa_report is not None:
            res.report["hwa"] = hwa_report
        (tmp / "quantize.json").write_text(json.dumps(res.report, indent=1, default=float) + "\n")
        acc = None
        if eval_data is not None:
            from cimsdk.quant.evaluate import accuracy_table, table_lines
            from cimsdk.sim.noise import parse_age

            acc = accuracy_table(src, tmp / "model_int8.tflite", eval_data, target, noise, trials, seed,
                                 calib=calib, noise_level=noise_level, age_s=parse_age(age))
            acc["int8_model"] = str(out / "model_int8.tflite")
            (tmp / "accuracy.json").write_text(json.dumps(acc, indent=1, default=float) + "\n")
    click.echo(f"quantized {model} ({res.report.get('route')}; per-channel weights: {not per_tensor}, "
               f"bias correction: {res.report['options'].get('bias_correction')}, activations {activations}) "
               f"on {res.report['calibration_inputs']} calibration inputs in {res.report['seconds']:.1f} s")
    if hwa_report is not None:
        click.echo(f"hardware-aware fine-tuning: {hwa_report['summary']}")
    if acc is not None:
        for line in table_lines(acc):
            click.echo(line)
    written = "model_int8.tflite, quantize.json" + (", accuracy.json" if acc else "")
    click.echo(f"wrote {out}/{{{written}}}; next: cimsdk convert {out}/model_int8.tflite -t {target}")
