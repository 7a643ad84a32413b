"""`cimsdk device info|run|counters --port PORT`: talk to the console of a board running cimsdk firmware."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from cimconv.errors import UserError

_port = click.option("--port", "-p", required=True, envvar="CIMSDK_PORT",
                     help="serial port, pty, or socket://HOST:PORT of the emulated board (env CIMSDK_PORT)")
_baud = click.option("--baud", default=115200, show_default=True, help="UART baud rate")
_timeout = click.option("--timeout", default=60.0, show_default=True, help="seconds to wait for one inference")


def _open(port: str, baud: int):
    from cimsdk.device import Device

    dev = Device(port, baudrate=baud, open_timeout=2.0)
    try:
        dev.ping()
        dev.app_info()  # waits out a boot window; a clear error when the board sits in its bootloader
    except BaseException:
        dev.close()
        raise
    return dev


@click.group()
def command() -> None:
    """Query and run the model on a board over its serial console (docs/serial-protocol.md)."""


@command.command()
@_port
@_baud
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def info(port: str, baud: int, as_json: bool) -> None:
    """Board, firmware, backend, arena, and the loaded image (size, SHA-256, target)."""
    with _open(port, baud) as dev:
        d = dev.app_info().as_dict()
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    for key, value in d.items():
        click.echo(f"{key:15s} {value}")


@command.command()
@_port
@_baud
def counters(port: str, baud: int) -> None:
    """Counters of the last inference (cycles, instret) and totals (CiM ops, wait instructions)."""
    with _open(port, baud) as dev:
        for key, value in dev.counters().items():
            click.echo(f"{key:12s} {value}")


def _inputs_without_image(paths: tuple[Path, ...], input_size: int) -> np.ndarray:
    """Raw .npy inputs when the host has no image to tell shapes: int8, a multiple of the input size."""
    batches = []
    for p in paths:
        if p.suffix.lower() != ".npy":
            raise UserError(f"{p}: without --image only .npy inputs are accepted; pass --image IMAGE for .wav/images")
        try:
            x = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {p} as a .npy array ({exc}); save it with numpy.save") from exc
        if x.dtype != np.int8:
            raise UserError(f"{p}: array dtype {x.dtype}, the device takes int8; convert it (x.astype(np.int8))")
        if x.size == 0 or x.size % input_size:
            raise UserError(f"{p}: {x.size} values is not a multiple of the device's input size {input_size}")
        batches.append(x.reshape(-1, input_size))
    return np.concatenate(batches, axis=0)


@command.command()
@_port
@_baud
@_timeout
@click.option("--input", "-i", "inputs", multiple=True, required=True, type=click.Path(path_type=Path),
              help=".npy (batch allowed); with --image also .wav or an image file; repeatable")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="write the outputs (N, ...) int8 to this .npy")
@click.option("--image", type=click.Path(path_type=Path),
              help="weight image: uploaded when the device does not hold it, gives input/output shapes")
@click.option("--stream", is_flag=True,
              help="start a new stream: reset the device's state (a stateful model, e.g. SVDF), then run the "
                   "inputs as its frames in order (without it, frames continue the device's state)")
def run(port: str, baud: int, timeout: float, inputs: tuple[Path, ...], output: Path | None,
        image: Path | None, stream: bool) -> None:
    """Run inputs on the device and print top-1 and per-inference counters."""
    from cimsdk.device import ensure_image

    img = None
    if image is not None:
        from cimconv.image import parse_image
        from cimsdk.imagefile import image_input, read_weight_image_bytes

        image, image_bytes = read_weight_image_bytes(image)
        img = parse_image(image_bytes, where=str(image))
    with _open(port, baud) as dev:
        if img is not None:
            ensure_image(dev, image_bytes)
        info = dev.app_info()
        if not info.image_loaded:
            raise UserError(f"no image is loaded on the device at {port}; pass --image IMAGE "
                            "(or load one with cimsdk validate --port PORT IMAGE)")
        if img is not None:
            x = np.concatenate([image_input(img, p) for p in inputs], axis=0)
            out_shape = tuple(img.tensors[img.output_tensor].shape[1:])
            out_dtype = np.dtype(img.tensors[img.output_tensor].dtype)
        else:
            x = _inputs_without_image(inputs, info.input_size)
            out_shape = (info.output_size,)
            out_dtype = np.dtype(np.int8)
        if stream:
            dev.reset_state()
        if x[0].nbytes != info.input_size:
            raise UserError(f"input of {x[0].nbytes} bytes, the device's model takes {info.input_size}; "
                            "is the image on the device the one you meant (--image)?")
        ys = []
        for i in range(x.shape[0]):
            raw, c = dev.run(x[i].tobytes(), info.output_size, timeout=timeout)
            y = np.frombuffer(raw, out_dtype).reshape(out_shape)
            ys.append(y)
            top = int(np.argmax(y))
            row = y.reshape(-1)
            shown = f" {row.tolist()}" if row.size <= 16 else ""
            click.echo(f"{i}: top-1 {top}  cycles {c['cycles']}  instret {c['instret']}{shown}")
    y = np.stack(ys)
    if output:
        import io

        from cimconv.atomic import write_bytes

        buf = io.BytesIO()
        np.save(buf, y)
        write_bytes(output, buf.getvalue())
