"""cimsdk for notebooks and scripts: the functions the CLI calls, with arrays in and objects out.

    import cimsdk.api as cim

    conv = cim.convert("kws_ref_model.tflite", target="nor-acim")
    print(conv.summary())                      # the report, as `cimsdk convert` prints it
    conv.save("kws")                           # kws/model.cimg, report.json, report.txt, firmware.json
    x = cim.load_inputs(conv, "yes_1000ms.wav")  # int8 batch the image takes
    y = cim.run(conv, x)                       # the host golden model (bit-exact with TFLM)
    cmp = cim.compare("kws_ref_model.tflite", conv, x)   # layer by layer against TFLM

    elf = cim.build_firmware("build")          # PlatformIO, offline
    with cim.emulated_board(elf) as board, cim.open_device(board.url) as dev:
        y_dev = cim.run_on_device(dev, conv, x)

Every function takes what a user has: a model path, a `Converted` (what `convert` returns), a parsed
image, image bytes, or the path of a `.cimg` (or the folder `cimsdk convert` wrote). Errors a user can
fix are `cimcontracts.errors.UserError` with a one-line message. Nothing here imports the CLI
(`cimsdk.commands`); the CLI imports this. docs/api.md has the page; tests/test_api.py runs its examples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cimcontracts.errors import UserError

if TYPE_CHECKING:
    from cimconv.image import Image
    from cimconv.pipeline import Conversion
    from cimsdk.compare import Comparison
    from cimsdk.device import Device
    from cimsdk.emulator import EmulatedBoard

__all__ = [
    "Converted", "convert", "load_image", "load_inputs", "run", "compare", "simulate", "build_firmware",
    "emulated_board", "open_device", "run_on_device", "sample", "utilization_chart",
]


@dataclass
class Converted:
    """A model mapped onto a CiM target: the weight image, the report, and `save()`.

    `conversion` is the converter's full result (`cimconv.pipeline.Conversion`: graph, mapping, arena plan).
    """

    model: Path
    conversion: Conversion

    @property
    def image_bytes(self) -> bytes:
        """The weight image (`.cimg`), as the device and the golden model read it."""
        return self.conversion.image_bytes

    @property
    def image(self) -> Image:
        """The parsed weight image (`cimconv.image.Image`)."""
        return self.conversion.image

    @property
    def report(self) -> dict:
        """report.json: per layer op, shapes, MACs, where it runs, tiles, utilization, latency, energy; totals."""
        return self.conversion.report

    @property
    def target(self) -> str:
        return self.conversion.target.name

    def summary(self) -> str:
        """The report as text (report.txt)."""
        from cimsdk.report_view import render_text

        return render_text(self.report)

    def firmware_manifest(self, image_sha256: str | None = None) -> dict:
        """firmware.json: what a firmware build for this image needs (ops, arena size, input format)."""
        img = self.image
        return {
            "image": "model.cimg", "target": self.target, "arena_size": self.conversion.plan.arena_size,
            "ops": sorted({op.opcode for op in img.ops}), "image_sha256": image_sha256 or img.sha256,
            "input": {"shape": list(img.tensors[img.input_tensor].shape),
                      "scale": img.io[0].scale, "zero_point": img.io[0].zero_point},
        }

    def save(self, outdir: str | os.PathLike) -> Path:
        """Write OUTDIR/{model.cimg, report.json, report.txt, firmware.json} all at once (no half folder)."""
        from cimcontracts.atomic import output_dir

        out = Path(outdir)
        with output_dir(out) as tmp:
            (tmp / "model.cimg").write_bytes(self.image_bytes)
            (tmp / "report.json").write_text(json.dumps(self.report, indent=2) + "\n")
            (tmp / "report.txt").write_text(self.summary())
            (tmp / "firmware.json").write_text(json.dumps(self.firmware_manifest(), indent=2) + "\n")
        return out

    def _repr_html_(self) -> str:  # Jupyter shows the totals and the layer table
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"


def convert(model: str | os.PathLike, target: str = "nor-acim", board: str | None = None, *,
            cpu_reductions: bool = False) -> Converted:
    """Map an int8 TFLite model onto a CiM target (a name from `cimsdk convert --help`, or a .toml file);
    the CPU part of the report is priced with `board`'s MCU (default the emulated board). `cpu_reductions`
    keeps AVERAGE_POOL_2D / MEAN on the CPU (exact) instead of the macro where it prices better (on an
    analog macro the sum then carries analog error; docs/energy-model.md).

    Same as `cimsdk convert MODEL -t TARGET`, without writing anything; `.save(outdir)` writes the files.
    """
    from cimconv import energy
    from cimconv.pipeline import convert as _convert

    return Converted(Path(model), _convert(model, target, board or energy.DEFAULT_BOARD,
                                           reductions=not cpu_reductions))


def load_image(image: Converted | Image | bytes | str | os.PathLike) -> Image:
    """A parsed weight image from a `Converted`, an `Image`, `.cimg` bytes, a `.cimg` path or a convert folder."""
    from cimconv.image import Image, parse_image
    from cimsdk.imagefile import read_weight_image

    if isinstance(image, Converted):
        return image.image
    if isinstance(image, Image):
        return image
    if isinstance(image, bytes | bytearray):
        return parse_image(bytes(image), where="image bytes")
    return read_weight_image(image)


def _image_bytes(image: Converted | Image | bytes | str | os.PathLike) -> bytes:
    from cimconv.image import Image, write_image
    from cimsdk.imagefile import read_weight_image_bytes

    if isinstance(image, Converted):
        return image.image_bytes
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, Image):
        return write_image(image)
    return read_weight_image_bytes(image)[1]


def load_inputs(image: Converted | Image | bytes | str | os.PathLike, *files: str | os.PathLike) -> np.ndarray:
    """Input files (.npy batches, .wav through the model's front end, BMP/PNG/JPEG) as one int8 batch
    [N, ...] for `image`, as `cimsdk run --input` reads them."""
    from cimsdk.imagefile import image_input

    if not files:
        raise UserError("load_inputs: give at least one input file (.npy, .wav, BMP/PNG/JPEG)")
    img = load_image(image)
    return np.concatenate([image_input(img, f) for f in files], axis=0)


def _as_batch(img: Image, inputs: np.ndarray | str | os.PathLike | Sequence[str | os.PathLike]) -> np.ndarray:
    if isinstance(inputs, str | os.PathLike):
        return load_inputs(img, inputs)
    if isinstance(inputs, np.ndarray):
        shape = tuple(img.tensors[img.input_tensor].shape[1:])
        x = np.asarray(inputs)
        if x.shape == shape:
            x = x[None]
        if x.shape[1:] != shape:
            raise UserError(f"inputs of shape {list(x.shape)}: the image takes [N, {', '.join(map(str, shape))}]")
        if x.dtype != np.int8:
            raise UserError(f"inputs are {x.dtype}; the image takes int8 (load_inputs quantizes files)")
        return x
    return load_inputs(img, *inputs)


def run(image: Converted | Image | bytes | str | os.PathLike,
        inputs: np.ndarray | str | os.PathLike | Sequence[str | os.PathLike]) -> np.ndarray:
    """The host golden model on a batch: int8 outputs [N, ...], bit-exact with TFLM where the hardware is exact.

    inputs: an int8 array [N, ...] (or one input without the batch dimension), or input file(s).
    """
    from cimsdk.golden import Executor

    img = load_image(image)
    return np.asarray(Executor(img).run(_as_batch(img, inputs)))


def compare(model: str | os.PathLike, image: Converted | Image | bytes | str | os.PathLike,
            inputs: np.ndarray | str | os.PathLike | Sequence[str | os.PathLike] | None = None, *,
            n: int = 10, seed: int = 0, litert: bool = True) -> Comparison:
    """The golden model against TFLM (and LiteRT's reference kernels), layer by layer.

    inputs: as for `run`; None draws `n` random int8 inputs. The result's `.mismatches` is 0 when every
    element of every layer equals TFLM; `.layers` has one `LayerDiff` per layer. Needs `cimsdk[ref]`.
    """
    from cimsdk.compare import compare as _compare

    img = load_image(image)
    if inputs is None:
        shape = img.tensors[img.input_tensor].shape[1:]
        xs = np.random.default_rng(seed).integers(-128, 128, size=(n, *shape), dtype=np.int64).astype(np.int8)
    else:
        xs = _as_batch(img, inputs)
    return _compare(Path(model), img, xs, litert=litert)


def simulate(image: Converted | Image | bytes | str | os.PathLike, data: str | os.PathLike, *,
             noise: str | None = None, trials: int = 10, seed: int = 0, age: str = "0",
             temp_c: float = 25.0, configs: Sequence[str] = ("naive", "calibrated"),
             calib: str | os.PathLike | None = None, progress: bool = False) -> dict:
    """Monte Carlo accuracy with analog non-idealities over `trials` simulated chips, as `cimsdk simulate`.

    data: a labelled folder (one sub-folder per label), a folder of inputs, or one input file.
    noise: a preset name or a .toml file (default: the target's). configs: "naive" (the target's mapping,
    uncalibrated ADC) and "calibrated" (per-column ADC ranges from `calib`, else from the data: needs at
    least 100 inputs). Returns simulate.json's content.
    """
    from cimconv.target import load_target
    from cimsdk.sim import simulate as sim
    from cimsdk.sim.noise import default_preset, load_noise, parse_age

    img = load_image(image)
    tgt = load_target(img.target)
    nz = load_noise(noise or default_preset(tgt)).aged(parse_age(age), temp_c)
    cal_x = sim.load_data(img, calib).inputs if calib is not None else None
    return sim.simulate(img, sim.load_data(img, data), nz, trials=trials, seed=seed, target=tgt, calib=cal_x,
                        configs=tuple(configs), progress=progress)


def build_firmware(outdir: str | os.PathLike, board: str = "qemu-virt-rv32", *,
                   image: Converted | Image | bytes | str | os.PathLike | None = None, backend: str | None = None,
                   quiet: bool = True) -> Path:
    """Build the firmware for `board` with PlatformIO (offline); returns OUTDIR/firmware/firmware.elf.

    image: link only the kernels this image uses (as `cimsdk firmware build --for-image`). Needs
    `cimsdk[firmware]` and Debian's riscv64-unknown-elf GCC.
    """
    from cimsdk.build import build_firmware as _build

    ops = sorted({op.opcode for op in load_image(image).ops}) if image is not None else None
    return _build(outdir, board, backend, ops=ops, quiet=quiet)


@contextmanager
def emulated_board(firmware: str | os.PathLike, *, backend: str | None = None,
                   log_file: str | os.PathLike | None = None) -> Iterator[EmulatedBoard]:
    """The emulated board (QEMU + the CiM coprocessor) running `firmware`; its UART is `board.url`.

    A context manager: both processes stop when the block ends, however it ends.
    """
    import time

    from cimsdk.emulator import EmulatedBoard

    with EmulatedBoard(firmware=firmware, backend=backend, wait_for_client=False, log_file=log_file) as board:
        time.sleep(0.3)  # the firmware initialises its UART before the first byte arrives (see demo.runner)
        yield board


@contextmanager
def open_device(port: str, *, timeout: float = 5.0) -> Iterator[Device]:
    """A cimsdk board's console on `port` (/dev/ttyUSB0, socket://host:port, host:port, an emulated
    board's `url`, or "auto": the one board that answers); closed when the block ends."""
    from cimsdk.device import Device

    with Device(port, timeout=timeout, open_timeout=timeout) as dev:
        dev.ping()
        yield dev


def run_on_device(dev: Device, image: Converted | Image | bytes | str | os.PathLike,
                  inputs: np.ndarray | str | os.PathLike | Sequence[str | os.PathLike], *,
                  timeout: float = 120.0) -> np.ndarray:
    """Upload `image` (unless the device holds it already) and run each input on the device: int8 [N, ...]."""
    from cimsdk.device import ensure_image

    img = load_image(image)
    x = _as_batch(img, inputs)
    ensure_image(dev, _image_bytes(image), show_progress=False)
    out = img.tensors[img.output_tensor]
    rows = [np.frombuffer(dev.run(row.tobytes(), out.nbytes, timeout=timeout)[0], np.int8) for row in x]
    return np.stack(rows).reshape((len(x), *out.shape[1:]))


def utilization_chart(converted: Converted) -> bytes:
    """PNG of the macros and the tiles each layer occupies (the demo report's chart); needs `cimsdk[plots]`."""
    from cimsdk.demo.charts import utilization_png
    from cimsdk.extras import require

    require("matplotlib", "utilization_chart")
    return utilization_png(converted.conversion)


def sample(relpath: str) -> Path:
    """A bundled sample, e.g. sample("models/kws_ref_model.tflite") or sample("data/yes_1000ms.wav")."""
    from cimcontracts.resources import sample as _sample

    return _sample(relpath)
