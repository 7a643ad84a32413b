"""Image front end: a BMP/PNG/JPEG file to a model-ready input, with Pillow.

The model's input quantization says which float range it was trained on: the range representable by
(scale, zero point) is matched to the nearest of [0, 1], [-1, 1], [0, 255] and [-128, 127], and pixels are
mapped linearly onto it. For the MLPerf VWW model (scale 1/255, zero point -128) that is q = pixel - 128.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimconv.errors import UserError

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg")

# (float range lo, hi) -> pixel [0, 255] to float
_CONVENTIONS: tuple[tuple[float, float], ...] = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0), (-128.0, 127.0))


def pixel_range(scale: float, zero_point: int, dtype: str) -> tuple[float, float]:
    """The float range a model expects pixels in, chosen from its input quantization."""
    if not np.issubdtype(np.dtype(dtype), np.integer) or scale <= 0:
        return _CONVENTIONS[0]
    info = np.iinfo(np.dtype(dtype))
    lo, hi = (info.min - zero_point) * scale, (info.max - zero_point) * scale
    return min(_CONVENTIONS, key=lambda c: abs(c[0] - lo) + abs(c[1] - hi))


def read_picture(path: str | Path, height: int, width: int, channels: int) -> np.ndarray:
    """Pixels [height, width, channels] uint8: resized (bilinear) and converted gray<->RGB as needed."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if channels not in (1, 3):
        raise UserError(
            f"{path}: the model wants {channels} image channels; only 1 (gray) and 3 (RGB) are supported"
        )
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError as exc:
        raise UserError(f"image not found: {path}; check the path") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read image {path}: {exc}; give a BMP, PNG or JPEG file") from exc
    return arr.reshape(height, width, channels)


def quantize_pixels(pixels: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """Map uint8 pixels to the model's input type through the float range `pixel_range` picks."""
    lo, hi = pixel_range(scale, zero_point, dtype)
    f = lo + pixels.astype(np.float64) * ((hi - lo) / 255.0)
    dt = np.dtype(dtype)
    if not np.issubdtype(dt, np.integer):
        return f.astype(dt)
    from cimsdk.frontend.mfcc import quantize

    return quantize(f, scale, zero_point, dtype)


def image_input(
    path: str | Path, shape: tuple[int, ...], scale: float, zero_point: int, dtype: str
) -> np.ndarray:
    """One image as a model input of `shape` ([1, H, W, C] or [H, W, C]) and the model's dtype."""
    if len(shape) == 4:
        h, w, c = shape[1:]
    elif len(shape) == 3:
        h, w, c = shape
    else:
        raise UserError(f"{path}: the model input {list(shape)} is not an image (want [1, H, W, C])")
    return quantize_pixels(read_picture(path, h, w, c), scale, zero_point, dtype).reshape(shape)
