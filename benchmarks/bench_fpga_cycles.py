"""The numbers a chip team asks of the FPGA CiM coprocessor, for the shared KWS model:

- coprocessor clock cycles per CiM layer and per inference, from the RTL (Verilator, RESULT1 of RUN_OP),
  for each FPGA instance (converter/targets/fpga-dcim-*.toml);
- latency at the instance's clock, and at the Fmax nextpnr achieved when `cimsdk fpga build` has run;
- array utilization: weight cells holding weights (mapping) and array busy time against the bit-serial
  peak (MACs x input cycles / (cycles x rows x columns per pass));
- RV32 instructions per inference with and without the coprocessor: the unchanged firmware on QEMU
  (-icount), soft backend vs mailbox backend co-simulated with the RTL (CPU work without the wait loop);
- the same on the PicoRV32 soft core of the whole FPGA system simulated in Verilator (icebreaker-cim,
  cimsdk.fpga.soc_sim): clock cycles and instructions per inference (rdcycle/rdinstret around INVOKE),
  with the coprocessor and without it (soft backend), latency at the board's 12 MHz.

Run: python benchmarks/bench_fpga_cycles.py [--inputs N] [--no-rtl] [--no-qemu] [--no-soc] [--soc-inputs N]
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
    print("  (the PicoRV32 soft core runs the firmware built for RV32I: its instructions and cycles below; --no-soc skips them)")


def soft_core(xs: np.ndarray) -> None:
    """KWS on the simulated FPGA system: the console firmware built for icebreaker-cim (the weight image
    linked in, so nothing is uploaded), mailbox backend (the RTL coprocessor) and soft backend (the CiM
    layers in C on the PicoRV32), `xs` through SET_INPUT/INVOKE/GET_OUTPUT."""
    from cimsdk.build import build_firmware
    from cimsdk.build.boards import load_board
    from cimsdk.device import Device
    from cimsdk.fpga.soc_sim import SimulatedBoard, build

    board, target = "icebreaker-cim", "fpga-dcim-up5k"
    clock = load_board(board).data["cpu"]["clock_hz"]
    build(board)
    conv = convert(MODELS / "kws_ref_model.tflite", target)
    golden = Executor(conv.image_bytes).run(xs)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "kws.cimg"
        image.write_bytes(conv.image_bytes)
        for backend in ("mailbox", "soft"):
            # only the image's kernels (as `firmware build --for-image`): code runs from the CPU's 64 KiB
            elf = build_firmware(Path(tmp) / backend, board, backend, embed_image=image,
                                 ops=sorted({op.opcode for op in conv.image.ops}), quiet=True)
            with SimulatedBoard(elf, board) as sim, Device(sim.url, timeout=600.0, open_timeout=30.0) as dev:
                cycles, instret, wait = [], [], []
                for i, x in enumerate(xs):
                    before = dev.counters()
                    out, c = dev.run(x.tobytes(), golden[i].size, timeout=3600.0)
                    after = dev.counters()
                    assert np.array_equal(np.frombuffer(out, np.int8), golden[i].reshape(-1)), "device != golden"
                    cycles.append(c["cycles"])
                    instret.append(c["instret"])
                    wait.append(after.get("wait_insns", 0) - before.get("wait_insns", 0))
            rows[backend] = [statistics.median(v) for v in (cycles, instret, wait)]
    print(f"\nPicoRV32 on the simulated icebreaker-cim system (Verilator, whole SoC), per KWS inference, "
          f"median of {len(xs)}, outputs equal to the golden model:")
    print(f"  {'':<34} {'cycles':>12} {'instructions':>13} {'CPU instr.':>11} {'CPI':>5} {'ms at 12 MHz':>13}")
    for backend, label in (("soft", "without the coprocessor (soft)"), ("mailbox", "with the RTL coprocessor")):
        cyc, ins, w = rows[backend]
        print(f"  {label:<34} {cyc:>12,.0f} {ins:>13,.0f} {ins - w:>11,.0f} {cyc / ins:>5.2f} "
              f"{cyc / clock * 1e3:>13.1f}")
    print("  (CPU instr. = without the mailbox wait loop; the wait loop's cycles are the coprocessor's time)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=3)
    ap.add_argument("--no-rtl", action="store_true", help="skip the coprocessor's cycles per layer")
    ap.add_argument("--no-qemu", action="store_true", help="skip the firmware instruction counts on QEMU")
    ap.add_argument("--no-soc", action="store_true", help="skip the simulated FPGA system (PicoRV32)")
    ap.add_argument("--soc-inputs", type=int, default=1, help="inputs on the simulated system (minutes each)")
    args = ap.parse_args()
    xs = np.random.default_rng(0).integers(-128, 128, (args.inputs, 49, 10, 1)).astype(np.int8)
    print("KWS (shared kws_ref_model.tflite) on the RTL CiM coprocessor, outputs equal to the golden model")
    if not args.no_rtl:
        for t in TARGETS:
            rtl_cycles(t, xs)
    if not args.no_qemu:
        cpu_instructions(xs)
    if not args.no_soc:
        soft_core(xs[:args.soc_inputs])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
