"""The device side of a profile: something that runs marked inferences on the board.

The profiler does not talk to the board itself; a driver registered here does (the console
client of the firmware). Markers reach the meter by the board's own wiring: a GPIO on the
meter's logic input (PPK2 D0-D7, Joulescope GPI), the marker field of the INA226 console
lines, or the `marker` flag of the activity segments the emulator feeds to the emulated meter.

`cimsdk.power.device_driver` (the firmware console client) registers itself on first use;
without any driver `open_driver` raises a UserError that points at ``cimsdk profile --from``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cimconv.errors import UserError

if TYPE_CHECKING:
    from cimsdk.power.meters import Meter


@runtime_checkable
class InferenceDriver(Protocol):
    """Runs inferences on the device, each framed by a marker (high during the inference).

    `run_marked(n)` returns once the n inferences are done and the marker is low again; the
    board should stay idle (marker low) for at least a few meter samples between inferences,
    so the level-mode analysis sees separate windows and can measure idle power.
    """

    def run_marked(self, n: int) -> None: ...

    def close(self) -> None: ...

    # Optional, looked up with getattr: `finish()` runs once after the last run_marked (the
    # console driver ends the emulated meter's activity stream there), and `describe() -> dict`
    # adds what the device measured to report.json under "device".


#: factory(port, meter, input_path, **options) -> InferenceDriver. The meter is passed so a driver
#: can wire markers/activity to it (e.g. EmulatedMeter.activity_address); options (e.g. `image`,
#: the weight image the device runs) are only passed when the user gave them.
DriverFactory = Callable[..., InferenceDriver]

_factories: list[tuple[str, DriverFactory]] = []


def register_driver(name: str, factory: DriverFactory) -> None:
    """Register a device driver; the most recently registered one serves --port."""
    _factories.append((name, factory))


def open_driver(port: str, meter: Meter, input_path: str | None = None, **options: object) -> InferenceDriver:
    """The device driver for `port`; UserError while none is registered."""
    if not _factories:
        _load_builtin_drivers()
    if not _factories:
        raise UserError(
            f"no device driver is registered to run inferences on {port}; the console client is not "
            "available yet: capture with your meter's own tool and analyse with `cimsdk profile --from trace.csv`"
        )
    name, factory = _factories[-1]
    driver = factory(port, meter, input_path, **options)
    if not isinstance(driver, InferenceDriver):
        raise TypeError(f"device driver {name} returned {type(driver).__name__}, not an InferenceDriver")
    return driver


def _load_builtin_drivers() -> None:
    """Import the firmware console client if it exists; it calls register_driver on import."""
    import importlib

    for module in ("cimsdk.power.device_driver",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
