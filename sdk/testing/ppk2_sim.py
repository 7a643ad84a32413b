"""A simulated PPK2 on a pty: answers the kit's serial commands and streams 100 kS/s samples.

Used by tests and demos where no kit is plugged in. It speaks the real protocol (see
`ppk2.py`): GET_META_DATA returns calibration text ending in END, AVERAGE_START streams
4-byte sample words (ADC value, range, counter, logic bits) paced at 100 kS/s of wall time,
AVERAGE_STOP stops. The current waveform and logic bits repeat from the start at each
AVERAGE_START, so a capture of len(waveform) samples sees exactly the waveform.

    with PPK2Simulator(current_a, logic) as sim:
        meter = PPK2Meter(sim.port)
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty

import numpy as np

from cimsdk.power.meters.ppk2 import (
    SAMPLE_RATE_HZ,
    Cmd,
    encode_samples,
    format_metadata,
    regulator_mv,
)

#: A plausible calibrated kit: shunt values and gains off nominal, so a client that ignores
#: the metadata gets measurably wrong currents.
SIM_CALIBRATION: dict[str, list[float]] = {
    "R": [1021.37, 100.93, 10.087, 0.9512, 0.04412],
    "GS": [0.012, 0.0021, -0.0034, 0.0008, 0.0],
    "GI": [1.0413, 0.9671, 1.0392, 0.9757, 1.0231],
    "O": [61.2, 57.9, 55.3, 60.8, 74.1],
    "S": [1.1e-8, 2.3e-8, -4.0e-8, 2.2e-7, 0.0],
    "I": [-2.1e-8, 1.3e-7, 2.5e-6, -1.9e-5, 1.4e-4],
    "UG": [1.0, 1.0, 1.0, 1.0, 1.0],
}

# Argument bytes after each command byte (commands not listed take none).
_ARGS = {
    Cmd.REGULATOR_SET: 2,
    Cmd.DEVICE_RUNNING_SET: 1,
    Cmd.SET_POWER_MODE: 1,
    Cmd.RANGE_SET: 1,
    Cmd.TRIGGER_SET: 2,
    Cmd.TRIGGER_WINDOW_SET: 2,
    Cmd.TRIGGER_INTERVAL_SET: 2,
    Cmd.AVG_NUM_SET: 1,
    Cmd.LCD_SET: 1,
    Cmd.RES_USER_SET: 1,
    Cmd.SET_USER_GAINS: 5,
    Cmd.SWITCH_POINT_DOWN: 1,
    Cmd.SWITCH_POINT_UP: 1,
}


class PPK2Simulator:
    """Serve a PPK2 on a pty in background threads; `port` is the slave device path."""

    def __init__(self, current_a: np.ndarray, logic: np.ndarray | None = None,
                 calibration: dict[str, list[float]] | None = None, chunk: int = 1000) -> None:
        self.current_a = np.asarray(current_a, np.float64)
        self.logic = np.zeros(len(self.current_a), np.uint8) if logic is None else np.asarray(logic, np.uint8)
        self.calibration = calibration or SIM_CALIBRATION
        self.chunk = chunk
        self.vdd_mv = 3300
        self.power_mode = 0
        self.dut_on = False
        self.commands: list[int] = []
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._lock = threading.Lock()
        self._streaming = threading.Event()
        self._quit = threading.Event()
        self._threads = [threading.Thread(target=self._serve, daemon=True, name="ppk2-sim-cmd"),
                         threading.Thread(target=self._stream, daemon=True, name="ppk2-sim-data")]

    def __enter__(self) -> PPK2Simulator:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._quit.set()
        self._streaming.clear()
        for t in self._threads:
            if t.is_alive():
                t.join(2.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._quit.is_set():
            _, w, _ = select.select([], [self._master], [], 0.1)
            if w:
                with self._lock:
                    n = os.write(self._master, view)
                view = view[n:]

    def _serve(self) -> None:
        pending = b""
        while not self._quit.is_set():
            r, _, _ = select.select([self._master], [], [], 0.05)
            if not r:
                continue
            try:
                pending += os.read(self._master, 4096)
            except OSError:
                return
            while pending:
                cmd = pending[0]
                need = 1 + _ARGS.get(cmd, 0)
                if len(pending) < need:
                    break
                args, pending = pending[1:need], pending[need:]
                self._handle(cmd, args)

    def _handle(self, cmd: int, args: bytes) -> None:
        self.commands.append(cmd)
        if cmd == Cmd.GET_META_DATA:
            self._send(format_metadata(self.calibration, {"Calibrated": "1", "VDD": str(self.vdd_mv),
                                                          "HW": "28113", "IA": "56"}))
        elif cmd == Cmd.REGULATOR_SET:
            self.vdd_mv = regulator_mv(args[0], args[1])
        elif cmd == Cmd.SET_POWER_MODE:
            self.power_mode = args[0]
        elif cmd == Cmd.DEVICE_RUNNING_SET:
            self.dut_on = bool(args[0])
        elif cmd == Cmd.AVERAGE_START:
            self._streaming.set()
        elif cmd == Cmd.AVERAGE_STOP:
            self._streaming.clear()

    def _stream(self) -> None:
        while not self._quit.is_set():
            if not self._streaming.wait(0.05):
                continue
            index, counter = 0, 0
            t0 = time.monotonic()
            sent = 0
            n = len(self.current_a)
            while self._streaming.is_set() and not self._quit.is_set():
                idx = (index + np.arange(self.chunk)) % n
                data, counter = encode_samples(self.current_a[idx], self.logic[idx], counter,
                                               self.calibration, self.vdd_mv / 1000)
                index = int((index + self.chunk) % n)
                self._send(data)
                sent += self.chunk
                # Pace to the kit's fixed 100 kS/s (never faster; slower if the reader lags).
                ahead = sent / SAMPLE_RATE_HZ - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
