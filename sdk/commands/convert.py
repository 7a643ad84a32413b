"""`cimsdk convert`: model.tflite -> OUTDIR/{model.cimg, report.json, report.txt, firmware.json}."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cimconv.errors import UserError


def _print_supported() -> None:
    from rich.console import Console
    from rich.table import Table

    from cimconv.opspec import supported_table

    rows = supported_table()
    t = Table(title="Supported TFLite ops")
    # op names whole on any terminal width (UNIDIRECTIONAL_SEQUENCE_LSTM is 28 characters): a script greps them
    longest = max(len(name) for name, _, _ in rows if " " not in name)
    t.add_column("op", min_width=longest, overflow="fold")
    t.add_column("runs on")
    t.add_column("constraints")
    for row in rows:
        t.add_row(*row)
    Console().print(t)


@click.command()
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("--target", "-t", default="nor-acim", show_default=True,
              help="CiM target: a name from converter/targets (sram-dcim, nor-acim, reram-acim, ...) or a .toml file")
@click.option("--board", "-b", default="qemu-virt-rv32", show_default=True,
              help="board whose MCU (clock, cycles per op, pJ per cycle) prices the CPU part (boards/)")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="output folder (default: named after the model)")
@click.option("--supported-ops", is_flag=True, help="print the supported ops table and exit")
@click.option("--json", "as_json", is_flag=True, help="print report.json instead of the table")
@click.option("--quiet", "-q", is_flag=True, help="print only the output folder")
@click.option("--calib", type=click.Path(path_type=Path),
              help="representative inputs (labelled folder, folder of files, or a file; >= 100 frames): "
                   "quantize a float MODEL with them first, and calibrate per-column ADC ranges into the image "
                   "(analog targets)")
@click.option("--cpu-reductions", is_flag=True,
              help="keep AVERAGE_POOL_2D / MEAN on the CPU (exact) instead of running their window sums on the macro "
                   "where the energy model prices that better (analog macros add their error to the sum)")
def command(model: Path | None, target: str, board: str, output: Path | None, supported_ops: bool, as_json: bool, quiet: bool,
            calib: Path | None, cpu_reductions: bool) -> None:
    """Map an int8 TFLite MODEL onto CiM macros and write the weight image and report.

    \b
    Examples:
      cimsdk convert model.tflite                        # -> model/model.cimg, report.txt, report.json
      cimsdk convert model.tflite -t sram-dcim -o out/
      cimsdk convert float_model.tflite --calib data/    # quantizes first
      cimsdk convert --supported-ops
    """
    if supported_ops:
        _print_supported()
        return
    if model is None:
        raise UserError("convert: give a MODEL.tflite (or --supported-ops); e.g. `cimsdk convert kws.tflite`")
    from cimconv.atomic import output_dir
    from cimsdk.api import convert
    from cimsdk.report_view import layer_table, render_text, summary_lines

    quantized = _quantize_if_float(model, calib)  # a float model + --calib: quantize first (cimsdk quantize)
    if quantized is None:
        converted = convert(model, target, board, cpu_reductions=cpu_reductions)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="cimsdk-quant-") as d:
            (Path(d) / "model_int8.tflite").write_bytes(quantized.model)
            converted = convert(Path(d) / "model_int8.tflite", target, board, cpu_reductions=cpu_reductions)
    conv = converted.conversion
    image_bytes, image_sha = conv.image_bytes, conv.image.sha256
    adc_calibrated = calib is not None and not (quantized is not None and (conv.target.exact or not conv.target.adc_bits))
    if adc_calibrated:
        image_bytes, image_sha = _with_calibration(conv, calib)
    out = output or Path(model.stem)
    firmware = converted.firmware_manifest(image_sha)
    with output_dir(out) as tmp:
        (tmp / "model.cimg").write_bytes(image_bytes)
        (tmp / "report.json").write_text(json.dumps(conv.report, indent=2) + "\n")
        (tmp / "report.txt").write_text(render_text(conv.report))
        (tmp / "firmware.json").write_text(json.dumps(firmware, indent=2) + "\n")
        if quantized is not None:
            (tmp / "model_int8.tflite").write_bytes(quantized.model)
            (tmp / "quantize.json").write_text(json.dumps(quantized.report, indent=1, default=float) + "\n")
    if as_json:
        click.echo(json.dumps(conv.report, indent=2))
        return
    if quiet:
        click.echo(str(out))
        return
    from cimsdk.console import console as _console

    console = _console()
    console.print(layer_table(conv.report))
    for line in summary_lines(conv.report):
        console.print(line)
    if adc_calibrated:
        console.print(f"ADC ranges calibrated per column from {calib} (image meta 'adc_calibration')")
    if quantized is not None:
        console.print(f"quantized the float model on {calib} ({quantized.report['route']}): {out}/model_int8.tflite")
    console.print(f"wrote {out}/model.cimg ({len(image_bytes):,} B), report.json, report.txt, firmware.json")


def _quantize_if_float(model: Path, calib: Path | None):
    """For a float model: its int8 quantization on --calib (the intermediate model is kept in the output
    folder); None for an int8 model."""
    from cimconv.quantize import QuantOptions
    from cimconv.quantize.keras_path import is_tf_model
    from cimconv.reader import read_model

    if not is_tf_model(model):
        if not model.is_file() or model.read_bytes()[4:8] != b"TFL3":
            return None  # the converter reports what is wrong with the file
        from cimconv.quantize import is_float_model

        if not is_float_model(read_model(model)):
            return None
    if calib is None:
        raise UserError(f"{model}: a float32 model; give representative inputs with --calib DATA to quantize it "
                        "first (or run `cimsdk quantize` for the calibration choices)")
    from cimsdk.quant.run import default_method, quantize_model

    return quantize_model(model, calib, QuantOptions(method=default_method(model)))


def _with_calibration(conv, calib: Path) -> tuple[bytes, str]:
    """The image rewritten with per-column ADC full scales calibrated on representative inputs in its META
    section ("adc_calibration"), which `cimsdk simulate` applies; the macro's weights are unchanged."""
    from cimconv.image import parse_image, write_image
    from cimsdk.sim import calibrate as cal
    from cimsdk.sim.simulate import load_data

    if conv.target.exact or conv.target.adc_bits == 0:
        raise UserError(f"--calib: target {conv.target.name} is exact digital and has no ADC to calibrate; "
                        "drop --calib or convert for an analog target (e.g. -t nor-acim)")
    img = parse_image(conv.image_bytes)
    x = load_data(img, calib).inputs
    img.meta["adc_calibration"] = cal.calibrate(img, x, conv.target)
    data = write_image(img)
    return data, parse_image(data).sha256
