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
@click.option("--inputs", "n", default=10, show_default=True, help="random inputs (of the input dtype) to compare on")
@click.option("--input", "-i", "files", multiple=True, type=click.Path(path_type=Path),
              help="real inputs (.npy, .wav, image); repeatable; used instead of random ones")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-litert", is_flag=True, help="skip the LiteRT reference-kernel column")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="write the comparison as JSON")
def command(model: Path, image: Path, n: int, files: tuple[Path, ...], seed: int, no_litert: bool,
            json_out: Path | None) -> None:
    """Compare IMAGE run by the golden model with MODEL run by TFLM; exit 1 on any mismatch."""
    from rich.table import Table

    from cimconv.reader import read_model
    from cimsdk.compare import compare
    from cimsdk.console import console
    from cimsdk.imagefile import image_input, read_weight_image

    read_model(model)  # clear errors for a missing/corrupt model
    img = read_weight_image(image)
    if img.meta.get("model_sha256"):
        import hashlib

        if hashlib.sha256(model.read_bytes()).hexdigest() != img.meta["model_sha256"]:
            raise UserError(f"{image} was converted from another model than {model}; convert {model} again")
    rec = img.tensors[img.input_tensor]
    if files:
        xs = np.concatenate([image_input(img, f) for f in files])
    else:
        rng = np.random.default_rng(seed)
        info = np.iinfo(rec.dtype)  # int8, or the int16 a model's in-graph QUANTIZE reads
        xs = rng.integers(info.min, info.max + 1, size=(n, *rec.shape[1:]), dtype=np.int64).astype(rec.dtype)
    comp = compare(model, img, xs, litert=not no_litert)
    t = Table(title=f"{model.name} vs {image.name} on {len(xs)} input(s)")
    for col in ("#", "op", "elements", "TFLM mismatches", "max |err| LSB", "LiteRT-ref mismatches", "max |err|"):
        t.add_column(col, justify="right" if col not in ("op",) else "left")
    for d in comp.layers:
        t.add_row(str(d.index), d.op, f"{d.elements:,}", str(d.mismatches), str(d.max_err),
                  "-" if d.litert_mismatches is None else str(d.litert_mismatches),
                  "-" if d.litert_max_err is None else str(d.litert_max_err))
    c = console()
    c.print(t)
    if json_out:
        from cimconv.atomic import write_text

        write_text(json_out, json.dumps({"inputs": len(xs), "layers": [vars(d) for d in comp.layers]}, indent=2))
    if comp.mismatches:
        c.print(f"[red]MISMATCH[/]: {comp.mismatches} element(s) differ from TFLM")
        sys.exit(1)
    c.print("bit-exact: every element equals TFLM")
