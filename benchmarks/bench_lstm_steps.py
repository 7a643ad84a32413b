"""Instructions per time step of TFLM's micro_speech LSTM model on the emulated device, both CiM backends.

Each inference is a 49-step sequence (257 features, 80 units); inferences run in order with the hidden and
cell states kept in the arena, every output checked against the golden model. The input products of all
steps (82,240 MACs per step) are a CiM FULLY_CONNECTED: on the CPU with the soft backend, on the (emulated)
macro with the mailbox coprocessor; the recurrent products (25,600 MACs per step) and the gates run on the
CPU with either. The per-step figures are the whole inference's instructions divided by 49 (the layers
after the LSTM add under 1 %); the mailbox CPU share per recurrent MAC is what
`boards/cycle-costs-rv32imac.toml` prices the LSTM op's MACs with. No TFLM figure on this QEMU yet.
Run: python benchmarks/bench_lstm_steps.py [inferences]
"""

from __future__ import annotations

import statistics
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

SPEECH = MODELS / "real" / "tflm_micro_speech_lstm.tflite"
STEPS = 49


def measure(backend: str, img: bytes, xs: np.ndarray, tmp: Path) -> dict:
    ops = sorted({op.opcode for op in Executor(img).image.ops})
    elf = build_firmware(tmp / backend, "qemu-virt-rv32", backend, ops=ops, quiet=True)
    golden = Executor(img).run_frames(xs)
    with EmulatedBoard(firmware=elf, backend=backend, wait_for_client=False) as board, Device(board.url) as dev:
        ensure_image(dev, img, show_progress=False)
        dev.reset_state()
        instret, wait = [], []
        for i, x in enumerate(xs):
            before = dev.counters()
            out, c = dev.run(x.tobytes(), golden[i].nbytes, timeout=300.0)
            after = dev.counters()
            assert np.array_equal(np.frombuffer(out, golden.dtype), golden[i].reshape(-1)), "device != golden"
            instret.append(c["instret"])
            wait.append(after.get("wait_insns", 0) - before.get("wait_insns", 0))
    return {"instret": statistics.median(instret),
            "cpu": statistics.median(i - w for i, w in zip(instret, wait, strict=True))}


def main(n: int = 4) -> int:
    conv = convert(SPEECH, "nor-acim")
    rng = np.random.default_rng(0)
    xs = rng.integers(-128, 128, (n, 1, STEPS, 257)).astype(np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        soft = measure("soft", conv.image_bytes, xs, Path(tmp))
        mbox = measure("mailbox", conv.image_bytes, xs, Path(tmp))
    layer = conv.report["layers"][1]
    macs = layer["per_step"]["macs"]
    print(f"TFLM micro_speech LSTM model on qemu-virt-rv32, median of {n} consecutive inferences ({STEPS} steps "
          "each), outputs equal to the golden model:")
    print(f"  soft backend      : {soft['instret'] / 1e6:8.2f} M instructions per inference, "
          f"{soft['instret'] / STEPS / 1e3:7.1f} K per step")
    print(f"  mailbox CPU share : {mbox['cpu'] / 1e6:8.2f} M instructions per inference, "
          f"{mbox['cpu'] / STEPS / 1e3:7.1f} K per step ({macs:,} recurrent MACs per step on the CPU: "
          f"{mbox['cpu'] / STEPS / macs:.2f} instructions per MAC, gates included)")
    print(f"  report's estimate : {layer['per_step']['cpu_cycles'] / 1e3:7.1f} K cycles per step "
          f"({layer['per_step']['latency_us']:.0f} us, {layer['per_step']['energy_uj']:.2f} uJ)")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4))
