#!/usr/bin/env python3
"""Keyword spotting, the whole pipeline by hand: every step is the `cimsdk` command a user types.

    python examples/kws/run.py [--out DIR] [--backend mailbox|soft] [WAV ...]

convert -> run on the host -> compare with TFLM -> build the firmware -> start the emulated board
-> run on the device -> validate the device against the host. Each command is printed before it
runs, so the output reads like a terminal session you can replay (see README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from walkthrough import SHARED, Emulator, cimsdk  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wavs", nargs="*", type=Path, help="your own 1 s, 16 kHz WAV recordings (default: the shared ones)")
    ap.add_argument("--out", type=Path, default=Path("kws-example"), help="working folder (default ./kws-example)")
    ap.add_argument("--backend", choices=["mailbox", "soft"], default="mailbox", help="CiM backend of the firmware")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "kws_ref_model.tflite")
    opts = ap.parse_args()

    wavs = opts.wavs or [SHARED / "data" / f"{w}_1000ms.wav" for w in ("yes", "no", "silence")]
    for f in [opts.model, *wavs]:
        if not f.is_file():
            sys.exit(f"missing {f}: the shared models and recordings live in {SHARED}")
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    image = out / "kws" / "model.cimg"
    inputs = [a for w in wavs for a in ("-i", w)]

    print("== 1. convert: map the int8 model onto the nor-acim CiM macros, write the weight image")
    cimsdk("convert", opts.model, "--target", "nor-acim", "-o", out / "kws")

    print("\n== 2. run on the host: WAV -> MFCC front end -> golden model of the image")
    print("   labels: Down Go Left No Off On Right Stop Up Yes Silence Unknown (index 0..11)")
    cimsdk("run", image, *inputs)

    print("\n== 3. compare the host golden model with TFLM, the reference interpreter")
    cimsdk("compare", opts.model, image, "--inputs", 5, *inputs)

    print("\n== 4. build the firmware (PlatformIO, offline) for the emulated board")
    cimsdk("firmware", "build", out / "fw", "--board", "qemu-virt-rv32", "--backend", opts.backend, "-q")
    elf = out / "fw" / "firmware" / "firmware.elf"

    print("\n== 5. start the emulated board: QEMU (rv32imac) + the emulated CiM coprocessor")
    with Emulator(elf, opts.backend, out / "emulator.log") as emu:
        print("\n== 6. run on the device: upload the image, classify the recordings on the board")
        cimsdk("device", "run", "--port", emu.url, "--image", image, *inputs, "-o", out / "device_out.npy")

        print("\n== 7. validate: the device against the host golden model, element by element")
        cimsdk("validate", "--port", emu.url, image, "--inputs", 10, *inputs, "--report", out / "validate.json")

        if profiling_available():
            print("\n== 8. profile: energy per inference with the emulated power meter")
            cimsdk("profile", "--port", emu.url, "--meter", "emulated", "--meter-opt", "target=nor-acim",
                   "--image", image, "--input", wavs[0], "-n", 5, "--compare", out / "kws" / "report.json",
                   "-o", out / "power")

    print("\nnext steps: `cimsdk profile` with a real meter (PPK2, Joulescope, INA226) on a real board, and")
    print("`cimsdk flash` to write firmware and image to a board's flash (see README.md). Outputs are in", out)


def profiling_available() -> bool:
    """`cimsdk profile --port` needs the console driver of the power profiler (issue 5)."""
    import importlib.util

    return importlib.util.find_spec("cimsdk.power.device_driver") is not None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
