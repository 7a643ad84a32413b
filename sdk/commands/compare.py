"""`cimsdk compare MODEL IMAGE`: the golden model against TFLM (and LiteRT reference), layer by layer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from cimconv.errors import UserError


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--inputs", "n", default=10, show_default=True,
              help="random inputs to compare on (floats over the input range for a float-edged model, frames of one stream for a stateful one)")
@click.option("--input", "-i", "files", multiple=True, type=click.Path(path_type=Path),
              help="real inputs (.npy, .npz, .wav, image); repeatable; used instead of random ones")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-litert", is_flag=True, help="skip the LiteRT reference-kernel column")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="write the comparison as JSON")
def command(model: Path, image: Path, n: int, files: tuple[Path, ...], seed: int, no_litert: bool,
            json_out: Path | None) -> None:
    """Compare IMAGE run by the golden model with MODEL run by TFLM; exit 1 on any mismatch.

    \b
    Examples:
      cimsdk compare model.tflite model/                 # 100 random inputs, golden vs TFLM
      cimsdk compare model.tflite model/model.cimg -i yes.wav -i no.wav
      cimsdk compare model.tflite model/ --inputs 1000 --json compare.json
    """
    from rich.table import Table

    from cimconv.reader import read_model
    from cimsdk.compare import compare
    from cimsdk.console import console
    from cimsdk.golden.edges import random_inputs
    from cimsdk.imagefile import model_inputs, read_weight_image

    read_model(model)  # clear errors for a missing/corrupt model
    img = read_weight_image(image)
    if img.meta.get("model_sha256"):
        import hashlib

        if hashlib.sha256(model.read_bytes()).hexdigest() != img.meta["model_sha256"]:
            raise UserError(f"{image} was converted from another model than {model}; convert {model} again")
    if files:
        xs = model_inputs(img, files)
        xs = [_edge_values(img, i, x) for i, x in enumerate(xs)]
    else:
        if n < 1:
            raise UserError(f"--inputs {n}: give a count >= 1")
        xs = random_inputs(img, n, np.random.default_rng(seed))
    from cimsdk.fp_compare import is_float_image

    if is_float_image(img):  # a floating-point target: error statistics, not bit-exactness
        _float_report(model, image, img, xs[0], json_out)
        return
    comp = compare(model, img, xs, litert=not no_litert)
    t = Table(title=f"{model.name} vs {image.name} on {comp.inputs} input(s)")
    for col in ("#", "op", "elements", "TFLM mismatches", "max |err| LSB", "LiteRT-ref mismatches", "max |err|"):
        t.add_column(col, justify="right" if col not in ("op",) else "left")
    for d in comp.layers:
        t.add_row("edge" if d.edge else str(d.index), d.op + (" (host)" if d.edge else ""), f"{d.elements:,}", str(d.mismatches), str(d.max_err),
                  "-" if d.litert_mismatches is None else str(d.litert_mismatches),
                  "-" if d.litert_max_err is None else str(d.litert_max_err))
    c = console()
    c.print(t)
    if json_out:
        from cimconv.atomic import write_text

        write_text(json_out, json.dumps({"inputs": comp.inputs, "layers": [vars(d) for d in comp.layers]}, indent=2))
    if comp.mismatches:
        c.print(f"[red]MISMATCH[/]: {comp.mismatches} element(s) differ from TFLM")
        sys.exit(1)
    c.print("bit-exact: every element equals TFLM")


def _float_report(model: Path, image: Path, img, xs: np.ndarray, json_out: Path | None) -> None:
    """A floating-point image against its float model: per-op error and what the exponent alignment adds."""
    from rich.table import Table

    from cimsdk.console import console
    from cimsdk.fp_compare import compare_float

    comp = compare_float(model, img, xs)

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.3f}%"

    t = Table(title=f"{model.name} (float, LiteRT reference kernels) vs {image.name} on {comp.inputs} input(s); "
                    f"alignment group {comp.align_group} rows")
    for col in ("#", "op", "elements", "max |err|", "rel. RMS err", "BF16 alone", "macro", "alignment adds"):
        t.add_column(col, justify="left" if col == "op" else "right")
    for d in comp.layers:
        t.add_row(str(d.index), d.op, f"{d.elements:,}", f"{d.max_abs:.4g}", pct(d.rel_rms), pct(d.bf16_rel_rms),
                  pct(d.macro_rel_rms), pct(d.alignment_rel_rms))
    c = console()
    c.print(t)
    c.print("end to end: each op's output against the float model's tensor; BF16 alone / macro / alignment adds: "
            "the CiM op on the float model's own input against exact float64 (docs/targets.md)")
    c.print(f"top-1 agreement with the float model: {comp.top1_agree} of {comp.inputs} ({100 * comp.agreement:.1f}%)")
    if json_out:
        from cimconv.atomic import write_text

        write_text(json_out, json.dumps({"inputs": comp.inputs, "align_group": comp.align_group,
                                         "top1_agree": comp.top1_agree, "layers": [vars(d) for d in comp.layers]},
                                        indent=2))


def _edge_values(img, index: int, x: np.ndarray) -> np.ndarray:
    """TFLM takes the model's own input type: int8 codes given for a float/uint8 edge become the values they
    stand for (exactly: each code's value quantizes back to the code)."""
    from cimsdk.golden.edges import dequantize

    io = img.inputs[index]
    if x.dtype != np.int8 or io.edge_dtype == "int8":
        return x
    if io.edge_dtype == "float32":
        return dequantize(x, io.scale, io.zero_point)
    raise UserError(f"input {img.io_names(0)[index]} of the model is uint8; give uint8 values, not int8 codes")
