"""The emulated board with the RTL coprocessor (tests, benchmarks) until the launcher grows
`--coprocessor rtl`.

A copy of `EmulatedBoard._start_coprocessor` that starts `python -m cimsdk.fpga.cosim` (same
arguments, same `ready` handshake) instead of `cimsdk.emulator.coprocessor`. The hook that replaces
it in sdk/emulator/board.py is one line: choose the module from a `coprocessor="golden"|"rtl"`
argument (and build the Verilated model first: `cimsdk.fpga.verilate.build`). Delete this module then.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from cimconv.errors import UserError
from cimsdk.emulator import EmulatedBoard
from cimsdk.emulator.board import _die_with_parent, _Pump


class RtlBoard(EmulatedBoard):
    """EmulatedBoard whose coprocessor process is the RTL co-simulation."""

    def _start_coprocessor(self) -> None:
        cmd = [
            sys.executable, "-m", "cimsdk.fpga.cosim", "--fd", str(self._memfd),
            "--ram-base", hex(self.ram_base), "--ram-size", hex(self.ram_size), "--window", hex(self.window_base),
        ]  # fmt: skip
        self.coproc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(self._memfd,), preexec_fn=_die_with_parent,
        )  # fmt: skip
        pump = _Pump(self.coproc.stderr, "coprocessor", self._log)
        pump.start()
        self._pumps.append(pump)
        deadline = time.monotonic() + self.start_timeout
        ready = threading.Event()

        def wait_ready() -> None:
            if self.coproc.stdout.readline().strip() == b"ready":
                ready.set()

        threading.Thread(target=wait_ready, daemon=True).start()
        while not ready.wait(0.05):
            if self.coproc.poll() is not None or time.monotonic() > deadline:
                tail = "; ".join(list(pump.lines)[-3:])
                raise UserError(f"the RTL co-simulation did not start: {tail or 'no output'}")
