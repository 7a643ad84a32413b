"""The one meter interface and the registry of meter backends by name.

A backend subclasses `Meter` and implements `start`, `read` and `stop`; `capture` (shared)
runs a reader thread while the device runs marked inferences and returns a `Trace`.
Backends are named on the command line as ``NAME[:ARG]`` (``ppk2:/dev/ttyACM0``,
``emulated:127.0.0.1:5555``, ``ina226:/dev/ttyUSB0``, ``joulescope``) plus ``key=value`` options.
"""

from __future__ import annotations

import importlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cimconv.errors import UserError
from cimsdk.power.trace import Trace


@dataclass
class SampleBlock:
    """Consecutive samples from a meter; `time_s` only for meters without a fixed sample clock."""

    current_a: np.ndarray
    voltage_v: np.ndarray
    marker: np.ndarray
    time_s: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.current_a)


class Meter(ABC):
    """A current/voltage meter with a marker input, streaming sample blocks once started."""

    name: str = "meter"
    #: Nominal sample rate; 0 when the meter timestamps each sample itself.
    sample_rate_hz: float = 0.0

    def open(self) -> None:  # noqa: B027 - optional hook
        """Connect to the instrument (idempotent); the default has nothing to do."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the instrument."""

    @abstractmethod
    def start(self) -> None:
        """Begin streaming samples."""

    @abstractmethod
    def read(self, timeout: float) -> SampleBlock | None:
        """Next block of samples, or None when none arrived within `timeout` seconds."""

    @abstractmethod
    def stop(self) -> None:
        """Stop streaming."""

    @property
    def exhausted(self) -> bool:
        """True when the source has ended for good (a finished emulation, a closed stream)."""
        return False

    def __enter__(self) -> Meter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def capture(
        self,
        *,
        duration_s: float | None = None,
        n_samples: int | None = None,
        during: Callable[[], None] | None = None,
        tail_s: float = 0.05,
        timeout_s: float = 60.0,
        on_progress: Callable[[float], None] | None = None,
    ) -> Trace:
        """Capture until `n_samples`/`duration_s` of meter time, the source ends, or `during` returns.

        `during` runs in the calling thread (the device driver running inferences) while a
        reader thread drains the meter, so no sample is lost to a full OS buffer.
        """
        if duration_s is None and n_samples is None and during is None:
            raise ValueError("capture needs duration_s, n_samples or during")
        if n_samples is None and duration_s is not None and self.sample_rate_hz:
            n_samples = int(round(duration_s * self.sample_rate_hz))
        blocks: list[SampleBlock] = []
        done = threading.Event()
        errors: list[BaseException] = []
        state = {"count": 0, "t": 0.0}

        def reader() -> None:
            try:
                while not done.is_set():
                    blk = self.read(timeout=0.1)
                    if blk is None or len(blk) == 0:
                        if self.exhausted:
                            return
                        continue
                    blocks.append(blk)
                    state["count"] += len(blk)
                    if blk.time_s is not None and len(blk.time_s):
                        state["t"] = float(blk.time_s[-1] - (blocks[0].time_s[0] if blocks[0].time_s is not None else 0))
                    elif self.sample_rate_hz:
                        state["t"] = state["count"] / self.sample_rate_hz
                    if on_progress:
                        on_progress(state["t"])
                    if n_samples is not None and state["count"] >= n_samples:
                        return
                    if duration_s is not None and state["t"] >= duration_s:
                        return
            except BaseException as exc:  # handed to the caller's thread
                errors.append(exc)

        self.start()
        thread = threading.Thread(target=reader, name=f"{self.name}-reader", daemon=True)
        thread.start()
        try:
            if during is not None:
                during()
                if n_samples is None and duration_s is None:
                    time.sleep(tail_s)
                    # Let a finite source (emulated meter) deliver what it still holds.
                    deadline = time.monotonic() + timeout_s
                    while thread.is_alive() and not self.exhausted and time.monotonic() < deadline and self._pending():
                        time.sleep(0.01)
                    done.set()
            thread.join(timeout_s)
            if thread.is_alive():
                done.set()
                thread.join(1.0)
                if not blocks:
                    raise UserError(f"meter {self.name} sent no samples within {timeout_s:.0f} s; check the connection")
        finally:
            done.set()
            self.stop()
        if errors:
            raise errors[0]
        return self._assemble(blocks, n_samples)

    def _pending(self) -> bool:
        """Whether samples may still be in flight after the device finished (finite sources)."""
        return False

    def _assemble(self, blocks: list[SampleBlock], n_samples: int | None) -> Trace:
        if not blocks:
            raise UserError(f"meter {self.name} delivered no samples; check that it is connected and powered")
        cur = np.concatenate([b.current_a for b in blocks])
        volt = np.concatenate([b.voltage_v for b in blocks])
        mark = np.concatenate([b.marker for b in blocks])
        if blocks[0].time_s is not None:
            t = np.concatenate([b.time_s for b in blocks])  # type: ignore[misc]
            t = t - t[0]
            if n_samples is not None:
                cur, volt, mark, t = cur[:n_samples], volt[:n_samples], mark[:n_samples], t[:n_samples]
            return Trace(t, cur, volt, mark, meter=self.name, sample_rate_hz=self.sample_rate_hz)
        if n_samples is not None:
            cur, volt, mark = cur[:n_samples], volt[:n_samples], mark[:n_samples]
        return Trace.from_uniform(cur, volt, mark, self.sample_rate_hz, self.name)


# name -> (module, class); imported on demand so `cimsdk --help` stays fast.
_REGISTRY: dict[str, tuple[str, str] | Callable[..., Meter]] = {
    "ppk2": ("cimsdk.power.meters.ppk2", "PPK2Meter"),
    "joulescope": ("cimsdk.power.meters.joulescope", "JoulescopeMeter"),
    "ina226": ("cimsdk.power.meters.ina226", "Ina226Meter"),
    "emulated": ("cimsdk.power.meters.emulated", "EmulatedMeter"),
}


def register_meter(name: str, factory: Callable[..., Meter]) -> None:
    """Add a backend: `factory(arg: str | None, **options)` returns an unopened Meter."""
    _REGISTRY[name] = factory


def meter_names() -> list[str]:
    return sorted(_REGISTRY)


def parse_options(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``key=value`` strings (from --meter-opt) into a dict."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"meter option {item!r} is not key=value (e.g. voltage_v=3.3)")
        out[key.strip()] = value.strip()
    return out


def create_meter(spec: str, options: dict[str, str] | None = None) -> Meter:
    """Build a meter from ``NAME[:ARG]`` and options; UserError for an unknown name."""
    name, _, arg = spec.partition(":")
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UserError(f"--meter {name!r} is unknown; choose one of {', '.join(meter_names())}")
    if isinstance(entry, tuple):
        cls = getattr(importlib.import_module(entry[0]), entry[1])
        factory: Callable[..., Meter] = cls.from_spec
    else:
        factory = entry
    return factory(arg or None, **(options or {}))
