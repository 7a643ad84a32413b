"""The host golden model of a weight image (see executor.py)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "Executor":
        from cimsdk.golden.executor import Executor

        return Executor
    raise AttributeError(name)


__all__ = ["Executor"]
