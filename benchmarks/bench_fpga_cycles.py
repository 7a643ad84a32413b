"""The numbers a chip team asks of the FPGA CiM coprocessor, for the shared KWS model:

- coprocessor clock cycles per CiM layer and per inference, from the RTL (Verilator, RESULT1 of RUN_OP),
  for each FPGA instance (converter/targets/fpga-dcim-*.toml);
- latency at the instance's clock, and at the Fmax nextpnr achieved when `cimsdk fpga build` has run;
- array utilization: weight cells holding weights (mapping) and array busy time against the bit-serial
  peak (MACs x input cycles / (cycles x rows x columns per pass));
- RV32 instructions per inference with and without the coprocessor: the unchanged firmware on QEMU
  (-icount), soft backend vs mailbox backend co-simulated with the RTL (CPU work without the wait loop).

Run: python benchmarks/bench_fpga_cycles.py [--inputs N] [--no-qemu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
from _common import MODELS

from cimconv.pipeline import convert
from cimsdk.fpga.driver import RtlCoprocessor
from cimsdk.fpga.instance import load_instance
from cimsdk.golden import Executor

TARGETS = ["fpga-dcim-up5k", "fpga-dcim-large"]


def achieved_fmax(board: str = "icebreaker-cim") -> float | None:
    rep = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cimsdk" / "fpga" / board / "fpga-report.json"
    if not rep.is_file():
        return None
    clocks = json.loads(rep.read_text())["clocks"]
    return min(c["achieved_mhz"] for c in clocks) if clocks else None


def rtl_cycles(target: str, xs: np.ndarray) -> None:
    inst = load_instance(target)
    conv = convert(MODELS / "kws_ref_model.tflite", target)
    ex = Executor(conv.image_bytes)
    img = ex.image
    per_layer: dict[int, list[int]] = {}
    with RtlCoprocessor(inst) as cop:
        cop.load_image(conv.image_bytes)
        for x in xs:
            values = {img.input_tensor: x[None]}
            for i, op in enumerate(img.ops):
                ins = [values[t] for t in op.inputs if img.tensors[t].storage != 1]
                if op.cim:
                    r = cop.run_op(i, ins[0])
                    per_layer.setdefault(i, []).append(r.cycles)
                    values[op.outputs[0]] = r.output
                else:
                    values[op.outputs[0]] = ex.run_op(i, ins)
            assert np.array_equal(values[img.output_tensor], ex.run(x[None])), "RTL != golden"
    t = inst.target
    print(f"\n{target}: {t.rows} rows x {t.weight_cols} weight columns x {t.arrays} arrays, "
          f"{inst.par} columns per pass, {t.input_bits_per_cycle} input bit(s) per cycle; "
          f"weight cells used {conv.mapping.utilization:.0%} of {conv.mapping.arrays_used} arrays")
    print(f"  {'op':>3} {'layer':<18} {'tiles':>5} {'cycles':>10} {'MACs':>10} {'array busy':>12}")
    total = 0
    for i, cyc in per_layer.items():
        op = img.ops[i]
        c = statistics.median(cyc)
        macs = ex.op_counters(i)["macs"]
        total += c
        slots = c * t.rows * inst.par / t.input_cycles  # MACs the array could do in these cycles
        print(f"  {i:>3} {op.opcode:<18} {len(img.matrices[op.params['matrix']].tiles):>5} {c:>10,.0f} "
              f"{macs:>10,} {macs / slots:>11.1%}")
    clock = inst.clock_mhz
    print(f"  per inference: {total:,.0f} cycles = {total / clock / 1e3:.1f} ms at {clock:g} MHz")
    fmax = achieved_fmax() if target == "fpga-dcim-up5k" else None
    if fmax:
        print(f"                 {total / fmax / 1e3:.1f} ms at the achieved {fmax:.1f} MHz (last `cimsdk fpga build`)")


def cpu_instructions(xs: np.ndarray) -> None:
    from cimsdk.build import build_firmware
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.fpga.verilate import build

    target = "fpga-dcim-up5k"
    build(load_instance(target))
    img = convert(MODELS / "kws_ref_model.tflite", target).image_bytes
    golden = Executor(img).run(xs)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("soft", "mailbox"):
            elf = build_firmware(Path(tmp) / backend, "qemu-virt-rv32", backend, quiet=True)
            with EmulatedBoard(firmware=elf, backend=backend, coprocessor="rtl", rtl_target=target,
                               wait_for_client=False) as board, Device(board.url) as dev:
                ensure_image(dev, img, show_progress=False)
                instret, wait = [], []
                for i, x in enumerate(xs):
                    before = dev.counters()
                    out, c = dev.run(x.tobytes(), golden[i].size, timeout=600.0)
                    after = dev.counters()
                    assert np.array_equal(np.frombuffer(out, np.int8), golden[i].reshape(-1)), "device != golden"
                    instret.append(c["instret"])
                    wait.append(after.get("wait_insns", 0) - before.get("wait_insns", 0))
            rows[backend] = (statistics.median(instret), statistics.median(i - w for i, w in zip(instret, wait, strict=True)))
    print(f"\nRV32 instructions per KWS inference, unchanged firmware on QEMU (-icount), median of {len(xs)}:")
    print(f"  without the coprocessor (soft backend): {rows['soft'][0] / 1e6:8.2f} M")
    print(f"  with the RTL coprocessor (mailbox)    : {rows['mailbox'][1] / 1e6:8.2f} M CPU instructions "
          f"(+ {(rows['mailbox'][0] - rows['mailbox'][1]) / 1e6:.2f} M in the wait loop, host-speed dependent)")
    print("  (the same RV32IMC code runs on the PicoRV32 soft core; its CPI of about 4 is not simulated here)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=3)
    ap.add_argument("--no-qemu", action="store_true", help="skip the firmware instruction counts")
    args = ap.parse_args()
    xs = np.random.default_rng(0).integers(-128, 128, (args.inputs, 49, 10, 1)).astype(np.int8)
    print("KWS (shared kws_ref_model.tflite) on the RTL CiM coprocessor, outputs equal to the golden model")
    for t in TARGETS:
        rtl_cycles(t, xs)
    if not args.no_qemu:
        cpu_instructions(xs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
