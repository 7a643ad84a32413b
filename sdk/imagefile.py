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


def input_spec(img, index: int = 0):  # -> cimsdk.inputs.InputSpec
    """What model input `index` takes from a user: its shape, edge dtype (float32 for a float-edged model)
    and the edge's scale and zero point."""
    from cimsdk.inputs import InputSpec

    io = img.inputs[index]
    rec = img.tensors[io.tensor]
    return InputSpec(shape=tuple(rec.shape), dtype=io.edge_dtype, scale=io.scale, zero_point=io.zero_point)


def _edge_array(x: np.ndarray, spec, where: str) -> np.ndarray:
    """An array a user saved for one model input: its edge dtype (any float for a float32 edge), or the int8
    codes the program reads; shape [spec.shape] or [N, *spec.shape[1:]]."""
    if x.size == 0:
        raise UserError(f"{where}: the array is empty (shape {list(x.shape)}); save at least one model input in it")
    if spec.dtype == "float32" and x.dtype.kind == "f":
        x = x.astype(np.float32)
    elif x.dtype != np.dtype(spec.dtype) and x.dtype != np.int8:
        raise UserError(f"{where}: array dtype {x.dtype} but the model input is {spec.dtype}; save {spec.dtype} "
                        "values (or the int8 codes the program reads)")
    item = spec.item_shape
    shp = tuple(x.shape)
    if not (shp in (item, spec.shape) or (len(shp) >= 1 and shp[1:] in (item, spec.shape))):
        raise UserError(f"{where}: array shape {list(shp)} does not match the model input {list(spec.shape)} "
                        "(a leading batch dimension is allowed)")
    return x.reshape((-1, *spec.shape[1:]))


def _npz_inputs(img, path: Path) -> list[np.ndarray]:
    """A .npz holding one array per model input, named after the inputs (`cimsdk inspect` lists the names) or
    arr_0, arr_1, ... in the model's input order (numpy.savez with positional arrays)."""
    names = img.io_names(0)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} as a .npz archive ({exc}); save it with numpy.savez") from None
    out = []
    for i, name in enumerate(names):
        key = name if name in arrays else f"arr_{i}" if f"arr_{i}" in arrays else None
        if key is None and len(names) == 1 and len(arrays) == 1:
            key = next(iter(arrays))
        if key is None:
            raise UserError(f"{path}: no array for model input {i} '{name}' (holds {', '.join(sorted(arrays))[:200]}); "
                            f"name the arrays after the model's inputs ({', '.join(names)[:200]}) or pass them in "
                            "order to numpy.savez")
        out.append(_edge_array(arrays[key], input_spec(img, i), f"{path}[{key}]"))
    extra = set(arrays) - set(names) - {f"arr_{i}" for i in range(len(names))}
    if extra and not (len(names) == 1 and len(arrays) == 1):
        raise UserError(f"{path}: arrays {', '.join(sorted(extra))[:200]} match no model input "
                        f"({', '.join(names)[:200]})")
    if len({len(x) for x in out}) > 1:
        raise UserError(f"{path}: the arrays hold different numbers of items ({', '.join(str(len(x)) for x in out)}); "
                        "give every input the same batch")
    return out


def model_inputs(img, paths: list[Path] | tuple[Path, ...]) -> list[np.ndarray]:
    """Input files as one batch per model input, in each input's edge dtype (or int8 codes).

    A one-input model takes .npy, .npz, .wav and image files; a model of several inputs takes .npz files with
    one array per input (docs/edges.md). The files' batches are concatenated."""
    from cimsdk.inputs import load_input

    per_file = []
    for p in paths:
        p = Path(p)
        if p.suffix.lower() == ".npz":
            if not p.is_file():
                raise UserError(f"input file not found: {p}; give a .npz file")
            per_file.append(_npz_inputs(img, p))
        elif len(img.inputs) > 1:
            raise UserError(f"{p}: the model has {len(img.inputs)} inputs ({', '.join(img.io_names(0))[:200]}); "
                            "give a .npz file with one array per input, named after them")
        elif p.suffix.lower() == ".npy":
            if not p.is_file():
                raise UserError(f"input file not found: {p}; give a .npy, .npz, .wav or image file")
            try:
                x = np.load(p, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise UserError(f"cannot read {p} as a .npy array ({exc}); save it with numpy.save") from None
            per_file.append([_edge_array(x, input_spec(img), str(p))])
        else:
            spec = input_spec(img)
            per_file.append([load_input(p, spec).reshape((-1, *spec.shape[1:]))])
    return [_concat([f[i] for f in per_file]) for i in range(len(img.inputs))]


def _concat(batches: list[np.ndarray]) -> np.ndarray:
    """Batches of one input; int8 codes and edge values may not be mixed."""
    if len({b.dtype for b in batches}) > 1:
        raise UserError(f"input files hold {' and '.join(sorted({b.dtype.name for b in batches}))} values for the "
                        "same model input; give all of them in one type")
    return np.concatenate(batches, axis=0)


def image_input(img, path: str | os.PathLike) -> np.ndarray:  # img: cimconv.image.Image
    """Any input file (npy, npz, wav, image) of a one-input model as the int8 batch its program takes."""
    from cimsdk.golden.edges import program_inputs

    if len(img.inputs) != 1:
        raise UserError(f"{path}: the model has {len(img.inputs)} inputs; this command takes one-input models")
    return program_inputs(img, model_inputs(img, [Path(path)]))[0]


def save_outputs(path: Path, img, ys: list[np.ndarray]) -> None:
    """Outputs as the user asked: .npy for a one-output model, .npz (arrays named after the outputs) always."""
    import io

    from cimconv.atomic import write_bytes

    buf = io.BytesIO()
    if path.suffix.lower() == ".npz":
        np.savez(buf, **dict(zip(img.io_names(1), ys, strict=True)))
    elif len(ys) == 1:
        np.save(buf, ys[0])
    else:
        raise UserError(f"{path}: the model has {len(ys)} outputs ({', '.join(img.io_names(1))[:200]}); write them "
                        "to a .npz file (-o outputs.npz)")
    write_bytes(path, buf.getvalue())
