"""Board data (`boards/<name>/board.toml`) as the contracts read it: memory map, mailbox window, flash layout.

The richer view the build uses is `cimsdk.build.boards`; this one only parses the TOML so the
declarations below cimsdk can take addresses from the board files instead of restating them.
"""

from __future__ import annotations

import tomllib
from functools import cache

from cimcontracts.resources import data_path


def board_names() -> list[str]:
    return sorted(p.parent.name for p in data_path("boards").glob("*/board.toml"))


@cache
def board_data(name: str) -> dict:
    with open(data_path("boards", name, "board.toml"), "rb") as f:
        return tomllib.load(f)
