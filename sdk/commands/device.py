"""`cimsdk device info|run|counters --port PORT`: talk to the console of a board running cimsdk firmware."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from cimconv.errors import UserError

_port = click.option("--port", "-p", required=True, envvar="CIMSDK_PORT",
                     help="serial port, pty, socket://HOST:PORT or HOST:PORT of the emulated board, or auto: the "
                          "one board that answers (env CIMSDK_PORT)")
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


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("--no-probe", is_flag=True, help="list the ports without asking each for a cimsdk board")
@click.option("--timeout", default=1.0, show_default=True, help="seconds each port has to answer a PING")
def list_(as_json: bool, no_probe: bool, timeout: float) -> None:
    """USB serial ports (pyserial) and running emulated boards; which ones a cimsdk board answers on.

    \b
    Examples:
      cimsdk device list
      cimsdk device list --json
      cimsdk device info --port auto      # the one board that answers
    """
    from cimsdk.transport.ports import list_ports

    found = list_ports(probe_ports=not no_probe, timeout=timeout)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in found], indent=2))
        return
    if not found:
        click.echo("no USB serial ports and no running emulated boards (start one: cimsdk emulate)")
        return
    for p in found:
        state = "" if p.answers is None else ("answers: " + (p.board or "?") + f" ({p.role})" if p.answers
                                              else "no cimsdk board")
        click.echo(f"{p.url:32s} {p.kind:9s} {state:40s} {p.description}")


@command.command()
@_port
@_baud
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def info(port: str, baud: int, as_json: bool) -> None:
    """Board, firmware, backend, arena, and the loaded image (size, SHA-256, target).

    \b
    Examples:
      cimsdk device info -p auto
      cimsdk device info -p /dev/ttyUSB0 --json
    """
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
    """Counters of the last inference (cycles, instret) and totals (CiM ops, wait instructions).

    \b
    Examples:
      cimsdk device counters -p 127.0.0.1:4321
    """
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
              help=".npy (batch allowed); with --image also .npz (one array per model input), .wav or an image "
                   "file, and float values for a float-edged model; repeatable")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="write the outputs (N, ...) to this .npy (.npz: one array per model output); with --image as "
                   "the model returns them (float32 for a float-edged model), else the int8 bytes")
@click.option("--image", type=click.Path(path_type=Path),
              help="weight image: uploaded when the device does not hold it, gives input/output shapes")
@click.option("--stream", is_flag=True,
              help="start a new stream: reset the device's state (a stateful model, e.g. SVDF), then run the "
                   "inputs as its frames in order (without it, frames continue the device's state)")
def run(port: str, baud: int, timeout: float, inputs: tuple[Path, ...], output: Path | None,
        image: Path | None, stream: bool) -> None:
    """Run inputs on the device and print top-1 and per-inference counters.

    The edges of a float- or uint8-edged model (QUANTIZE in, DEQUANTIZE out) run on the host, with the
    image's scales and zero points; the device computes on int8 codes (docs/edges.md). An int16 input or an
    int16/int32 output is the program's own (its QUANTIZE/SOFTMAX), sent and read as it is.

    \b
    Examples:
      cimsdk device run -p auto -i yes.npy
      cimsdk device run -p /dev/ttyUSB0 --image model/model.cimg -i batch.npy -o outputs.npy
      cimsdk device run -p auto -i frames.npy --stream    # a new stream: the device's state reset first
    """
    from cimsdk.device import ensure_image

    img = None
    if image is not None:
        from cimconv.image import parse_image
        from cimsdk.golden.edges import model_outputs, program_inputs
        from cimsdk.imagefile import model_inputs, read_weight_image_bytes, save_outputs

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
            xs = program_inputs(img, model_inputs(img, inputs))
            out_recs = [img.tensors[io.tensor] for io in img.outputs]
        else:
            xs = [_inputs_without_image(inputs, info.input_size)]
            out_recs = None
        if stream:
            dev.reset_state()
        item_bytes = sum(x[0].nbytes for x in xs)
        if item_bytes != info.input_size:
            raise UserError(f"input of {item_bytes} bytes, the device's model takes {info.input_size}; "
                            "is the image on the device the one you meant (--image)?")
        raw_outs, counts = [], []
        for i in range(len(xs[0])):
            raw, c = dev.run(b"".join(x[i].tobytes() for x in xs), info.output_size, timeout=timeout)
            raw_outs.append(np.frombuffer(raw, np.uint8))
            counts.append(c)
    flat = np.stack(raw_outs)
    if out_recs is None:
        flat = flat.view(np.int8)
        ys = [flat]
    else:
        cuts = np.cumsum([r.nbytes for r in out_recs])[:-1]
        ys = model_outputs(img, [part.copy().view(r.dtype).reshape((len(flat), *r.shape[1:]))
                                 for part, r in zip(np.split(flat, cuts, axis=1), out_recs, strict=True)])
    from cimsdk.commands.run import print_outputs

    lines = iter(counts)

    def echo(line: str) -> None:
        c = next(lines)
        click.echo(f"{line}  cycles {c['cycles']}  instret {c['instret']}")

    if img is not None:
        print_outputs(img, ys, echo)
    else:
        for i, row in enumerate(flat):
            shown = f" {row.tolist()}" if row.size <= 16 else ""
            echo(f"{i}: top-1 {int(np.argmax(row))}{shown}")
    if output:
        if img is not None:
            save_outputs(output, img, ys)
            return
        import io

        from cimconv.atomic import write_bytes

        buf = io.BytesIO()
        np.save(buf, flat)
        write_bytes(output, buf.getvalue())
