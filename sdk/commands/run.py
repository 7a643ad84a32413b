"""`cimsdk run IMAGE --input X -o Y.npy`: the host golden model, batched."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np


def print_outputs(img, ys: list[np.ndarray], echo=click.echo) -> None:
    """Per item: top-1 of each output (with the image's labels for a one-output model) and small outputs."""
    labels = img.meta.get("labels") if len(ys) == 1 else None
    names = img.io_names(1)
    for i in range(len(ys[0])):
        parts = []
        for name, y in zip(names, ys, strict=True):
            row = y[i].reshape(-1)
            top = int(np.argmax(row))
            label = f" ({labels[top]})" if labels and top < len(labels) else ""
            head = f"{name}: " if len(ys) > 1 else ""
            values = f"  {np.round(row, 6).tolist() if row.dtype.kind == 'f' else row.tolist()}" if row.size <= 16 else ""
            parts.append(f"{head}top-1 {top}{label}{values}")
        echo(f"{i}: " + "; ".join(parts))


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--input", "-i", "inputs", multiple=True, required=True, type=click.Path(path_type=Path),
              help=".npy (batch allowed), .wav, an image file, or .npz (one array per model input, named after "
                   "the inputs); repeatable; float values for a float-edged model")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="write the outputs (B, ...) as the model returns them (float32 for a float-edged model) to this "
                   ".npy, or .npz (one array per output, named after the outputs)")
@click.option("--stream/--batch", default=None,
              help="inputs as consecutive frames of one stream, the state carried (default for images with "
                   "state, e.g. SVDF), or as independent inputs")
def command(image: Path, inputs: tuple[Path, ...], output: Path | None, stream: bool | None) -> None:
    """Run a weight IMAGE on the host golden model (bit-exact to TFLM where the hardware is exact).

    \b
    Examples:
      cimsdk run model/ -i yes.wav
      cimsdk run model/model.cimg -i batch.npy -o outputs.npy
      cimsdk run model/ -i frames.npy --stream             # one stream: state carried frame to frame
    """
    from cimsdk.golden import Executor
    from cimsdk.imagefile import model_inputs, read_weight_image, save_outputs

    img = read_weight_image(image)
    ex = Executor(img)
    ys = ex.predict(model_inputs(img, inputs), frames=ex.stateful if stream is None else stream)
    if output:
        save_outputs(output, img, ys)
    print_outputs(img, ys)
