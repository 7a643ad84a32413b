"""Joulescope JS110/JS220 through Jetperch's `pyjoulescope_driver` (optional dependency).

The driver is a pub/sub tree per device (``u/js220/<serial>``): we set the sample rate with
``h/fs``, auto ranging, subscribe to ``s/i/!data``, ``s/v/!data`` and the marker input
``s/gpi/<n>/!data``, and start each stream by publishing 1 to its ``ctrl`` topic. Data
messages carry a numpy array and the ``sample_id`` of its first sample; we align the three
streams on sample ids.
"""

from __future__ import annotations

import queue
import threading

import numpy as np

from cimconv.errors import UserError
from cimsdk.power.meters import Meter, SampleBlock

_INSTALL_HINT = "install it with `pip install pyjoulescope-driver` (and the Joulescope udev rules on Linux)"


def _driver_module():
    try:
        import pyjoulescope_driver
    except ImportError:
        raise UserError(f"the joulescope meter needs the pyjoulescope_driver package; {_INSTALL_HINT}") from None
    return pyjoulescope_driver


class JoulescopeMeter(Meter):
    """One Joulescope; `serial` picks a device when several are connected."""

    name = "joulescope"

    def __init__(self, serial: str | None = None, *, sample_rate_hz: float = 100_000, gpi: int = 0) -> None:
        self.serial = serial
        self.sample_rate_hz = float(sample_rate_hz)
        self.gpi = gpi
        self.driver = None
        self.path: str | None = None
        self._q: queue.Queue[tuple[str, int, np.ndarray]] = queue.Queue()
        self._streams: dict[str, list] = {}
        self._next = 0
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, arg: str | None, **opts: str) -> JoulescopeMeter:
        unknown = set(opts) - {"rate", "gpi"}
        if unknown:
            raise UserError(f"joulescope does not know option(s) {', '.join(sorted(unknown))}; known: rate, gpi")
        try:
            return cls(arg, sample_rate_hz=float(opts.get("rate", 100_000)), gpi=int(opts.get("gpi", 0)))
        except ValueError as exc:
            raise UserError(f"joulescope option is not a number ({exc})") from None

    def open(self) -> None:
        if self.driver is not None:
            return
        mod = _driver_module()
        driver = mod.Driver()
        try:
            paths = list(driver.device_paths())
            if self.serial:
                paths = [p for p in paths if p.lower().endswith(self.serial.lower())]
            if not paths:
                which = f" with serial {self.serial}" if self.serial else ""
                raise UserError(f"no Joulescope{which} found; connect it over USB (check `python -m pyjoulescope_driver scan`)")
            self.path = paths[0]
            driver.open(self.path, "defaults")
            driver.publish(f"{self.path}/h/fs", int(self.sample_rate_hz))
            if "js110" in self.path:
                driver.publish(f"{self.path}/s/i/range/select", "auto")
                driver.publish(f"{self.path}/s/v/range/select", "15 V")
            else:
                driver.publish(f"{self.path}/s/i/range/mode", "auto")
                driver.publish(f"{self.path}/s/v/range/mode", "auto")
        except UserError:
            driver.finalize()
            raise
        except Exception as exc:
            driver.finalize()
            raise UserError(f"cannot open the Joulescope ({exc}); {_INSTALL_HINT}") from None
        self.driver = driver

    def _topics(self) -> dict[str, str]:
        return {"i": "s/i", "v": "s/v", "m": f"s/gpi/{self.gpi}"}

    def _on_data(self, topic: str, value: dict) -> None:
        key = next(k for k, t in self._topics().items() if topic.endswith(f"{t}/!data"))
        data = np.asarray(value["data"])
        dec = int(value.get("decimate_factor", 1)) or 1
        if key == "m" and value.get("element_size_bits") == 1:
            n = int(value.get("sample_count", len(data) * 8))
            data = np.unpackbits(data.view(np.uint8), bitorder="little")[:n]
        self._q.put((key, int(value["sample_id"]) // dec, data))

    def close(self) -> None:
        if self.driver is not None:
            try:
                self.driver.close(self.path)
            finally:
                self.driver.finalize()
                self.driver = None

    def start(self) -> None:
        self.open()
        assert self.driver is not None
        self._streams = {"i": [], "v": [], "m": []}
        self._next = None  # type: ignore[assignment]
        for topic in self._topics().values():
            self.driver.subscribe(f"{self.path}/{topic}/!data", ["pub"], self._on_data)
            self.driver.publish(f"{self.path}/{topic}/ctrl", 1)

    def stop(self) -> None:
        if self.driver is None:
            return
        for topic in self._topics().values():
            try:
                self.driver.publish(f"{self.path}/{topic}/ctrl", 0, timeout=0.25)
                self.driver.unsubscribe(f"{self.path}/{topic}/!data", self._on_data)
            except Exception:  # a device unplugged mid-capture: nothing left to stop
                pass

    def read(self, timeout: float) -> SampleBlock | None:
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        items = [item]
        while not self._q.empty():
            items.append(self._q.get_nowait())
        for key, sid, data in items:
            self._streams[key].append((sid, data))
        # Emit the sample-id range every stream has covered.
        spans = {}
        for key, chunks in self._streams.items():
            if not chunks:
                return None
            spans[key] = (chunks[0][0], chunks[-1][0] + len(chunks[-1][1]))
        lo = max(s[0] for s in spans.values()) if self._next is None else self._next
        hi = min(s[1] for s in spans.values())
        if hi <= lo:
            return None
        out = {}
        for key, chunks in self._streams.items():
            sid0 = chunks[0][0]
            flat = np.concatenate([c[1] for c in chunks])
            out[key] = flat[lo - sid0 : hi - sid0]
            rest = flat[hi - sid0 :]
            self._streams[key] = [(hi, rest)] if len(rest) else []
        self._next = hi
        return SampleBlock(out["i"].astype(np.float64), out["v"].astype(np.float64),
                           (out["m"] != 0).astype(np.uint8))
