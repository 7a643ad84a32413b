"""What the CiM run is compared with on the demo page: the same model on the CPU alone, TFLM's
footprint, and (with labelled data) the accuracy of int8 against the CiM image.

- CPU alone: the `soft` backend firmware on the same emulated board runs the same image, every MAC on
  the RISC-V core; its cycles are priced with the same model (`cimconv.energy.price`, no macro).
- TFLM arena: what the TFLM interpreter's recording allocator reports for the model (host build).
- TFLM code size: measured once for the KWS model (TFLM reference kernels, rv32imac, -Os:
  interpreter + kernels), `benchmarks/bench_runtime_rv32.py`; shown only for that model.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cimsdk import procs

#: TFLM (reference kernels) code size for kws_ref_model on rv32imac: benchmarks/bench_runtime_rv32.py (issue 3).
TFLM_CODE_BYTES = {"kws_ref_model": 46_800}


def tflm_arena_bytes(model: Path) -> int | None:
    """TFLM's arena for `model` ("Arena allocation total" of its recording allocator), None without TFLM.

    The interpreter prints its allocations through its own stdio, so it runs in a child process whose
    output is read back (nothing leaks onto the demo's terminal)."""
    code = ("import sys\nfrom tflite_micro.python.tflite_micro import runtime\n"
            "runtime.Interpreter.from_file(sys.argv[1]).print_allocations()\n")
    try:
        res = procs.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None
    m = re.search(r"Arena allocation total (\d+) bytes", res.stdout + res.stderr)
    return int(m.group(1)) if m else None


def soft_run(board_name: str, conv, x: np.ndarray, expected: np.ndarray, mcu, build_dir: Path) -> dict:
    """One inference of `conv`'s image on the soft-backend firmware: its cycles, priced; its output checked."""
    from cimconv import energy
    from cimsdk.build import build_firmware
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard

    elf = build_firmware(build_dir, board_name, "soft", quiet=True)
    out_bytes = conv.image.tensors[conv.image.output_tensor].nbytes
    with EmulatedBoard(board_name, firmware=elf, backend="soft", wait_for_client=False) as board:
        time.sleep(0.3)
        with Device(board.url, timeout=10.0, open_timeout=5.0) as dev:
            ensure_image(dev, conv.image_bytes, show_progress=False)
            raw, cnt = dev.run(x.tobytes(), out_bytes, timeout=300.0)
    y = np.frombuffer(raw, np.int8)
    est = energy.price(int(cnt["cycles"]), {}, 0.0, mcu, {})
    binary = elf.with_suffix(".bin")
    return {"cycles": int(cnt["cycles"]), "energy": est.as_dict(), "golden_equal": bool(np.array_equal(y, expected)),
            "firmware_bin_bytes": binary.stat().st_size if binary.is_file() else None}


def accuracy(model: Path, image, data: Path) -> dict:
    """Top-1 on a labelled folder: int8 (TFLM, the reference) and the CiM image (host golden model,
    which the device equals bit for bit)."""
    from cimconv.errors import UserError
    from cimsdk.golden import Executor
    from cimsdk.reference import TFLM
    from cimsdk.sim.simulate import load_data

    ds = load_data(image, data)
    if ds.labels is None:
        raise UserError(f"--data {data}: no labels; give a folder with one sub-folder per label")
    n = ds.inputs.shape[0]
    cim = np.asarray(Executor(image).run(ds.inputs)).reshape(n, -1).argmax(1)
    int8 = TFLM(model).run(ds.inputs).reshape(n, -1).argmax(1)
    return {"samples": int(n), "int8_top1": float((int8 == ds.labels).mean()),
            "cim_top1": float((cim == ds.labels).mean()), "data": str(data)}
