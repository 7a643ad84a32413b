"""`cimsdk run IMAGE --input X -o Y.npy`: the host golden model, batched."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--input", "-i", "inputs", multiple=True, required=True, type=click.Path(path_type=Path),
              help=".npy (batch allowed), .wav, or an image file; repeatable")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="write outputs (B, ...) int8 to this .npy")
@click.option("--stream/--batch", default=None,
              help="inputs as consecutive frames of one stream, the state carried (default for images with "
                   "state, e.g. SVDF), or as independent inputs")
def command(image: Path, inputs: tuple[Path, ...], output: Path | None, stream: bool | None) -> None:
    """Run a weight IMAGE on the host golden model (bit-exact to TFLM where the hardware is exact)."""
    from cimsdk.imagefile import image_input, read_weight_image

    img = read_weight_image(image)
    x = np.concatenate([image_input(img, p) for p in inputs], axis=0)
    from cimsdk.golden import Executor

    ex = Executor(img)
    y = ex.run_frames(x) if (ex.stateful if stream is None else stream) else ex.run(x)
    if output:
        import io

        from cimconv.atomic import write_bytes

        buf = io.BytesIO()
        np.save(buf, y)
        write_bytes(output, buf.getvalue())
    labels = img.meta.get("labels")
    for i, row in enumerate(y.reshape(y.shape[0], -1)):
        top = int(np.argmax(row))
        name = f" ({labels[top]})" if labels and top < len(labels) else ""
        click.echo(f"{i}: top-1 {top}{name}  {row.tolist() if row.size <= 16 else ''}")
