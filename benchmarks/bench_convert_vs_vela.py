"""Whole-process wall time: `cimsdk convert vww_96_int8.tflite` against Arm Vela compiling the same file.

Target: ratio <= 1 (as fast as Vela), never above 2. Run: python benchmarks/bench_convert_vs_vela.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _common import MODELS, side_by_side, wall


def main(runs: int = 5) -> int:
    model = MODELS / "vww_96_int8.tflite"
    vela = shutil.which("vela")
    cimsdk = shutil.which("cimsdk")
    if not vela or not cimsdk:
        print("needs `vela` (pip install ethos-u-vela) and `cimsdk` on PATH")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        med = side_by_side(
            runs,
            cimsdk=lambda: wall([cimsdk, "convert", str(model), "-o", str(tmp / "cim"), "-q"]),
            vela=lambda: wall([vela, str(model), "--accelerator-config", "ethos-u55-128",
                               "--output-dir", str(tmp / "vela")]),
        )
    ratio = med["cimsdk"] / med["vela"]
    print(f"convert vww_96_int8.tflite, median of {runs} whole-process runs, alternated:")
    print(f"  cimsdk convert : {med['cimsdk']:.3f} s")
    print(f"  vela (U55-128) : {med['vela']:.3f} s")
    print(f"  ratio cimsdk/vela = {ratio:.2f}  (target <= 1, limit 2): {'OK' if ratio <= 2 else 'OVER LIMIT'}")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
