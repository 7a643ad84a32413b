"""Firmware builds: PlatformIO project generation and an offline `pio run` (docs/boards.md)."""

from cimsdk.build.boards import Board, board_names, load_board
from cimsdk.build.project import BuildError, build_firmware

__all__ = ["Board", "BuildError", "board_names", "build_firmware", "load_board"]
