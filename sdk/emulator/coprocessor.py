"""The emulated CiM coprocessor: a host process attached to the guest's RAM, serving the mailbox.

It maps the file that backs QEMU's RAM (shared, so guest stores are visible here and ours there),
polls the doorbell, and executes commands with the golden model (`cimsdk.golden.Executor`), the same
code `cimsdk run` uses, so the device's CiM layers are bit-exact to the host emulator by construction.
The register map is `mailbox_map` (docs/mailbox.md).

Run as `python -m cimsdk.emulator.coprocessor --fd N ...` by `EmulatedBoard`; it prints `ready` on
stdout once MAGIC is written, and exits when its stdin reaches end-of-file (the launcher closed it or
died; the launcher also gives it a parent-death signal, `cimsdk.procs`) or on SIGTERM/SIGINT/SIGHUP.
It runs a single thread and leaves through `os._exit`, so no exit can wait on a lock or a read.
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import os
import select
import signal
import struct
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from typing import Any

from cimsdk.emulator import mailbox_map as mm

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class GuestMemory:
    """Guest-physical addresses over the mapped RAM file, bounds-checked (a bad address is an error code)."""

    def __init__(self, mem: mmap.mmap, ram_base: int, ram_size: int):
        self.mem, self.base, self.size = mem, ram_base, ram_size

    def offset(self, addr: int, length: int) -> int:
        off = addr - self.base
        if off < 0 or length < 0 or off + length > self.size:
            raise _CommandError(mm.ERR["ERR_BAD_ADDRESS"], addr)
        return off

    def read(self, addr: int, length: int) -> bytes:
        off = self.offset(addr, length)
        return self.mem[off : off + length]

    def write(self, addr: int, data: bytes) -> None:
        off = self.offset(addr, len(data))
        self.mem[off : off + len(data)] = data


class _CommandError(Exception):
    def __init__(self, status: int, detail: int = 0):
        super().__init__(status, detail)
        self.status, self.detail = status, detail


class Coprocessor:
    """Serves one mailbox window. `poll()` handles at most one command and says whether it did."""

    def __init__(self, mem: mmap.mmap, ram_base: int, ram_size: int, window_base: int, log=None):
        self.guest = GuestMemory(mem, ram_base, ram_size)
        self.mem = mem
        self.win = window_base - ram_base
        if self.win < 0 or self.win + mm.WINDOW_SIZE > ram_size:
            raise ValueError(f"mailbox window 0x{window_base:08x} outside guest RAM")
        self.executor: Any = None
        self.image_digest = b""
        self.log = log or (lambda msg: _say(sys.stderr, f"coprocessor: {msg}"))
        self.heartbeat = 0

    # -- registers ------------------------------------------------------------------------------
    def reg(self, name: str) -> int:
        return _U32.unpack_from(self.mem, self.win + mm.REG[name])[0]

    def set_reg(self, name: str, value: int) -> None:
        _U32.pack_into(self.mem, self.win + mm.REG[name], value & 0xFFFFFFFF)

    def counter(self, name: str) -> int:
        slot = mm.COUNTER_NAMES.index(name)
        return _U64.unpack_from(self.mem, self.win + mm.REG["COUNTERS"] + 8 * slot)[0]

    def add_counter(self, name: str, n: int) -> None:
        if name not in mm.COUNTER_NAMES:
            name = "other"
        off = self.win + mm.REG["COUNTERS"] + 8 * mm.COUNTER_NAMES.index(name)
        _U64.pack_into(self.mem, off, (_U64.unpack_from(self.mem, off)[0] + int(n)) & (2**64 - 1))

    def attach(self) -> None:
        """Announce ourselves; pending doorbells (rung before we attached) are served next."""
        self.set_reg("VERSION", mm.VERSION)
        self.set_reg("MAGIC", mm.MAGIC)

    def detach(self) -> None:
        self.set_reg("MAGIC", 0)

    # -- serving --------------------------------------------------------------------------------
    def poll(self) -> bool:
        seq = self.reg("DOORBELL")
        if seq == self.reg("ACCEPTED"):
            return False
        self.set_reg("ACCEPTED", seq)
        command = self.reg("COMMAND")
        args = [self.reg(f"ARG{i}") for i in range(8)]
        results = [0, 0, 0, 0]
        status, detail = mm.ERR["OK"], 0
        try:
            results = self.execute(command, args)
        except _CommandError as exc:
            status, detail = exc.status, exc.detail
        except Exception:  # the guest gets an error code; the log gets the traceback
            self.log(f"command {command} failed:\n{traceback.format_exc()}")
            status = mm.ERR["ERR_INTERNAL"]
        for i, value in enumerate(results[:4]):
            self.set_reg(f"RESULT{i}", value)
        self.set_reg("ERROR_DETAIL", detail)
        self.set_reg("STATUS", status)
        self.add_counter("commands", 1)
        self.set_reg("DONE", seq)  # last: the guest reads everything above once DONE == seq
        return True

    def execute(self, command: int, args: list[int]) -> list[int]:
        if command == mm.CMD["NOP"]:
            return []
        if command == mm.CMD["MEMCPY"]:
            src, dst, n = args[0], args[1], args[2]
            data = self.guest.read(src, n)
            self.guest.write(dst, data)
            return [zlib.crc32(data) & 0xFFFFFFFF]
        if command == mm.CMD["LOAD_IMAGE"]:
            return self.load_image(args[0], args[1])
        if command == mm.CMD["RUN_OP"]:
            return self.run_op(args[0], args[1], args[2])
        if command == mm.CMD["RESET_COUNTERS"]:
            off = self.win + mm.REG["COUNTERS"]
            self.mem[off : off + 8 * mm.COUNTER_COUNT] = bytes(8 * mm.COUNTER_COUNT)
            return []
        raise _CommandError(mm.ERR["ERR_UNKNOWN_COMMAND"], command)

    def load_image(self, addr: int, size: int) -> list[int]:
        data = self.guest.read(addr, size)
        digest = hashlib.sha256(data).digest()
        if digest != self.image_digest or self.executor is None:
            from cimconv.errors import UserError
            from cimsdk.golden.executor import Executor

            try:
                self.executor = Executor(data)
            except UserError as exc:
                self.executor, self.image_digest = None, b""
                self.log(f"LOAD_IMAGE: bad image at 0x{addr:08x} ({size} bytes): {exc}")
                raise _CommandError(mm.ERR["ERR_BAD_IMAGE"], addr) from exc
            self.image_digest = digest
            weights = sum(int(m.weights.nbytes) for m in self.executor.image.matrices)
            self.add_counter("weight_bytes", weights)
            self.log(f"image loaded: {len(self.executor.image.ops)} ops, {weights} weight bytes resident")
        ops = self.executor.image.ops
        return [len(ops), sum(1 for op in ops if op.cim)]

    def run_op(self, index: int, in_addr: int, out_addr: int) -> list[int]:
        import numpy as np

        from cimconv.image import STORE_CONST

        ex = self.executor
        if ex is None:
            raise _CommandError(mm.ERR["ERR_NO_IMAGE"])
        if index >= len(ex.image.ops) or not ex.image.ops[index].cim:
            raise _CommandError(mm.ERR["ERR_BAD_OP"], index)
        op = ex.image.ops[index]
        acts = [t for t in op.inputs if ex.image.tensors[t].storage != STORE_CONST]
        if len(acts) != 1:
            raise _CommandError(mm.ERR["ERR_BAD_OP"], index)
        rec = ex.image.tensors[acts[0]]
        dtype = np.dtype(rec.dtype)
        n_in = int(np.prod(rec.shape)) * dtype.itemsize
        x = np.frombuffer(self.guest.read(in_addr, n_in), dtype=dtype).reshape(rec.shape)
        y = np.ascontiguousarray(ex.run_op(index, [x]))
        out = y.tobytes()
        self.guest.write(out_addr, out)
        self.add_counter("ops", 1)
        self.add_counter("input_bytes", n_in)
        self.add_counter("output_bytes", len(out))
        for name, n in ex.op_counters(index).items():
            self.add_counter(name, n)
        return [len(out)]

    def serve(self, should_stop: Callable[[], bool]) -> None:
        """Poll until `should_stop()`: spin right after a command (layers come in bursts), then back off.

        `should_stop` is asked only while idle, at most every few milliseconds."""
        last = time.monotonic()
        while True:
            if self.poll():
                last = time.monotonic()
                continue
            self.heartbeat += 1
            if self.heartbeat % 256 == 0:
                self.set_reg("HEARTBEAT", self.heartbeat)
            idle = time.monotonic() - last
            if idle < 0.005:
                time.sleep(0)
                continue
            if should_stop():
                return
            time.sleep(0.0002 if idle < 1.0 else 0.001)


class _Lifeline:
    """Why the process should stop: a signal arrived, or the launcher is gone.

    One thread only: the signal handlers set a flag, and the launcher's end of our stdin is checked
    with a zero-timeout poll (end-of-file means it closed it or died), so there is never a thread
    blocked in a read, nor a lock held, when the process exits.
    """

    def __init__(self) -> None:
        self.signalled = 0
        self.poller = select.poll()
        self.poller.register(sys.stdin.fileno(), select.POLLIN | select.POLLHUP)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame) -> None:  # noqa: ANN001, ARG002
        self.signalled = signum

    def launcher_gone(self) -> bool:
        for _, events in self.poller.poll(0):
            if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                return True
            if events & select.POLLIN and not os.read(sys.stdin.fileno(), 4096):
                return True
        return False

    def __call__(self) -> bool:
        return bool(self.signalled) or self.launcher_gone()


def _say(stream, text: str) -> None:  # noqa: ANN001
    """Write to a pipe the launcher may already have closed."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="emulated CiM coprocessor (started by cimsdk emulate)")
    ap.add_argument("--fd", type=int, help="inherited file descriptor of the guest RAM file")
    ap.add_argument("--path", help="or: path of the guest RAM file")
    ap.add_argument("--ram-base", type=lambda s: int(s, 0), default=mm.QEMU_RAM_BASE)
    ap.add_argument("--ram-size", type=lambda s: int(s, 0), default=mm.QEMU_RAM_SIZE)
    ap.add_argument("--window", type=lambda s: int(s, 0), default=mm.QEMU_WINDOW_BASE)
    args = ap.parse_args(argv)

    lifeline = _Lifeline()
    fd = args.fd if args.fd is not None else os.open(args.path, os.O_RDWR)
    mem = mmap.mmap(fd, args.ram_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    cop = Coprocessor(mem, args.ram_base, args.ram_size, args.window,
                      log=lambda msg: _say(sys.stderr, f"coprocessor: {msg}"))
    # Import the golden model now, not inside the guest's first LOAD_IMAGE wait.
    try:
        import cimsdk.golden.executor  # noqa: F401
    except Exception as exc:  # the diagnostic commands still work without it
        cop.log(f"golden model unavailable ({exc}); LOAD_IMAGE/RUN_OP will fail")
    if lifeline():
        return 0
    cop.attach()
    _say(sys.stdout, "ready")
    try:
        cop.serve(lifeline)
    finally:
        cop.detach()
    return 0


if __name__ == "__main__":
    # Whatever happens, leave through os._exit: no interpreter shutdown that could wait on anything.
    status = 1
    try:
        status = main()
    except BaseException:
        _say(sys.stderr, f"coprocessor: stopped by an error:\n{traceback.format_exc()}")
    finally:
        os._exit(status)
