"""Compile firmware C for the host (gcc), for the protocol and console tests.

Include order puts tests/c/host (host board.h) before firmware/include, and the fallback
runtime header last, so the real firmware/runtime/cim_runtime.h wins once it exists.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"
HERE = Path(__file__).resolve().parent
CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-g"]
INCLUDES = [
    f"-I{HERE / 'host'}",
    f"-I{FW / 'include'}",
    f"-I{FW / 'protocol'}",
    f"-I{FW / 'console'}",
    f"-I{FW / 'runtime'}",
    f"-I{HERE / 'fallback'}",
]
PROTOCOL_SOURCES = [FW / "protocol" / "cim_frame.c", FW / "protocol" / "sha256.c"]


def have_gcc() -> bool:
    return shutil.which("gcc") is not None


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compile failed: {' '.join(cmd)}\n{proc.stderr}")


def build_shim(out_dir: Path) -> Path:
    """libproto_shim.so: the C framing, CRC and SHA-256 behind a ctypes-friendly API."""
    out = out_dir / "libproto_shim.so"
    _run(["gcc", *CFLAGS, "-shared", "-fPIC", *INCLUDES, "-o", str(out), str(HERE / "proto_shim.c"),
          *map(str, PROTOCOL_SOURCES)])
    return out


def build_host_app(out_dir: Path, *, image_buf_size: int = 64 * 1024, extra: list[str] | None = None) -> Path:
    """The real firmware/app/main.c + console + protocol, on the host board and the fake runtime."""
    out = out_dir / "cim_host_app"
    defines = [
        '-DCIM_FW_VERSION="0.1.0-test"',
        '-DCIM_BACKEND_NAME="fake"',
        f"-DCIM_IMAGE_BUF_SIZE={image_buf_size}u",
        "-DCIM_ARENA_SIZE=12345u",
        *(extra or []),
    ]
    sources = [FW / "app" / "main.c", FW / "console" / "cim_console.c", *PROTOCOL_SOURCES,
               HERE / "host" / "host_board.c", HERE / "fake_runtime.c"]
    _run(["gcc", *CFLAGS, *INCLUDES, *defines, "-o", str(out), *map(str, sources)])
    return out
