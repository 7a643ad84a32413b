"""One rich console for the CLI: terminal width on a terminal, a wide fixed width in logs and pipes."""

from __future__ import annotations

import sys

from rich.console import Console


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 140)
