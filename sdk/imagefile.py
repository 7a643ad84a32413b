"""Weight images and input files as users name them on the command line or in a script.

A user passes what `cimsdk convert` wrote: the `.cimg` file, or just the output folder that holds
`model.cimg`; both work everywhere an image is taken. Every way a path can be wrong (missing, a
folder, a file where a folder was meant, unreadable) becomes one UserError line saying what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cimconv.errors import UserError

IMAGE_NAME = "model.cimg"


def read_file(path: str | os.PathLike, what: str, hint: str = "") -> bytes:
    """The bytes of `path`, or a one-line UserError naming `what` it should have been."""
    path = Path(path)
    hint = f"; {hint}" if hint else ""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file{hint}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a {what}{hint}") from None
    except NotADirectoryError:
        raise UserError(f"{path}: a part of this path is a file, not a folder{hint}") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied; make the {what} readable") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what} ({exc.strerror}){hint}") from None


def image_path(path: str | os.PathLike) -> Path:
    """`path` itself, or `path/model.cimg` when `path` is a folder written by `cimsdk convert`."""
    path = Path(path)
    if path.is_dir():
        inner = path / IMAGE_NAME
        if not inner.is_file():
            raise UserError(f"{path} is a folder without {IMAGE_NAME}; give a .cimg weight image or the "
                            "folder `cimsdk convert` wrote")
        return inner
    return path


def read_weight_image_bytes(path: str | os.PathLike) -> tuple[Path, bytes]:
    """The resolved image path and its bytes."""
    path = image_path(path)
    return path, read_file(path, "weight image", "give a .cimg weight image made by `cimsdk convert`")


def read_weight_image(path: str | os.PathLike):  # -> cimconv.image.Image
    """Parse the weight image at `path` (a .cimg file or a convert output folder)."""
    from cimconv.image import parse_image

    path, data = read_weight_image_bytes(path)
    return parse_image(data, where=str(path))


def image_input(img, path: str | os.PathLike) -> np.ndarray:  # img: cimconv.image.Image
    """Any input file (npy, wav, image) as the int8 batch the image's program takes."""
    from cimsdk.inputs import InputSpec, load_input

    path = Path(path)
    rec = img.tensors[img.input_tensor]
    io = img.io[0]
    spec = InputSpec(shape=tuple(rec.shape), dtype=rec.dtype, scale=io.scale, zero_point=io.zero_point)
    x = load_input(path, spec)
    if x.dtype != np.dtype(rec.dtype):
        raise UserError(f"{path}: input is {x.dtype}; the model takes {rec.dtype}")
    return x.reshape((-1, *rec.shape[1:]))
