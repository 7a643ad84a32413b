"""The coprocessor's sequencer program: rtl/seq/cim_seq.c compiled for the small PicoRV32 inside
rtl/cim_coprocessor.v, with the instance's geometry as -D flags, and turned into the Verilog module
`cim_seq_ram` (the block RAM that holds program, data, stack and the mailbox registers, initialized
with the program). Verilator builds and the iCE40 flow take the generated module as a source.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from cimcontracts import mailbox
from cimcontracts.resources import data_root as project_root
from cimconv.errors import UserError
from cimsdk.fpga.instance import Instance

SOURCES = ("seq/start.S", "seq/cim_seq.c")
LINKER = "seq/link.ld"
GCC = "riscv64-unknown-elf-gcc"
BASE = 0xFFFF0000
STACK_BYTES = 384  # the deepest call chain takes 336 bytes (gcc -fstack-usage)
PROGRAM_START = 0x140  # below it the mailbox registers (docs/mailbox.md offsets 0x000-0x13F)
MODULE_FILE = "cim_seq_ram.v"


def _rtl(name: str) -> Path:
    return project_root() / "rtl" / name


def _compile(defines: tuple[tuple[str, int], ...], ram_bytes: int, out: Path) -> bytes:
    exe = shutil.which(GCC)
    if exe is None:
        raise UserError(f"{GCC} not found: the coprocessor's sequencer program needs the RISC-V GCC "
                        "(apt-get install gcc-riscv64-unknown-elf)")
    elf = out / "cim_seq.elf"
    cmd = [exe, "-march=rv32i", "-mabi=ilp32", "-Os", "-nostdlib", "-nostartfiles", "-ffreestanding",
           "-fno-builtin", "-Wall", "-Werror", *[f"-D{k}={v}" for k, v in defines],
           "-T", str(_rtl(LINKER)), f"-Wl,--defsym=RAM_BYTES={ram_bytes}",
           *[str(_rtl(s)) for s in SOURCES], "-lgcc", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise UserError(f"the sequencer program does not build:\n{(r.stdout + r.stderr)[-3000:]}")
    binf = out / "cim_seq.bin"
    subprocess.run([exe.replace("gcc", "objcopy"), "-O", "binary", "-R", ".mbox", str(elf), str(binf)], check=True)
    nm = subprocess.run([exe.replace("gcc", "nm"), str(elf)], capture_output=True, text=True, check=True).stdout
    end = next(int(ln.split()[0], 16) for ln in nm.splitlines() if ln.split()[-1] == "_end")
    return binf.read_bytes(), end - BASE


@lru_cache(maxsize=8)
def _program(defines: tuple[tuple[str, int], ...]) -> tuple[bytes, int]:
    """(RAM image from PROGRAM_START, RAM bytes): the program's data end plus the stack, in whole KiB (the
    iCE40's block RAMs are 512 bytes; a power of two would waste up to half of them)."""
    with tempfile.TemporaryDirectory(prefix="cimseq-") as tmp:
        _, used = _compile(defines, 1 << 20, Path(tmp))
        ram = -(-(used + STACK_BYTES) // 1024) * 1024
        image, _ = _compile(defines, ram, Path(tmp))
    return image, ram


def program_defines(inst: Instance) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(inst.verilog_parameters().items()))


def _parts(words: int) -> list[tuple[int, int]]:
    """(first word, depth) of the RAM's parts: powers of two of at most 2048 words, largest first (so
    each part starts at a multiple of its depth)."""
    parts, base = [], 0
    while base < words:
        depth = min(2048, 1 << ((words - base).bit_length() - 1))
        parts.append((base, depth))
        base += depth
    return parts


