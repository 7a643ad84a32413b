"""The emulated board: QEMU running the firmware, plus the CiM coprocessor as a host process.

`EmulatedBoard` is imported lazily so `mailbox_map` (constants only) stays cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cimsdk.emulator.board import EmulatedBoard

__all__ = ["EmulatedBoard"]


def __getattr__(name: str) -> Any:
    if name == "EmulatedBoard":
        from cimsdk.emulator.board import EmulatedBoard

        return EmulatedBoard
    raise AttributeError(name)
