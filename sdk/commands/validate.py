"""`cimsdk validate --port PORT IMAGE [--inputs N]`: the device against the host golden model.

Like STM32Cube.AI's validate on target: the same inputs run on the board and on the host,
outputs are compared element by element; any mismatch is a non-zero exit.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--port", "-p", required=True, envvar="CIMSDK_PORT",
              help="serial port, pty, or socket://HOST:PORT of the emulated board (env CIMSDK_PORT)")
@click.option("--baud", default=115200, show_default=True, help="UART baud rate")
@click.option("--inputs", "n_random", default=10, show_default=True,
              help="random inputs to run (frames of one stream for a stateful model)")
@click.option("--input", "-i", "files", multiple=True, type=click.Path(path_type=Path),
              help="also run these inputs (.npy, .wav, image); repeatable")
@click.option("--seed", default=0, show_default=True, help="seed of the random inputs")
@click.option("--timeout", default=120.0, show_default=True, help="seconds to wait for one inference")
@click.option("--force-load", is_flag=True, help="upload the image even when the device already holds it")
@click.option("--report", type=click.Path(path_type=Path), help="write the comparison as JSON here")
def command(image: Path, port: str, baud: int, n_random: int, files: tuple[Path, ...], seed: int,
            timeout: float, force_load: bool, report: Path | None) -> None:
    """Run IMAGE on the device and on the host golden model; exit 1 if any output differs."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from cimconv.errors import UserError
    from cimconv.image import parse_image
    from cimsdk.device import Device, ensure_image
    from cimsdk.golden import Executor
    from cimsdk.imagefile import image_input, read_weight_image_bytes

    if n_random < 0:
        raise UserError(f"--inputs {n_random}: give a count >= 0")
    image, data = read_weight_image_bytes(image)
    img = parse_image(data, where=str(image))
    golden = Executor(img)
    in_rec = img.tensors[img.input_tensor]
    out_rec = img.tensors[img.output_tensor]
    rng = np.random.default_rng(seed)
    lo, hi = np.iinfo(in_rec.dtype).min, np.iinfo(in_rec.dtype).max  # int8, or an int16 model input
    batches = [rng.integers(lo, hi + 1, (n_random, *in_rec.shape[1:]), dtype=np.int64).astype(in_rec.dtype)]
    batches += [image_input(img, p) for p in files]
    x = np.concatenate(batches, axis=0)
    if x.shape[0] == 0:
        raise UserError("nothing to validate: give --inputs N > 0 or --input FILE")
    console = Console(stderr=True)

    with Device(port, baudrate=baud, open_timeout=2.0) as dev:
        dev.ping()
        info = dev.info()
        if img.target and info.image_target and info.image_target != img.target and info.image_loaded:
            console.print(f"device held an image for target {info.image_target}; replacing it")
        uploaded = ensure_image(dev, data, force=force_load)
        info = dev.info()
        if info.input_size != in_rec.nbytes or info.output_size != out_rec.nbytes:
            raise UserError(f"device reports input/output of {info.input_size}/{info.output_size} bytes, "
                            f"{image} has {in_rec.nbytes}/{out_rec.nbytes}; the firmware is out of date")
        dev_out = np.empty((x.shape[0], *out_rec.shape[1:]), out_rec.dtype)
        if golden.stateful:  # the inputs are frames of one stream from its first frame, on both sides
            dev.reset_state()
        instret = []
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("device inferences", total=x.shape[0])
            for i in range(x.shape[0]):
                raw, c = dev.run(x[i].tobytes(), out_rec.nbytes, timeout=timeout)
                dev_out[i] = np.frombuffer(raw, out_rec.dtype).reshape(out_rec.shape[1:])
                instret.append(c["instret"])
                bar.advance(task)
        counters = dev.counters()

    host_out = np.asarray(golden.run_frames(x)).reshape(dev_out.shape)
    diff = np.abs(dev_out.astype(np.int64) - host_out.astype(np.int64)).reshape(x.shape[0], -1)
    per_output_mismatch = (diff != 0).sum(axis=0)
    per_output_max = diff.max(axis=0)
    top1_agree = int((dev_out.reshape(x.shape[0], -1).argmax(1) == host_out.reshape(x.shape[0], -1).argmax(1)).sum())
    total_mismatch = int((diff != 0).sum())

    table = Table(title=f"{image.name} on {info.board} ({info.backend}) vs host golden model")
    table.add_column("output", justify="right")
    table.add_column("mismatches", justify="right")
    table.add_column("max |error|", justify="right")
    n_out = diff.shape[1]
    shown = range(n_out) if n_out <= 32 else [int(i) for i in np.argsort(-per_output_mismatch)[:16]]
    for j in shown:
        table.add_row(str(j), f"{per_output_mismatch[j]}/{x.shape[0]}", str(per_output_max[j]))
    Console().print(table)
    click.echo(f"inputs {x.shape[0]} ({n_random} random, {x.shape[0] - n_random} from files); "
               f"image {'uploaded' if uploaded else 'already on device'}; "
               f"mismatching elements {total_mismatch}/{diff.size}; max error {int(diff.max())}; "
               f"top-1 agreement {top1_agree}/{x.shape[0]}; "
               f"instret/inference {int(np.mean(instret))}; arena used {info.arena_used} B")
    if report:
        from cimconv.atomic import write_text

        write_text(report, json.dumps({
            "image": str(image), "sha256": img.sha256, "device": info.as_dict(), "inputs": int(x.shape[0]),
            "mismatching_elements": total_mismatch, "elements": int(diff.size), "max_error": int(diff.max()),
            "per_output_mismatches": per_output_mismatch.tolist(), "per_output_max_error": per_output_max.tolist(),
            "top1_agreement": top1_agree, "instret": instret, "counters": counters,
        }, indent=2))
    if total_mismatch:
        click.echo("FAIL: the device differs from the host golden model", err=True)
        sys.exit(1)
    click.echo("PASS: bit-exact")
