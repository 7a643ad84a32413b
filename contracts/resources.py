"""Where cimsdk's data files are: the checkout, or the installed package.

The firmware sources, board data, the local PlatformIO platform, the RTL and the sample models are
plain folders at the top of a checkout (`firmware/`, `boards/`, `rtl/`, `../shared`). A wheel carries
the same folders as package data under `cimsdk/_data/` (copied there by `build_support/`), so an
installed cimsdk builds firmware and runs the demo with no checkout. Every lookup goes through here;
nothing else guesses paths from `__file__`.

This module sits in cimcontracts (below cimconv and cimsdk) because the contracts read board data too;
it finds the installed `cimsdk` package with `importlib.util.find_spec` and
`importlib.resources.files`, without importing any cimsdk code.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
from functools import cache
from pathlib import Path

from cimcontracts.errors import UserError

#: Folders that mark a data root (a checkout's top level, or an installed wheel's cimsdk/_data); it also
#: holds rtl/ and, in a wheel, scripts/ and samples/.
DATA_FOLDERS = ("firmware", "boards")
#: Package-data folder inside the installed `cimsdk` package.
PACKAGE_DATA = "_data"
#: Sample models and recordings bundled in the wheel (from the shared folder; licences in
#: docs/samples.md). Paths relative to the samples root, which has models/ and data/.
SAMPLES = (
    "models/kws_ref_model.tflite",
    "models/hello_world_int8.tflite",
    "models/micro_speech_quantized.tflite",
    "models/audio_preprocessor_int8.tflite",
    "data/yes_1000ms.wav",
    "data/no_1000ms.wav",
    "data/silence_1000ms.wav",
    "data/noise_1000ms.wav",
    "data/person.bmp",
    "data/no_person.bmp",
)


def _checkout() -> Path | None:
    """The checkout this module was imported from, if it was (an editable install or PYTHONPATH)."""
    root = Path(__file__).resolve().parent.parent
    if all((root / f).is_dir() for f in DATA_FOLDERS):
        return root
    return None


def _installed() -> Path | None:
    """cimsdk/_data of the installed package, if there is one with data files."""
    spec = importlib.util.find_spec("cimsdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    data = importlib.resources.files("cimsdk").joinpath(PACKAGE_DATA)
    if not isinstance(data, Path):  # a zipped install: data files need a real folder for gcc and QEMU
        return None
    return data if all((data / f).is_dir() for f in DATA_FOLDERS) else None


@cache
def data_root() -> Path:
    """The folder holding firmware/, boards/ and rtl/: the checkout, else the installed cimsdk's _data.

    CIMSDK_DATA_DIR overrides both (a folder laid out the same way, e.g. a board port in progress).
    """
    override = os.environ.get("CIMSDK_DATA_DIR")
    if override:
        path = Path(override)
        if not all((path / f).is_dir() for f in DATA_FOLDERS):
            raise UserError(f"CIMSDK_DATA_DIR={override} has no {', '.join(DATA_FOLDERS)} folders; unset it "
                            "or point it at a folder laid out like a cimsdk checkout")
        return path.resolve()
    root = _checkout() or _installed()
    if root is None:
        raise UserError("cimsdk's data files (firmware/, boards/) are missing from this install; reinstall from "
                        "a wheel (pip install --force-reinstall cimsdk-*.whl) or work from a checkout")
    return root


def data_path(*parts: str) -> Path:
    """A file or folder under the data root, e.g. data_path("boards", "qemu-virt-rv32", "board.toml")."""
    return data_root().joinpath(*parts)


def samples_root() -> Path | None:
    """The sample models and recordings (models/, data/): the installed copy, else `../shared` beside a
    checkout, else CIMSDK_SAMPLES_DIR when set. None when there are none (demo then needs --model/--input).
    """
    override = os.environ.get("CIMSDK_SAMPLES_DIR")
    candidates = [Path(override)] if override else []
    root = data_root()
    candidates += [root / "samples", root.parent / "shared"]
    for path in candidates:
        if (path / "models").is_dir() and (path / "data").is_dir():
            return path
    return None


def sample(relpath: str) -> Path:
    """One sample file, e.g. sample("models/kws_ref_model.tflite"); a clear error when it is not there."""
    root = samples_root()
    if root is None or not (root / relpath).is_file():
        where = "no samples folder" if root is None else f"not in {root}"
        raise UserError(f"sample {relpath}: {where}; install cimsdk from a wheel (it bundles the samples), "
                        "clone the shared folder next to the checkout, or pass your own file")
    return root / relpath
