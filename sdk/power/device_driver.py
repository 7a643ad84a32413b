"""The console client as the profiler's device driver (registered on import, see session.py).

`ConsoleDriver` runs marked inferences with RUN_MARKED on any board that runs the cimsdk firmware
(the marker reaches a real meter through the board's wiring). With the emulated meter it also reads
the counters after every inference (GET_COUNTERS) and streams the activity they describe to the
meter process (`emulated_activity`): the trace is built from what the device counted.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cimconv.errors import UserError
from cimsdk.power.session import register_driver

if TYPE_CHECKING:
    from cimsdk.power.emulated_activity import ImageActivity, InferenceCounters
    from cimsdk.power.meters import Meter

#: Idle time between inferences on the emulated board when the meter option idle_ms is not given.
DEFAULT_IDLE_MS = 2.0
#: Seconds to leave an emulated board (socket:// UART) to boot before the first frame.
BOOT_GRACE_S = 0.5


class ConsoleDriver:
    """Runs marked inferences over the firmware console; feeds an emulated meter from the counters."""

    def __init__(self, port: str, meter: Meter, input_path: str | None = None, *,
                 image: str | None = None, timeout: float = 10.0) -> None:
        from cimsdk.device import Device, ensure_image

        self.port = port
        self.meter = meter
        self.dev = Device(port, timeout=timeout, open_timeout=timeout)
        self.image_bytes: bytes | None = None
        self.input_bytes: bytes | None = None
        if self.dev.url.startswith("socket://"):  # also HOST:PORT and auto, resolved by the transport
            # An emulated board boots when its first client connects; a frame that reaches the UART
            # before the firmware has set it up can wedge the link (seen on qemu-virt-rv32), so let
            # the guest boot first.
            time.sleep(BOOT_GRACE_S)
        try:
            self.dev.ping()
            if image is not None:
                from cimsdk.imagefile import read_weight_image_bytes

                _, self.image_bytes = read_weight_image_bytes(image)
                ensure_image(self.dev, self.image_bytes, show_progress=False)
            self.info = self.dev.info()
            if not self.info.image_loaded:
                raise UserError(f"the device at {port} holds no weight image; pass --image model.cimg "
                                "(or load one with `cimsdk validate --port PORT IMAGE`)")
            if self.image_bytes is not None and hashlib.sha256(self.image_bytes).hexdigest() != self.info.image_sha256:
                raise UserError(f"--image {image} is not the image the device at {port} holds "
                                f"(device SHA-256 {self.info.image_sha256[:12]}...)")
            if input_path is not None:
                self._set_input(input_path)
        except BaseException:
            self.dev.close()
            raise
        self.measured: list[InferenceCounters] = []
        self.activity: ImageActivity | None = None
        self._emulated = _is_emulated(meter)
        self._t = 0.0
        self._clock_hz = 0.0
        self._idle_s = DEFAULT_IDLE_MS * 1e-3
        if self._emulated:
            self._prepare_emulated()

    # -- setup ------------------------------------------------------------------------------------
    def _set_input(self, input_path: str) -> None:
        from cimconv.image import parse_image
        from cimsdk.imagefile import image_input

        if self.image_bytes is None:
            raise UserError("--input needs --image (the image tells how to turn the file into the model's input)")
        x = image_input(parse_image(self.image_bytes), Path(input_path))
        data = x[:1].tobytes()
        if self.info.input_size and len(data) != self.info.input_size:
            raise UserError(f"--input {input_path} gives {len(data)} bytes, the device takes {self.info.input_size}")
        self.dev.set_input(data)
        self.input_bytes = data

    def _prepare_emulated(self) -> None:
        """Choose the meter's tables before its process starts and learn the image's macro operations."""
        from cimsdk.power.emulated_activity import ImageActivity
        from cimsdk.power.energy_model import load_energy_table

        meter = self.meter
        backend = self.info.backend
        if backend not in ("mailbox", "soft"):
            raise UserError(f"the device at {self.port} reports CiM backend {backend!r}; the emulated meter "
                            "knows mailbox and soft")
        if getattr(meter, "target", None) is None and getattr(meter, "proc", None) is None:
            # soft: no macro on the board, so no macro leakage either.
            meter.target = "soft" if backend == "soft" else (self.info.image_target or None)  # type: ignore[attr-defined]
        if backend == "mailbox":
            if self.image_bytes is None:
                raise UserError("the emulated meter needs the device's weight image to know its macro operations; "
                                "pass --image model.cimg (the image loaded on the device)")
            self.activity = ImageActivity.from_image(self.image_bytes)
        board = load_energy_table(getattr(meter, "board", None), "board")
        self._clock_hz = float(board["clock_hz"])
        idle_ms = getattr(meter, "idle_ms", None)
        self._idle_s = (idle_ms if idle_ms is not None else DEFAULT_IDLE_MS) * 1e-3
        self._t = self._on_sample_grid(self._idle_s)  # idle lead-in: the first window starts with a rising marker

    def _on_sample_grid(self, t: float) -> float:
        """Start windows on a sample boundary, so a window's first sample holds only its own energy
        (the marker of a sample is taken at its midpoint)."""
        fs = float(getattr(self.meter, "sample_rate_hz", 0.0) or 0.0)
        return math.ceil(t * fs - 1e-6) / fs if fs > 0 else t

    # -- InferenceDriver ----------------------------------------------------------------------------
    def run_marked(self, n: int) -> None:
        if not self._emulated:
            self.dev.run_marked(n)
            return
        from cimsdk.power.emulated_activity import counter_delta, inference_segments

        for _ in range(n):
            if self.input_bytes is not None:
                # The planner may reuse the input's arena bytes for later activations, so a second run
                # would compute on what the first left there: every measured inference gets the input.
                self.dev.set_input(self.input_bytes)
            before = self.dev.counters()
            last = self.dev.run_marked(1)
            after = self.dev.counters()
            c = counter_delta(before, after, last)
            self.measured.append(c)
            segs, end = inference_segments(self._t, c, self.info.backend, self.activity, self._clock_hz)
            self.meter.send_activity(segs, end=False)  # type: ignore[attr-defined]
            self._t = self._on_sample_grid(end + self._idle_s)

    def finish(self) -> None:
        """End the emulated meter's activity stream (it then flushes its samples and closes)."""
        if self._emulated and getattr(self.meter, "activity_address", None) is not None:
            from cimsdk.power.energy_model import ActivitySegment

            # An idle tail so the last window ends before the capture does.
            self.meter.send_activity([ActivitySegment(self._t, self._t)], end=True)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.dev.close()

    def describe(self) -> dict:
        """What the device measured, for report.json (`device`)."""
        d: dict = {"port": self.port, "board": self.info.board, "backend": self.info.backend,
                   "firmware": self.info.fw_version, "image_target": self.info.image_target,
                   "image_sha256": self.info.image_sha256}
        if self.measured:
            med = statistics.median
            d["per_inference"] = {
                "inferences": len(self.measured),
                "cycles": med(c.cycles for c in self.measured),
                "instret": med(c.instret for c in self.measured),
                "wait_instructions": med(c.wait_instructions for c in self.measured),
                "cpu_cycles": med(c.cpu_cycles for c in self.measured),
                "cim_ops": med(c.cim_ops for c in self.measured),
            }
            d["clock_hz"] = self._clock_hz
            d["energy_board"] = getattr(self.meter, "board", None)
            d["energy_target"] = getattr(self.meter, "target", None)
            d["idle_ms_between_inferences"] = self._idle_s * 1e3
        if self.activity is not None:
            d["macro"] = {"target": self.activity.target, "counts_per_inference": self.activity.totals,
                          "latency_ms_per_inference": self.activity.latency_total_s * 1e3}
        return d


def _is_emulated(meter: Meter) -> bool:
    from cimsdk.power.meters.emulated import EmulatedMeter

    return isinstance(meter, EmulatedMeter)


def _factory(port: str, meter: Meter, input_path: str | None = None, **options: object) -> ConsoleDriver:
    return ConsoleDriver(port, meter, input_path, **options)  # type: ignore[arg-type]


register_driver("console", _factory)
