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
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def cimsdk_cmd() -> list[str]:
    """`cimsdk` from PATH (pip install -e .), else the same CLI through this Python."""
    exe = shutil.which("cimsdk")
    return [exe] if exe else [sys.executable, "-m", "cimsdk.cli"]


def show(args: list[str]) -> None:
    print(f"\n$ cimsdk {' '.join(shlex.quote(str(a)) for a in args)}", flush=True)


def cimsdk(*args: object) -> None:
    """Run one cimsdk command, its output going straight to the terminal; stop on failure."""
    argv = [str(a) for a in args]
    show(argv)
    res = subprocess.run(cimsdk_cmd() + argv)
    if res.returncode != 0:
        sys.exit(f"example stopped: `cimsdk {argv[0]}` exited with status {res.returncode}")


class Emulator:
    """`cimsdk emulate` in the background (as in a second terminal); stopped with Ctrl-C's SIGINT."""

    def __init__(self, firmware: Path, backend: str, log: Path) -> None:
        from cimsdk.emulator.board import free_port

        self.port = free_port()
        self.url = f"socket://127.0.0.1:{self.port}"
        self.args = ["emulate", "--firmware", str(firmware), "--backend", backend, "--port", str(self.port),
                     "--no-wait", "--log", str(log)]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Emulator:
        show(self.args)
        print("  (in the background, as in a second terminal)")
        for _attempt in range(2):
            self._start()
            if self._answers():
                return self
            print("  the board's UART did not answer; restarting it once")
            self.__exit__()
        sys.exit("example stopped: the emulated board does not answer on its UART (see emulator.log)")

    def _answers(self) -> bool:
        """One PING through the console protocol: the board is up before the first real command."""
        from cimsdk.device import Device

        try:
            with Device(self.url, timeout=2.0, retries=2, open_timeout=5.0) as dev:
                dev.ping()
            return True
        except Exception:  # any failure here means: not usable, restart
            return False

    def _start(self) -> None:
        self.proc = subprocess.Popen(cimsdk_cmd() + self.args, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        for line in self.proc.stderr:
            print(f"  {line.rstrip()}")
            if "UART at" in line:
                break
            if time.monotonic() > deadline:
                break
        if self.proc.poll() is not None:
            sys.exit("example stopped: cimsdk emulate did not start (see the lines above)")
        time.sleep(0.3)  # let the firmware set up its UART before the first command arrives

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # what Ctrl-C does: the board closes cleanly
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None
        print("(emulated board stopped)")


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
