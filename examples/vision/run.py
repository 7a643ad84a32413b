#!/usr/bin/env python3
"""Visual wake words (person / no person), the whole pipeline by hand, one `cimsdk` command per step.

    python examples/vision/run.py [--out DIR] [--backend mailbox|soft] [IMAGE ...]

convert -> run on the host -> compare with TFLM -> build the firmware -> start the emulated board
-> run on the device -> validate the device against the host. Images (BMP/PNG/JPEG, any size) are
resized to 96x96 RGB and quantized with the model's input parameters by cimsdk itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from walkthrough import SHARED, Emulator, cimsdk  # noqa: E402


def sample_images(folder: Path) -> dict[Path, str]:
    """scikit-image's bundled photos with their true class (../shared/README.md), saved as PNG."""
    try:
        import skimage.data as data
        from PIL import Image
    except ImportError:
        return {}
    truth = {"astronaut": "person", "camera": "person", "coffee": "no person", "chelsea": "no person",
             "rocket": "no person"}
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, label in truth.items():
        path = folder / f"{name}.png"
        if not path.exists():
            Image.fromarray(getattr(data, name)()).save(path)
        out[path] = label
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="*", type=Path, help="your own images (default: shared + scikit-image samples)")
    ap.add_argument("--out", type=Path, default=Path("vision-example"), help="working folder (default ./vision-example)")
    ap.add_argument("--backend", choices=["mailbox", "soft"], default="mailbox", help="CiM backend of the firmware")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "vww_96_int8.tflite")
    opts = ap.parse_args()

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    truth: dict[Path, str] = {}
    if opts.images:
        images = list(opts.images)
    else:
        # The shared BMPs are inputs, not labelled truth: this model calls both of them "no person".
        images = [SHARED / "data" / "person.bmp", SHARED / "data" / "no_person.bmp"]
        truth = sample_images(out / "images")
        images += list(truth)
        if not truth:
            print("(pip install scikit-image to add five labelled sample photos)")
    for f in [opts.model, *images]:
        if not f.is_file():
            sys.exit(f"missing {f}: the shared models and images live in {SHARED}")
    image = out / "vww" / "model.cimg"
    inputs = [a for f in images for a in ("-i", f)]

    print("== 1. convert: map the int8 MobileNetV1-0.25 onto the nor-acim CiM macros, write the weight image")
    cimsdk("convert", opts.model, "--target", "nor-acim", "-o", out / "vww")

    print("\n== 2. run on the host: image -> 96x96 RGB int8 -> golden model (output index 1 = person)")
    for i, f in enumerate(images):
        print(f"   {i}: {f.name}" + (f"  (truth: {truth[f]})" if f in truth else "  (no label)"))
    cimsdk("run", image, *inputs)

    print("\n== 3. compare the host golden model with TFLM, the reference interpreter")
    cimsdk("compare", opts.model, image, "--inputs", 2, "-i", images[0])

    print("\n== 4. build the firmware (PlatformIO, offline) for the emulated board")
    cimsdk("firmware", "build", out / "fw", "--board", "qemu-virt-rv32", "--backend", opts.backend, "-q")
    elf = out / "fw" / "firmware" / "firmware.elf"

    print("\n== 5. start the emulated board: QEMU (rv32imac) + the emulated CiM coprocessor")
    with Emulator(elf, opts.backend, out / "emulator.log") as emu:
        print("\n== 6. run on the device: upload the 247 KB image, classify the images on the board")
        cimsdk("device", "run", "--port", emu.url, "--image", image, *inputs, "-o", out / "device_out.npy")
        import numpy as np

        y = np.load(out / "device_out.npy").reshape(len(images), -1)
        right = 0
        for f, row in zip(images, y, strict=True):
            said = "person" if int(row.argmax()) == 1 else "no person"
            mark = ""
            if f in truth:
                right += said == truth[f]
                mark = "  right" if said == truth[f] else f"  wrong (truth: {truth[f]})"
            print(f"   {f.name:<16} device says: {said}{mark}")
        if truth:
            print(f"   {right}/{len(truth)} labelled sample photos right")

        print("\n== 7. validate: the device against the host golden model, element by element")
        cimsdk("validate", "--port", emu.url, image, "--inputs", 2, "-i", images[0], "--report", out / "validate.json")

    print("\nnext steps: `cimsdk profile --port PORT --meter emulated --image IMAGE` measures energy per")
    print("inference (see examples/kws); `cimsdk flash` writes firmware and image to a board's flash.")
    print("Outputs are in", out)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