def _bram_width(depth: int) -> int:
    """Bits of one iCE40 block RAM (4 Kbit) at this depth: 2048 x 2, 1024 x 4, 512 x 8, 256 x 16."""
    return max(2, min(16, 4096 // depth))


def _synthesis_ram(vals: list[int], words: int) -> str:
    """The RAM for yosys: each power-of-two part cut into slices one block RAM deep (2048 x 2 bits,
    512 x 8, ...), so no block-RAM output needs a multiplexer but the parts' (a word-wide inferred
    memory of 2560 words took 256 x 16 blocks ten deep, 164 LUTs of read multiplexer)."""
    out, sel = [], []
    for pi, (base, depth) in enumerate(_parts(words)):
        w = _bram_width(depth)
        aw = max(1, (depth - 1).bit_length())
        out.append(f"    // part {pi}: words {base}-{base + depth - 1}, {32 // w} block RAMs of {depth} x {w}")
        out.append(f"    wire [31:0] q{pi};")
        for sl in range(32 // w):
            lo = sl * w
            name = f"m{pi}_{sl}"
            out.append(f"    reg [{w - 1}:0] {name} [0:{depth - 1}];")
            init = [f"        {name}[{i}] = {w}'d{(vals[base + i] >> lo) & ((1 << w) - 1)};"
                    for i in range(min(depth, len(vals) - base)) if (vals[base + i] >> lo) & ((1 << w) - 1)]
            if init:
                out.append("    initial begin")
                out.extend(init)
                out.append("    end")
            out.append(f"    reg [{w - 1}:0] q{pi}_{sl};")
            out.append("    always @(posedge clk) begin")
            out.append(f"        if (we[{lo // 8}] && p{pi}) {name}[addr[{aw - 1}:0]] <= din[{lo + w - 1}:{lo}];")
            out.append(f"        if (!(|we)) q{pi}_{sl} <= {name}[addr[{aw - 1}:0]];")
            out.append("    end")
            out.append(f"    assign q{pi}[{lo + w - 1}:{lo}] = q{pi}_{sl};")
        sel.append((pi, base, depth))
    head = []
    for pi, base, depth in sel:
        ab = (depth - 1).bit_length()
        head.append(f"    wire p{pi} = addr[13:{ab}] == {14 - ab}'d{base >> ab};")
    mux = "    always @* begin\n        dout = 32'd0;\n"
    mux += "".join(f"        if (r{pi}) dout = q{pi};\n" for pi, _, _ in sel)
    mux += "    end\n"
    regs = "    always @(posedge clk) begin\n" + "".join(f"        r{pi} <= p{pi};\n" for pi, _, _ in sel) + "    end\n"
    decl = "".join(f"    reg r{pi};\n" for pi, _, _ in sel)
    return "\n".join(head) + "\n" + decl + "\n".join(out) + "\n" + regs + mux


def ram_module(inst: Instance) -> str:
    """Verilog of `cim_seq_ram` with the compiled program as its initial contents (one word-wide memory
    for simulation; for synthesis, `SYNTHESIS` defined, the same memory cut into block-RAM slices)."""
    image, ram = _program(program_defines(inst))
    words = ram // 4
    # the mailbox's MAGIC and VERSION (docs/mailbox.md) as the RAM's first words: the MCU reads them
    # from the start, the program never writes them, the slave port does not let the MCU write them
    data = (mailbox.MAGIC.to_bytes(4, "little") + mailbox.VERSION.to_bytes(4, "little")).ljust(PROGRAM_START, b"\0")
    data += image
    data += bytes(-len(data) % 4)
    vals = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
    init = "\n".join(f"        mem[{i}] = 32'h{v:08x};" for i, v in enumerate(vals) if v)
    aw = max(1, (words - 1).bit_length())
    return f"""// Generated by cimsdk.fpga.seqfw from rtl/seq/ (do not edit): the sequencer core's block RAM,
// {ram} bytes, initialized with the program ({len(image)} bytes from {PROGRAM_START:#x}).
`default_nettype none
module cim_seq_ram (
    input  wire        clk,
    input  wire [13:0] addr,
    input  wire [3:0]  we,
    input  wire [31:0] din,
    output reg  [31:0] dout
);
`ifdef SYNTHESIS
{_synthesis_ram(vals, words)}`else
    localparam WORDS = {words};
    reg [31:0] mem [0:WORDS-1];
    integer i;
    initial begin
        for (i = 0; i < WORDS; i = i + 1) mem[i] = 32'd0;
{init}
    end
    wire [{aw - 1}:0] a = addr[{aw - 1}:0];
    always @(posedge clk) begin
        if (we[0]) mem[a][7:0] <= din[7:0];
        if (we[1]) mem[a][15:8] <= din[15:8];
        if (we[2]) mem[a][23:16] <= din[23:16];
        if (we[3]) mem[a][31:24] <= din[31:24];
        if (!(|we)) dout <= mem[a];    // a read or a write a cycle (no read-during-write logic)
    end
`endif
endmodule
`default_nettype wire
"""
