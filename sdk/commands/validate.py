"""`cimsdk validate --port PORT IMAGE [--inputs N]`: the device against the host golden model.

Like STM32Cube.AI's validate on target: the same inputs run on the board and on the host,
outputs are compared element by element; any mismatch is a non-zero exit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--port", "-p", required=True, envvar="CIMSDK_PORT",
              help="serial port, pty, or socket://HOST:PORT of the emulated board (env CIMSDK_PORT)")
@click.option("--baud", default=115200, show_default=True, help="UART baud rate")
@click.option("--inputs", "n_random", default=10, show_default=True,
              help="random inputs to run (floats over the input range for a float-edged model, frames of one "
                   "stream for a stateful model)")
@click.option("--input", "-i", "files", multiple=True, type=click.Path(path_type=Path),
              help="also run these inputs (.npy, .npz, .wav, image); repeatable")
@click.option("--seed", default=0, show_default=True, help="seed of the random inputs")
@click.option("--timeout", default=120.0, show_default=True, help="seconds to wait for one inference")
@click.option("--force-load", is_flag=True, help="upload the image even when the device already holds it")
@click.option("--report", type=click.Path(path_type=Path), help="write the comparison as JSON here")
def command(image: Path, port: str, baud: int, n_random: int, files: tuple[Path, ...], seed: int,
            timeout: float, force_load: bool, report: Path | None) -> None:
    """Run IMAGE on the device and on the host golden model; exit 1 if any output differs.

    \b
    Examples:
      cimsdk validate model/ -p auto --inputs 20
      cimsdk validate model/model.cimg -p /dev/ttyUSB0 -i yes.wav --report validate.json
    """
    import sys

    from rich.console import Console
    from rich.table import Table

    from cimconv.errors import UserError
    from cimconv.image import parse_image
    from cimsdk.device import Device, ensure_image
    from cimsdk.golden import Executor
    from cimsdk.golden.edges import program_inputs, random_inputs
    from cimsdk.imagefile import model_inputs, read_weight_image_bytes

    if n_random < 0:
        raise UserError(f"--inputs {n_random}: give a count >= 0")
    image, data = read_weight_image_bytes(image)
    img = parse_image(data, where=str(image))
    golden = Executor(img)
    in_recs = [img.tensors[io.tensor] for io in img.inputs]
    out_recs = [img.tensors[io.tensor] for io in img.outputs]
    in_bytes, out_bytes = sum(r.nbytes for r in in_recs), sum(r.nbytes for r in out_recs)
    # The program's int8 codes of every input: random edge values (and the files' values) quantized on the
    # host as the model's own edge QUANTIZE does; device and golden model run the same codes.
    parts = [program_inputs(img, random_inputs(img, n_random, np.random.default_rng(seed)))]
    if files:
        parts.append(program_inputs(img, model_inputs(img, files)))
    xs = [np.concatenate([p[i] for p in parts], axis=0) for i in range(len(in_recs))]
    n_items = xs[0].shape[0]
    if n_items == 0:
        raise UserError("nothing to validate: give --inputs N > 0 or --input FILE")
    console = Console(stderr=True)

    with Device(port, baudrate=baud, open_timeout=2.0) as dev:
        dev.ping()
        info = dev.info()
        if img.target and info.image_target and info.image_target != img.target and info.image_loaded:
            console.print(f"device held an image for target {info.image_target}; replacing it")
        uploaded = ensure_image(dev, data, force=force_load)
        info = dev.info()
        if info.input_size != in_bytes or info.output_size != out_bytes:
            raise UserError(f"device reports input/output of {info.input_size}/{info.output_size} bytes, "
                            f"{image} has {in_bytes}/{out_bytes}; the firmware is out of date")
        dev_raw = np.empty((n_items, out_bytes), np.uint8)
        if golden.stateful:  # the inputs are frames of one stream from its first frame, on both sides
            dev.reset_state()
        instret = []
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("device inferences", total=n_items)
            for i in range(n_items):
                raw, c = dev.run(b"".join(x[i].tobytes() for x in xs), out_bytes, timeout=timeout)
                dev_raw[i] = np.frombuffer(raw, np.uint8)
                instret.append(c["instret"])
                bar.advance(task)
        counters = dev.counters()

    # Compared on the program's outputs (int8 codes, or the int16/int32 values its own QUANTIZE or SOFTMAX
    # writes), all outputs side by side in the model's order; the host edge DEQUANTIZE is the same function
    # of them on both sides. A stateful model's items are frames of one stream on both sides.
    cuts = np.cumsum([r.nbytes for r in out_recs])[:-1]
    # (a float32 output, of a floating-point target, is compared bit for bit: its bits as int32)
    def as_int(a: np.ndarray, dtype: str) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=dtype)
        return (a.view(np.int32) if dtype == "float32" else a).reshape(n_items, -1).astype(np.int64)

    dev_out = np.concatenate([as_int(part.copy().view(r.dtype), r.dtype)
                              for part, r in zip(np.split(dev_raw, cuts, axis=1), out_recs, strict=True)], axis=1)
    host_out = np.concatenate([as_int(np.asarray(y), r.dtype)
                               for y, r in zip(golden.run_frames_all(xs), out_recs, strict=True)], axis=1)
    diff = np.abs(dev_out - host_out)
    per_output_mismatch = (diff != 0).sum(axis=0)
    per_output_max = diff.max(axis=0)
    first = math.prod(out_recs[0].shape[1:])
    def top1(a: np.ndarray) -> np.ndarray:
        a = a[:, :first]
        return (a.astype(np.int32).view(np.float32) if out_recs[0].dtype == "float32" else a).argmax(1)

    top1_agree = int((top1(dev_out) == top1(host_out)).sum())
    total_mismatch = int((diff != 0).sum())

    table = Table(title=f"{image.name} on {info.board} ({info.backend}) vs host golden model")
    table.add_column("output", justify="right")
    table.add_column("mismatches", justify="right")
    table.add_column("max |error|", justify="right")
    n_out = diff.shape[1]
    shown = range(n_out) if n_out <= 32 else [int(i) for i in np.argsort(-per_output_mismatch)[:16]]
    for j in shown:
        table.add_row(str(j), f"{per_output_mismatch[j]}/{n_items}", str(per_output_max[j]))
    Console().print(table)
    click.echo(f"inputs {n_items} ({n_random} random, {n_items - n_random} from files); "
               f"image {'uploaded' if uploaded else 'already on device'}; "
               f"mismatching elements {total_mismatch}/{diff.size}; max error {int(diff.max())}; "
               f"top-1 agreement {top1_agree}/{n_items}; "
               f"instret/inference {int(np.mean(instret))}; arena used {info.arena_used} B")
    if report:
        from cimconv.atomic import write_text

        write_text(report, json.dumps({
            "image": str(image), "sha256": img.sha256, "device": info.as_dict(), "inputs": int(n_items),
            "mismatching_elements": total_mismatch, "elements": int(diff.size), "max_error": int(diff.max()),
            "per_output_mismatches": per_output_mismatch.tolist(), "per_output_max_error": per_output_max.tolist(),
            "top1_agreement": top1_agree, "instret": instret, "counters": counters,
        }, indent=2))
    if total_mismatch:
        click.echo("FAIL: the device differs from the host golden model", err=True)
        sys.exit(1)
    click.echo("PASS: bit-exact")
