"""Drive the Verilated coprocessor through its mailbox from Python, as the firmware would.

`RtlCoprocessor` owns a guest RAM (a memfd, as the emulated board's), starts the co-simulation
executable on it and speaks the mailbox handshake of docs/mailbox.md: write ARG*/COMMAND, ring
DOORBELL, wait for DONE, read STATUS/RESULT*. Tests and the cycle benchmark use it to run weight
images layer by layer on the RTL without QEMU.
"""

from __future__ import annotations

import collections
import mmap
import os
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

import numpy as np

from cimcontracts.errors import UserError
from cimconv.image import STORE_CONST, Image, parse_image
from cimsdk.emulator import mailbox_map as mm
from cimsdk.fpga.instance import Instance
from cimsdk.fpga.verilate import build


class CommandFailed(RuntimeError):
    def __init__(self, command: int, status: int, detail: int):
        name = next((n for n, c, _ in mm.ERRORS if c == status), str(status))
        super().__init__(f"command {command}: {name} (detail 0x{detail:x})")
        self.status, self.detail = status, detail


@dataclass
class OpResult:
    output: np.ndarray
    cycles: int  # coprocessor clock cycles of the RUN_OP (RESULT1)


class RtlCoprocessor:
    """The RTL coprocessor attached to a private guest RAM; a context manager."""

    RAM_BASE = 0x80000000

    def __init__(self, inst: Instance, ram_size: int = 8 << 20, timeout: float = 600.0):
        self.inst, self.ram_size, self.timeout = inst, ram_size, timeout
        self.window = self.RAM_BASE + ram_size - mm.WINDOW_SIZE
        self.heap = self.RAM_BASE  # bump allocator for images and activations
        self.proc: subprocess.Popen | None = None
        self.seq = 0
        self.image: Image | None = None
        self.image_addr = 0

    def __enter__(self) -> RtlCoprocessor:
        exe = build(self.inst)
        self.fd = os.memfd_create("cimsdk-rtl-ram", 0)
        os.ftruncate(self.fd, self.ram_size)
        self.mem = mmap.mmap(self.fd, self.ram_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        # Registers are written as whole aligned words (one store): struct.pack_into zeroes its target
        # before it writes the bytes, so the co-simulation could read a DOORBELL of 0 in between and
        # run a spurious command (the "2,001 commands for 2,000 NOPs" and doubled `macs` of old).
        self._words = memoryview(self.mem).cast("I")
        self.proc = subprocess.Popen(
            [str(exe), "--fd", str(self.fd), "--ram-base", hex(self.RAM_BASE), "--ram-size", hex(self.ram_size),
             "--window", hex(self.window)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(self.fd,))  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        # The co-simulation logs a line per command on stderr: read it all the time, or the pipe
        # fills (~1,500 commands) and the co-simulation blocks for good after its next DONE.
        self._log: collections.deque[str] = collections.deque(maxlen=50)
        self._log_reader = threading.Thread(target=self._read_log, args=(self.proc.stderr,), daemon=True)
        self._log_reader.start()
        line = self.proc.stdout.readline().strip()
        if line != b"ready":
            self.proc.wait(timeout=30)
            self._log_reader.join(5.0)
            raise RuntimeError(f"co-simulation did not start: {line!r} {' | '.join(self._log)[-500:]}")
        return self

    def _read_log(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            self._log.append(raw.decode(errors="replace").rstrip())

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # EOF: the co-simulation detaches and exits
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if getattr(self, "mem", None) is not None:
            self._words.release()
            self.mem.close()
            os.close(self.fd)
            self.mem = None

    # -- guest memory ---------------------------------------------------------------------------
    def alloc(self, n: int, align: int = 8) -> int:
        addr = (self.heap + align - 1) // align * align
        if addr + n > self.window:
            raise MemoryError("guest RAM of the test harness is full")
        self.heap = addr + n
        return addr

    def write(self, addr: int, data: bytes) -> None:
        off = addr - self.RAM_BASE
        self.mem[off : off + len(data)] = data

    def read(self, addr: int, n: int) -> bytes:
        off = addr - self.RAM_BASE
        return self.mem[off : off + n]

    def reg(self, name: str) -> int:
        return struct.unpack_from("<I", self.mem, self.window - self.RAM_BASE + mm.REG[name])[0]

    def set_reg(self, name: str, value: int) -> None:
        self._words[(self.window - self.RAM_BASE + mm.REG[name]) // 4] = value & 0xFFFFFFFF

    def counters(self) -> dict[str, int]:
        base = self.window - self.RAM_BASE + mm.REG["COUNTERS"]
        return {name: struct.unpack_from("<Q", self.mem, base + 8 * i)[0] for i, name in enumerate(mm.COUNTER_NAMES)}

    # -- mailbox --------------------------------------------------------------------------------
    def command(self, code: int, args: list[int] | tuple[int, ...] = ()) -> list[int]:
        """One command through the handshake; raises CommandFailed on a non-zero STATUS."""
        if self.reg("MAGIC") != mm.MAGIC:
            raise RuntimeError("the coprocessor is not attached (MAGIC missing)")
        for i, a in enumerate(args):
            self.set_reg(f"ARG{i}", a)
        self.set_reg("COMMAND", code)
        self.seq = self.reg("DOORBELL") + 1
        self.set_reg("DOORBELL", self.seq)
        deadline = time.monotonic() + self.timeout
        spins = 0
        while self.reg("DONE") != self.seq:
            spins += 1
            if spins > 1000:
                time.sleep(0.0002)
            if time.monotonic() > deadline or (self.proc is not None and self.proc.poll() is not None):
                raise RuntimeError(f"command {code} not done (co-simulation {'exited' if self.proc.poll() is not None else 'timed out'})")
        status = self.reg("STATUS")
        if status:
            raise CommandFailed(code, status, self.reg("ERROR_DETAIL"))
        return [self.reg(f"RESULT{i}") for i in range(4)]

    def load_image(self, data: bytes) -> list[int]:
        image = parse_image(data)
        wide = next((i for i, op in enumerate(image.ops) if op.cim and image.tensors[op.inputs[0]].dtype != "int8"), None)
        if wide is not None:
            raise UserError(f"op {wide} ({image.ops[wide].opcode}) takes int16 activations (16x8); the RTL "
                            "coprocessor takes int8 only: convert for sram-dcim or nor-acim")
        self.image = image
        self.image_addr = self.alloc(len(data))
        self.write(self.image_addr, data)
        return self.command(mm.CMD["LOAD_IMAGE"], [self.image_addr, len(data)])

    def run_op(self, index: int, x: np.ndarray) -> OpResult:
        """RUN_OP `index` on one input (int8, the op's activation shape); returns output and cycles."""
        assert self.image is not None
        op = self.image.ops[index]
        out = self.image.tensors[op.outputs[0]]
        act = next(t for t in op.inputs if self.image.tensors[t].storage != STORE_CONST)
        x = np.ascontiguousarray(x, dtype=np.int8)
        assert x.size == int(np.prod(self.image.tensors[act].shape))
        heap = self.heap
        in_addr = self.alloc(x.nbytes)
        out_addr = self.alloc(out.nbytes)
        self.write(in_addr, x.tobytes())
        try:
            res = self.command(mm.CMD["RUN_OP"], [index, in_addr, out_addr])
        finally:
            self.heap = heap
        y = np.frombuffer(self.read(out_addr, res[0]), dtype=np.int8).reshape(out.shape)
        return OpResult(y.copy(), res[1])
