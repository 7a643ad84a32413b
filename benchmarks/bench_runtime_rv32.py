"""Instructions per inference of the firmware runtime with the `soft` CiM backend on rv32imac, and its code size.

Builds tests/c/cim_bench_main.c (bare metal, picolibc, semihosting) with the runtime, the soft CiM kernels
and the CPU kernels of the model's ops only, runs it on `qemu-system-riscv32 -M virt -icount shift=0`
and reads minstret around each op and around a whole inference. The output is checked against the
golden model so a fast wrong kernel cannot pass.

Peer (issue 3): TFLM reference kernels on the same QEMU take 45.7 M instructions per KWS inference and
46.8 KB of code (interpreter + kernels). Targets: <= 0.3x the instructions, <= half the code.

Run: python benchmarks/bench_runtime_rv32.py [MODEL]   (MODEL: a shared model name, default kws_ref_model)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import MODELS, ROOT

TFLM_INSNS = 45.7e6
TFLM_CODE = 46.8e3
FW = ROOT / "firmware"
CC = ["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32", "--specs=picolibc.specs", "--oslib=semihost",
      "--crt0=semihost"]
CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections",
          "-DCIM_BACKEND_SOFT", "-DNDEBUG", *(f"-I{FW / d}" for d in ("include", "runtime", "kernels", "hal"))]
LD = ["-Wl,--gc-sections", "-Wl,--defsym=__flash=0x80000000", "-Wl,--defsym=__flash_size=0x400000",
      "-Wl,--defsym=__ram=0x80400000", "-Wl,--defsym=__ram_size=0x400000", "-Wl,--defsym=__stack_size=0x4000"]
DATA_S = """    .section .rodata.cim_bench,"a"
    .balign 8
    .global cim_bench_image, cim_bench_image_end, cim_bench_input, cim_bench_input_end
cim_bench_image:
    .incbin "{image}"
cim_bench_image_end:
    .balign 8
cim_bench_input:
    .incbin "{input}"
cim_bench_input_end:
"""


def runtime_sources(ops: list[str]) -> list[Path]:
    src = [FW / "runtime" / "cim_runtime.c", FW / "runtime" / "cim_dispatch.c", FW / "hal" / "cim_hal_soft.c",
           *sorted((FW / "kernels").glob("cim_soft*.c")), FW / "kernels" / "cim_fixedpoint.c"]
    src += [FW / "kernels" / f"{o.lower()}.c" for o in ops if (FW / "kernels" / f"{o.lower()}.c").exists()
            and o not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE")]
    return src


def code_size(map_file: Path, objs: set[str]) -> int:
    """Bytes of .text/.rodata/.srodata input sections that the linker kept from `objs`."""
    total = 0
    text = map_file.read_text()
    start = text.find("Linker script and memory map")
    pat = re.compile(r"^ \.(?:text|rodata|srodata)\S*\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$|"
                     r"^ \.(?:text|rodata|srodata)\S*\n\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$", re.M)
    for m in pat.finditer(text, start):
        size, obj = (m[1], m[2]) if m[1] else (m[3], m[4])
        if Path(obj).name in objs:
            total += int(size, 16)
    return total


def main(model: str = "kws_ref_model") -> int:
    from cimconv.pipeline import convert  # noqa: F401  (fail early when the converter is missing)
    from cimsdk.golden import Executor

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        subprocess.run([sys.executable, "-c", "from cimsdk.cli import main; main()", "convert",
                        str(MODELS / f"{model}.tflite"), "--target", "sram-dcim", "-o", str(tmp / "img")],
                       check=True, capture_output=True)
        image = (tmp / "img" / "model.cimg").read_bytes()
        ops = json.loads((tmp / "img" / "firmware.json").read_text())["ops"]
        ex = Executor(image)
        rec = ex.image.tensors[ex.image.input_tensor]
        x = np.random.default_rng(0).integers(-128, 128, size=rec.shape, dtype=np.int8)
        x.tofile(tmp / "in.bin")
        (tmp / "data.S").write_text(DATA_S.format(image=tmp / "img" / "model.cimg", input=tmp / "in.bin"))
        srcs = runtime_sources(ops)
        objs = []
        for s in [*srcs, ROOT / "tests" / "c" / "cim_bench_main.c", tmp / "data.S"]:
            o = tmp / (s.stem + ".o")
            subprocess.run([*CC, *CFLAGS, "-DCIM_OPS_SELECTED", *(f"-DCIM_USE_{o}=1" for o in ops),
                            "-c", str(s), "-o", str(o)], check=True)
            objs.append(o)
        elf = tmp / "bench.elf"
        subprocess.run([*CC, *LD, f"-Wl,-Map={tmp / 'bench.map'}", "-o", str(elf), *map(str, objs)], check=True)
        proc = subprocess.run(["qemu-system-riscv32", "-M", "virt", "-bios", "none", "-nographic", "-icount",
                               "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        out = proc.stdout + proc.stderr  # picolibc's semihosted stdout arrives on QEMU's stderr
        size = code_size(tmp / "bench.map", {s.stem + ".o" for s in srcs})
    print(out.strip())
    m = re.search(r"invoke (-?\d+) insns (\d+)", out)
    if not m or m[1] != "0":
        print("inference failed")
        return 1
    got = np.array([int(v) for v in re.search(r"output(.*)", out)[1].split()], np.int8)
    want = np.asarray(ex.run(x)).reshape(-1)
    insns = int(m[2])
    peer = f", {insns / TFLM_INSNS:.3f}x TFLM's 45.7 M" if model == "kws_ref_model" else ""
    print(f"{model}: {insns / 1e6:.2f} M instructions per inference (soft backend, rv32imac -O2){peer}; "
          f"output {'matches' if (got == want).all() else 'DIFFERS FROM'} the golden model")
    print(f"runtime + kernels code: {size} B ({size / TFLM_CODE:.3f}x TFLM's 46.8 KB)")
    return 0 if (got == want).all() else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
