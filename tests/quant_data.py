"""Data for the quantizer's model tests: vision images from scikit-image's bundled photos, and synthetic
log-mel inputs for the ToyCar anomaly-detection autoencoder."""

from __future__ import annotations

import numpy as np

# Photos shipped inside scikit-image (no download): people, animals, objects, textures, scenes.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "horse", "brick", "grass", "gravel",
                  "moon", "page", "text", "coins", "clock", "hubble_deep_field", "immunohistochemistry",
                  "retina", "cell", "motorcycle_left")


def photos() -> list[np.ndarray]:
    """The bundled photos as uint8 RGB arrays (gray ones stacked to three channels)."""
    import skimage.data as skd

    out = []
    for name in SKIMAGE_PHOTOS:
        fn = getattr(skd, name, None)
        if fn is None:
            continue
        try:
            img = fn()
        except Exception:  # noqa: BLE001 - a photo that needs a download is skipped
            continue
        if isinstance(img, tuple):
            img = img[0]
        img = np.asarray(img)
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or min(img.shape[:2]) < 96:
            continue  # masks and small icons are not photos
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        out.append(img[..., :3])
    return out


def crops(n: int, seed: int, size: int = 96) -> np.ndarray:
    """n images [n, size, size, 3] uint8: random crops (10-100 % of the short side, any position), random
    horizontal flips, resized with bilinear filtering, drawn from the bundled photos."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    src = photos()
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = src[rng.integers(len(src))]
        h, w = img.shape[:2]
        side = int(min(h, w) * rng.uniform(0.1, 1.0))
        ch = max(8, int(side * rng.uniform(0.8, 1.25)) if side * 1.25 <= h else side)
        cw = max(8, side)
        y, x = rng.integers(0, h - min(ch, h) + 1), rng.integers(0, w - min(cw, w) + 1)
        crop = img[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BILINEAR))
    return out


def toycar_inputs(n: int, seed: int) -> np.ndarray:
    """n synthetic log-mel inputs [n, 640] (5 frames x 128 mel bins, dB) in the range the ToyCar model was
    trained on: a smooth spectral envelope per input (mean about -29 dB, spread about 15 dB -- the input
    statistics that reproduce the first layer's batch-norm moving mean), slowly varying over the 5 frames."""
    rng = np.random.default_rng(seed)
    bins = np.arange(128)
    out = np.empty((n, 5, 128), np.float32)
    for i in range(n):
        walk = np.cumsum(rng.normal(0, 2.0, 128))
        walk -= walk.mean()
        tilt = rng.uniform(-25, 5) * bins / 127
        env = -29.0 + rng.normal(0, 6) + walk + tilt - tilt.mean()
        for f in range(5):
            out[i, f] = env + rng.normal(0, 3.0, 128) + rng.normal(0, 1.0)
    return out.reshape(n, 640)
