"""The whole FPGA system in Verilator, as a board a host talks to over TCP like the emulated one.

`SimulatedBoard` builds (once, cached like the coprocessor's co-simulation) the Verilated iCEBreaker
system: rtl/soc/icebreaker_cim.v with PicoRV32 from its Python package, the SPRAM, the flash reader
and UART of rtl/soc/, the coprocessor instance of the board's target, and the host
rtl/sim/soc_main.cpp, which models the SPI flash chip and bridges the UART to a TCP socket. The
firmware's .bin goes into the simulated flash at the board's flash origin (1 MiB, the reset
vector), as `iceprog -o 1M firmware.bin` puts it on the board; `url` is then
`socket://127.0.0.1:PORT` for `cimsdk validate`, `device run` and the `Device` class.

    python -m cimsdk.fpga.soc_sim --firmware fw/firmware/firmware.elf      # prints the URL, Ctrl-C stops

Verilator sets parameters of the top module only, so the system top is compiled from a copy of
icebreaker_cim.v whose coprocessor instance carries the target's parameters (what `chparam` does in
the yosys flow).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from cimconv.errors import UserError
from cimsdk import procs
from cimsdk.build.boards import load_board
from cimsdk.emulator.board import _Pump
from cimsdk.fpga import seqfw
from cimsdk.fpga.flow import load_board_fpga
from cimsdk.fpga.instance import load_instance
from cimsdk.fpga.verilate import Model, build_model

__all__ = ["SimulatedBoard", "build", "soc_model"]

DEFAULT_BOARD = "icebreaker-cim"
HOST_SOURCE = "sim/soc_main.cpp"
SIM_SOURCES = ("sim/soc_tb.v", "sim/sb_spram256ka.v")
TOP = "soc_tb"
BINARY = "soc-sim"
COPROCESSOR = "cim_coprocessor"


def _balanced(text: str, start: int) -> int:
    """Index just past the parenthesis group opening at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise UserError("the system top has an unbalanced parameter list on its coprocessor instance")


def _split_top(text: str) -> list[str]:
    """`text` split at the commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p.strip() for p in [*parts, cur] if p.strip()]


def _with_parameters(system_top: str, params: dict[str, int]) -> str:
    """The system top's text with its one coprocessor instance given `params` (over any it sets itself)."""
    starts = [m.start() for m in re.finditer(rf"\b{COPROCESSOR}\b(?=\s*(#|\w+\s*\())", system_top)]
    if len(starts) != 1:
        raise UserError(f"the system top instantiates {COPROCESSOR} {len(starts)} times; the simulation build "
                        "expects exactly one instance")
    i = starts[0] + len(COPROCESSOR)
    given: dict[str, str] = {}
    rest = system_top[i:].lstrip()
    end = len(system_top) - len(rest)
    if rest.startswith("#"):
        open_at = end + rest.index("(")
        close = _balanced(system_top, open_at)
        for item in _split_top(system_top[open_at + 1:close - 1]):
            m = re.fullmatch(r"\.(\w+)\s*\((.*)\)", item, re.S)
            if m is None:
                raise UserError(f"the coprocessor instance sets a parameter by position ({item!r}); name it")
            given[m.group(1)] = m.group(2).strip()
        end = close
    merged = {**given, **{k: str(v) for k, v in params.items()}}
    overrides = ", ".join(f".{k}({v})" for k, v in merged.items())
    return f"{system_top[:starts[0]]}{COPROCESSOR} #({overrides}) {system_top[end:].lstrip()}"


def soc_model(board: str = DEFAULT_BOARD) -> Model:
    """The Verilator model of `board`'s FPGA system (sources from its fpga.toml)."""
    b = load_board_fpga(board)
    inst = load_instance(b.target)
    top_file = next((s for s in b.sources if s.stem == b.top), None)
    if top_file is None:
        raise UserError(f"boards/{board}/fpga.toml: no source file named {b.top}.v among its rtl sources")
    others = tuple(str(s) for s in b.sources if s != top_file)
    generated = ((top_file.name, _with_parameters(top_file.read_text(), inst.verilog_parameters())),
                 (seqfw.MODULE_FILE, seqfw.ram_module(inst)))
    return Model(f"soc-{board}-{inst.name}", TOP, (*SIM_SOURCES, *others), HOST_SOURCE, (), BINARY, generated)


def build(board: str = DEFAULT_BOARD, log=None) -> Path:
    """The simulation executable of `board` (verilated now unless a build of the same sources exists)."""
    return build_model(soc_model(board), log=log)


def _firmware_bin(firmware: Path) -> Path:
    """The raw image to put into flash: firmware.bin beside an ELF (as `cimsdk firmware build` writes)."""
    if firmware.suffix == ".bin":
        return firmware
    binary = firmware.with_suffix(".bin")
    if not binary.is_file() or binary.stat().st_mtime < firmware.stat().st_mtime:
        raise UserError(f"{binary} is missing or older than {firmware}; rebuild with `cimsdk firmware build`")
    return binary


