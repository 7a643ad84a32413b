"""Instructions per frame of TFLM's SVDF keyword model on the emulated device, both CiM backends.

Frames run in order through one stream (the state stays in the arena); every frame's output is checked
against the golden model. The soft backend does the feature filters' MACs on the CPU; with the mailbox
coprocessor they run on the (emulated) macro and the CPU keeps the state shifts, time filters, the
other layers' requantization and the edges. No TFLM figure on this QEMU yet (its reference SVDF was not
built here). Then the SVDF kernel's own cost per time-filter MAC, int8 and int16 state: one-layer models of
ours (tests/svdf_models.py) at two memory lengths on the mailbox backend, the difference in CPU instructions
per frame over the difference in MACs (the feature filter runs on the macro, the rest is the same), the
figure in boards/cycle-costs-rv32imac.toml. Run: python benchmarks/bench_svdf_frames.py [frames]
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

KEYWORD = MODELS / "real" / "tflm_keyword_scrambled_8bit.tflite"


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
            out, c = dev.run(x.tobytes(), golden[i].nbytes)
            after = dev.counters()
            assert np.array_equal(np.frombuffer(out, golden.dtype), golden[i].reshape(-1)), "device != golden"
            instret.append(c["instret"])
            wait.append(after.get("wait_insns", 0) - before.get("wait_insns", 0))
        state = dev.info().state_bytes
    return {"instret": statistics.median(instret),
            "cpu": statistics.median(i - w for i, w in zip(instret, wait, strict=True)), "state": state}


def kernel_cost(n: int, tmp: Path) -> dict[str, float]:
    """CPU instructions per SVDF time-filter MAC (state shift and store included), per state type."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from svdf_models import SvdfLayer, svdf_model

    xs = np.random.default_rng(1).integers(-128, 128, size=(n, 1, 32)).astype(np.int8)
    slopes = {}
    for state in ("int8", "int16"):
        cpu, macs = {}, {}
        for memory in (8, 64):
            path = tmp / f"svdf-{state}-{memory}.tflite"
            path.write_bytes(svdf_model([SvdfLayer(32, 32, 1, memory, state=state)], seed=2))
            conv = convert(path, "nor-acim")
            cpu[memory] = measure("mailbox", conv.image_bytes, xs, tmp / f"{state}-{memory}")["cpu"]
            macs[memory] = next(r["macs"] for r in conv.report["layers"] if r["op"] == "SVDF")
        slopes[state] = (cpu[64] - cpu[8]) / (macs[64] - macs[8])
    return slopes


def main(n: int = 10) -> int:
    conv = convert(KEYWORD, "nor-acim")
    rng = np.random.default_rng(0)
    xs = rng.normal(0, 3000, (n, 1, 96)).clip(-32768, 32767).astype(np.int16)
    with tempfile.TemporaryDirectory() as tmp:
        soft = measure("soft", conv.image_bytes, xs, Path(tmp))
        mbox = measure("mailbox", conv.image_bytes, xs, Path(tmp))
    macs = conv.report["totals"]["cim_macs"]
    print(f"TFLM keyword SVDF model on qemu-virt-rv32, median of {n} consecutive frames, outputs equal to the "
          "golden model:")
    print(f"  soft backend      : {soft['instret'] / 1e3:8.1f} K instructions per frame ({macs:,} CiM MACs on the CPU)")
    print(f"  mailbox CPU share : {mbox['cpu'] / 1e3:8.1f} K instructions per frame (the macro does the {macs:,} MACs)")
    print(f"  state in the arena: {soft['state']:,} B of {conv.report['totals']['activation_ram_bytes']:,} B")
    with tempfile.TemporaryDirectory() as tmp:
        slopes = kernel_cost(n, Path(tmp))
    for state, slope in slopes.items():
        print(f"  SVDF kernel, {state} state: {slope:.2f} CPU instructions per time-filter MAC")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
