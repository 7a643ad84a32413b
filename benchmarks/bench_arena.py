"""Activation RAM per model and target: the planner without in-place layers and fusion, with in-place
layers walking forward only (what an RTL target gets), and with everything (issue 18: KWS <= 12,000 B,
goal 9,000 B; VWW <= 48,000 B, goal 40,000 B; TFLM 24,272 B and 103,680 B).

Run: python benchmarks/bench_arena.py
"""

from __future__ import annotations

from _common import MODELS

from cimconv.pipeline import convert
from cimconv.planner import plan

CASES = [("kws_ref_model", MODELS / "kws_ref_model.tflite"), ("vww_96_int8", MODELS / "vww_96_int8.tflite"),
         ("mithan_vww", MODELS / "real" / "mithan_vww.tflite")]
TARGETS = ("nor-acim", "sram-dcim")


def main() -> int:
    print(f"{'model':16} {'target':10} {'separate':>9} {'forward':>9} {'in place':>9} {'+ fusion':>9}  layers in place")
    for name, path in CASES:
        for target in TARGETS:
            plain = convert(path, target, fuse=False)
            full = convert(path, target)
            g, low = plain.graph, plain.lowered
            src = plain.image.meta["source_tensors"]
            ins = [src[e.tensor] for e in plain.image.inputs]
            outs = [src[e.tensor] for e in plain.image.outputs]
            separate = plan(g, low, ins, outs, in_place=False).arena_size
            forward = plan(g, low, ins, outs, backward=False).arena_size
            print(f"{name:16} {target:10} {separate:>9,} {forward:>9,} {plain.plan.arena_size:>9,} "
                  f"{full.plan.arena_size:>9,}  {full.report['totals']['in_place_layers']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