class SimulatedBoard:
    """The FPGA board `board` simulated in Verilator, running `firmware` from its flash; a context manager.

    With wait_for_client (the default) the system is held in reset until the first client connects,
    so no output is lost (as QEMU's `wait=on`). With wait_for_console (the default), `start` itself
    is that client: it returns once the firmware's console answers PING, so the host commands that
    follow do not spend their reply timeouts on the start-up (tens of millions of clocks: the copy
    to SPRAM, and the console's SHA-256 of an embedded image).
    """

    def __init__(self, firmware: str | Path, board: str = DEFAULT_BOARD, port: int = 0,
                 wait_for_client: bool = True, log_file: str | Path | None = None, start_timeout: float = 900.0,
                 wait_for_console: bool = True):
        self.board = load_board(board)
        self.firmware = Path(firmware)
        if not self.firmware.is_file():
            raise UserError(f"firmware {self.firmware} does not exist; build it with "
                            f"`cimsdk firmware build --board {board}`")
        self.flash_origin = int(self.board.data["memory"]["flash"]["origin"])
        self.port, self.wait_for_client, self.wait_for_console = port, wait_for_client, wait_for_console
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.host_port: tuple[str, int] | None = None
        self._pump: _Pump | None = None
        self._log = open(log_file, "a") if log_file else None  # noqa: SIM115

    def __enter__(self) -> SimulatedBoard:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        if self.host_port is None:
            raise UserError("the simulated board is not running")
        return f"socket://{self.host_port[0]}:{self.host_port[1]}"

    def command(self, exe: Path) -> list[str]:
        # the flash chip's byte address is the CPU's address within the flash window (24 bits)
        offset = self.flash_origin & 0xFFFFFF
        cmd = [str(exe), "--port", str(self.port), "--load", f"0x{offset:X}:{_firmware_bin(self.firmware)}"]
        return cmd + ([] if self.wait_for_client else ["--no-wait"])

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        exe = build(self.board.name)  # verilated once per source hash (minutes the first time)
        self.proc = procs.spawn(self.command(exe), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pump = _Pump(self.proc.stderr, "soc", self._log)
        self._pump.start()
        lines: list[str] = []
        done = threading.Event()

        def read_banner() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for raw in iter(self.proc.stdout.readline, b""):
                lines.append(raw.decode(errors="replace").strip())
                if lines[-1] == "ready":
                    done.set()
                    return

        threading.Thread(target=read_banner, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout
        while not done.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = "; ".join(list(self._pump.lines)[-3:])
                raise UserError(f"the simulated {self.board.name} did not start: {tail or 'no output'}")
        uart = next((ln.split()[1] for ln in lines if ln.startswith("uart ")), None)
        if uart is None:
            raise UserError(f"the simulated {self.board.name} printed no UART address: {lines}")
        host, port = uart.rsplit(":", 1)
        self.host_port = (host, int(port))
        if self.wait_for_console:
            self._await_console(deadline)

    def _await_console(self, deadline: float) -> None:
        from cimsdk.device import Device
        from cimsdk.transport import DeviceNotAnswering

        # PINGs sent while the firmware starts are lost (it does not read the UART yet): resend often.
        with Device(self.url, timeout=5.0, retries=1_000_000, open_timeout=30.0) as dev:
            dev.give_up_after = max(1.0, deadline - time.monotonic())
            try:
                dev.ping()
            except DeviceNotAnswering:
                tail = "; ".join(self.logs()[-2:])
                raise UserError(f"the simulated {self.board.name}'s console did not answer within "
                                f"{self.start_timeout:.0f} s ({tail or 'no output'}); does the firmware run the console?"
                                ) from None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> list[str]:
        return list(self._pump.lines) if self._pump else []

    def close(self) -> None:
        """Stop the simulation (its stdin closes, then SIGTERM); safe to call twice."""
        if self.proc is not None:
            if self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            procs.stop(self.proc, grace=5.0)
            if self.proc.stdout is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdout.close()
            self.proc = None
        if self._pump is not None:
            self._pump.join(timeout=1.0)
        if self._log is not None:
            self._log.close()
            self._log = None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cimsdk.fpga.soc_sim",
                                 description="simulate the FPGA board in Verilator, its UART on a TCP socket")
    ap.add_argument("--firmware", required=True, type=Path, help="firmware .elf (its .bin beside it) or .bin")
    ap.add_argument("--board", default=DEFAULT_BOARD)
    ap.add_argument("--port", type=int, default=0, help="TCP port of the UART (default: a free one)")
    ap.add_argument("--no-wait", action="store_true", help="run at once instead of waiting for the first client")
    args = ap.parse_args(argv)
    try:
        exe = build(args.board, log=lambda m: print(m, file=sys.stderr, flush=True))
        board = SimulatedBoard(args.firmware, args.board, args.port, not args.no_wait)
        with board:
            print(f"{board.board.name} simulated (Verilator {exe.parent.name}); UART at {board.url}", flush=True)
            while board.alive:
                time.sleep(0.5)
            print("\n".join(board.logs()[-5:]), file=sys.stderr)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
