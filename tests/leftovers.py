"""Run a command and name the processes it left running, by PID (never by name).

The test process becomes a child subreaper, so anything the command orphans is re-parented to it and
shows up among its children; those still alive (not zombies) are what the command left behind.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids |= {int(p) for p in (task / "children").read_text().split()}
        except (FileNotFoundError, ProcessLookupError):
            continue
    return kids


def alive(pid: int) -> bool:
    """Running (not a zombie) under this PID."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def run_and_find_leftovers(cmd: list[str], cwd: Path, timeout: float) -> tuple[subprocess.CompletedProcess, set[int]]:
    """Run `cmd`; return its result and the PIDs it left running (killed afterwards, for the next test)."""
    libc = ctypes.CDLL(None, use_errno=True)
    before = children(os.getpid())
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        orphans = children(os.getpid()) - before
        left = {pid for pid in orphans if alive(pid)}
        for pid in left:
            os.kill(pid, 9)
        for pid in orphans:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    return res, left
