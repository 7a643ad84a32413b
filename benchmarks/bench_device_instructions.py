"""Instructions per KWS inference on the emulated device (minstret under -icount shift=0), both
CiM backends, the CPU share when the coprocessor does the MACs, and the firmware's code size.

Peer, measured on the same QEMU (issue 3): TFLM reference kernels (rv32imac, kernels -O2, core -Os,
NDEBUG) take 45.7 M instructions per KWS inference and 46.8 KB of code for interpreter and kernels
(71.6 KB with libgcc and picolibc). Targets: soft <= 0.3x TFLM's instructions, CPU instructions with the
coprocessor <= 0.5 M, runtime code <= half of TFLM's. Run: python benchmarks/bench_device_instructions.py
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import MODELS

from cimconv.pipeline import convert
from cimsdk.build import build_firmware
from cimsdk.device import Device, ensure_image
from cimsdk.emulator import EmulatedBoard
from cimsdk.golden import Executor

TFLM_INSTRUCTIONS = 45.7e6
TFLM_CODE = 46.8e3


def code_size(elf: Path, folders: tuple[str, ...] = ("runtime", "kernels", "hal")) -> int:
    """Bytes of .text/.rodata the linker kept from the runtime, kernels and HAL (from the link map)."""
    mapfile = elf.with_suffix(".map")
    total = 0
    pat = re.compile(r"^\s*\.(?:text|rodata|srodata)\S*\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)")
    text = mapfile.read_text()
    lines = text[text.find("Linker script and memory map"):].splitlines()  # skip discarded sections
    for i, line in enumerate(lines):
        m = pat.match(line)
        if not m and re.match(r"^\s*\.(?:text|rodata|srodata)\S*$", line) and i + 1 < len(lines):
            m = re.match(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)", lines[i + 1])
        if m and any(f"/{f}/" in m.group(2) for f in folders):
            total += int(m.group(1), 16)
    return total


def measure(backend: str, img: bytes, xs: np.ndarray, tmp: Path) -> dict:
    ops = sorted({op.opcode for op in Executor(img).image.ops})
    elf = build_firmware(tmp / backend, "qemu-virt-rv32", backend, ops=ops, quiet=True)
    golden = Executor(img).run(xs)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, Device(board.url) as dev:
        ensure_image(dev, img, show_progress=False)
        instret, wait, cim = [], [], []
        for i, x in enumerate(xs):
            before = dev.counters()
            out, c = dev.run(x.tobytes(), golden[i].size)
            after = dev.counters()
            assert np.array_equal(np.frombuffer(out, np.int8), golden[i].reshape(-1)), "device != golden"
            instret.append(c["instret"])
            wait.append(after.get("wait_insns", 0) - before.get("wait_insns", 0))
            cim.append(after.get("cim_ops", 0) - before.get("cim_ops", 0))
    text = subprocess.run(["riscv64-unknown-elf-size", "-B", "-d", str(elf)], capture_output=True, text=True)
    return {"instret": statistics.median(instret), "cpu": statistics.median(i - w for i, w in zip(instret, wait, strict=True)),
            "cim_ops": statistics.median(cim), "runtime_code": code_size(elf),
            "elf_text": int(text.stdout.splitlines()[1].split()[0])}


def main(n: int = 5) -> int:
    img = convert(MODELS / "kws_ref_model.tflite", "nor-acim").image_bytes
    xs = np.random.default_rng(0).integers(-128, 128, (n, 49, 10, 1)).astype(np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        soft = measure("soft", img, xs, Path(tmp))
        mbox = measure("mailbox", img, xs, Path(tmp))
    print(f"KWS on qemu-virt-rv32 (-icount shift=0, kernels -O2, rest -Os), median of {n} inferences, "
          "outputs equal to the golden model:")
    print(f"  soft backend      : {soft['instret'] / 1e6:7.2f} M instructions = {soft['instret'] / TFLM_INSTRUCTIONS:.3f}x "
          f"TFLM's 45.7 M (target <= 0.3x)")
    print(f"  mailbox backend   : {mbox['instret'] / 1e6:7.2f} M instructions retired, of which waiting on the "
          f"coprocessor {(mbox['instret'] - mbox['cpu']) / 1e6:.2f} M (host-speed dependent)")
    print(f"  mailbox CPU share : {mbox['cpu'] / 1e6:7.3f} M instructions (target <= 0.5 M), "
          f"{mbox['cim_ops']:.0f} CiM ops per inference")
    print(f"  runtime code      : {soft['runtime_code']:,} B soft / {mbox['runtime_code']:,} B mailbox (runtime+kernels+HAL)"
          f" = {soft['runtime_code'] / TFLM_CODE:.3f}x TFLM's 46.8 KB (target <= 0.5x)")
    print(f"  whole firmware    : {soft['elf_text']:,} B soft / {mbox['elf_text']:,} B mailbox (.text+.rodata, "
          "with console, protocol, SHA-256, picolibc; TFLM 71.6 KB)")
    ok = (soft["instret"] <= 0.3 * TFLM_INSTRUCTIONS and mbox["cpu"] <= 0.5e6
          and soft["runtime_code"] <= 0.5 * TFLM_CODE)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
