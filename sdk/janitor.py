"""The janitor: a process that cleans up after a launcher that could not (SIGKILL, power to the host).

A launcher (any cimsdk command or library user that spawns children or makes temporary paths)
starts one janitor on first need and tells it, over a pipe, which process groups and temporary
paths it owns right now. When the pipe reaches end-of-file, the launcher is gone, however it died:
the janitor stops every group still registered (SIGTERM, then SIGKILL) and removes every path still
registered, then exits. A launcher that ends normally has unregistered everything, so the janitor
finds nothing to do.

The janitor process is deliberately small: standard library only, one thread, a blocking read on
its stdin, its own session (so a terminal's Ctrl-C reaches the launcher, not the janitor), and it
ignores SIGTERM/SIGINT/SIGHUP so it cannot be stopped before it has cleaned up. The parent side
(`watch_group`, `watch_path`, ...) is a no-op when `CIMSDK_NO_JANITOR=1`.

Protocol, one line each: `+g PGID`, `-g PGID`, `+p PATH`, `-p PATH` (PATH hex-encoded UTF-8).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

_lock = threading.Lock()
_proc: subprocess.Popen | None = None
_owner_pid = -1
_groups: set[int] = set()


# -- launcher side ------------------------------------------------------------------------------
def _send(line: str) -> None:
    global _proc, _owner_pid
    if os.environ.get("CIMSDK_NO_JANITOR") == "1":
        return
    with _lock:
        if _proc is None or _owner_pid != os.getpid() or _proc.poll() is not None:
            # First use in this process (a forked child starts its own janitor).
            _proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _BOOTSTRAP, __file__], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                close_fds=True,
            )  # fmt: skip
            _owner_pid = os.getpid()
        assert _proc.stdin is not None
        try:
            _proc.stdin.write(line.encode() + b"\n")
            _proc.stdin.flush()
        except (BrokenPipeError, OSError):
            _proc = None


# The janitor runs this file as a script, never importing cimsdk (fast start, nothing to deadlock).
_BOOTSTRAP = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__janitor__')"


def watch_group(pgid: int) -> None:
    """Stop process group `pgid` if this process dies before `forget_group(pgid)`."""
    _groups.add(pgid)
    _send(f"+g {pgid}")


def forget_group(pgid: int) -> None:
    if pgid in _groups:
        _groups.discard(pgid)
        _send(f"-g {pgid}")


def watching_group(pgid: int) -> bool:
    return pgid in _groups


def watch_path(path: str | os.PathLike) -> None:
    """Remove `path` (file or folder) if this process dies before `forget_path(path)`."""
    _send(f"+p {os.fsencode(os.path.abspath(path)).hex()}")


def forget_path(path: str | os.PathLike) -> None:
    _send(f"-p {os.fsencode(os.path.abspath(path)).hex()}")


@contextlib.contextmanager
def temporary_directory(prefix: str = "cimsdk-") -> Iterator[Path]:
    """`tempfile.TemporaryDirectory`, also removed if this process is killed outright."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    watch_path(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        forget_path(path)


def pid() -> int | None:
    """The janitor's PID, if one is running for this process (for tests)."""
    return _proc.pid if _proc is not None and _owner_pid == os.getpid() else None


# -- the janitor itself ---------------------------------------------------------------------------
def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(entry))
    return members


def _stop_groups(groups: set[int], grace: float = 3.0) -> None:
    for g in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(g, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(group_members(g) for g in groups):
        time.sleep(0.05)
    for g in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(g, signal.SIGKILL)


def _remove(path: str) -> None:
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def serve(stream) -> None:  # noqa: ANN001 (a binary file object)
    """Read registrations until end-of-file, then clean up what is still registered."""
    groups: set[int] = set()
    paths: set[str] = set()
    for raw in iter(stream.readline, b""):
        try:
            verb, arg = raw.decode().split()
            if verb[1] == "g":
                (groups.add if verb[0] == "+" else groups.discard)(int(arg))
            elif verb[1] == "p":
                (paths.add if verb[0] == "+" else paths.discard)(bytes.fromhex(arg).decode())
        except (ValueError, IndexError, UnicodeDecodeError):
            continue  # a torn line from a dying launcher: ignore it
    _stop_groups(groups)
    for path in paths:
        _remove(path)


if __name__ == "__janitor__":
    for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(_sig, signal.SIG_IGN)
    try:
        serve(sys.stdin.buffer)
    finally:
        os._exit(0)
