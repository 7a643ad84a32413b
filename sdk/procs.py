"""Child processes that never outlive the command that started them.

Every long-lived or tree-spawning child of cimsdk (QEMU, the coprocessor, a PlatformIO build, an
emulated meter, a `profile` child) is started by `spawn`, which gives it three independent ways to
die with its launcher, so no single failure leaves anything running:

1. a parent-death signal (Linux `PR_SET_PDEATHSIG`, SIGKILL by default), set in the child between
   fork and exec with the launcher's PID checked afterwards (the launcher may die in between);
2. its own process group, so a stop (`stop`) reaches the grandchildren too (scons under pio, gcc
   under scons), which a parent-death signal does not;
3. the janitor (`cimsdk.janitor`), a small process of its own that outlives a SIGKILLed launcher by
   a moment and kills the groups and removes the temporary paths that were still registered.

The kernel sends the parent-death signal when the *thread* that forked the child ends, not the
process; so children are forked by one long-lived spawner thread, and a board started from a worker
thread that then ends keeps running until its launcher closes it or dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from cimsdk import janitor

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# Resolved once here, so the child between fork and exec only calls it (no dlopen, no import).
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _pdeathsig(sig: int, launcher: int) -> Callable[[], None]:
    def in_child() -> None:
        _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != launcher:  # the launcher died between fork and prctl
            os._exit(1)

    return in_child


class _Spawner(threading.Thread):
    """Forks every child from one thread that lives as long as the process (see the module doc)."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="cimsdk-spawner")
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue]] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            job, reply = self.jobs.get()
            try:
                reply.put((True, job()))
            except BaseException as exc:  # handed back to the caller's thread
                reply.put((False, exc))

    def call(self, job: Callable[[], Any]) -> Any:
        reply: queue.SimpleQueue = queue.SimpleQueue()
        self.jobs.put((job, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()


def _spawner_thread() -> _Spawner:
    global _spawner
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = _Spawner()
            _spawner.start()
        return _spawner


def spawn(cmd: Sequence[str], *, death_signal: int = signal.SIGKILL, **popen_kwargs: Any) -> subprocess.Popen:
    """`subprocess.Popen(cmd, **popen_kwargs)` in its own process group, dying with the launcher."""
    launcher = os.getpid()
    popen_kwargs.setdefault("start_new_session", True)

    def start() -> subprocess.Popen:
        return subprocess.Popen(list(cmd), preexec_fn=_pdeathsig(death_signal, launcher), **popen_kwargs)

    proc = start() if threading.current_thread() is _spawner else _spawner_thread().call(start)
    log.info("started pid %d: %s", proc.pid, shlex.join(map(str, cmd)))
    if popen_kwargs["start_new_session"]:
        janitor.watch_group(proc.pid)
    return proc


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, read from /proc."""
    return janitor.group_members(pgid)


def stop(proc: subprocess.Popen, grace: float = 5.0, sig: int = signal.SIGTERM) -> int:
    """Stop `proc` and its process group: `sig`, then SIGKILL after `grace` seconds; its exit status."""
    group = proc.pid if _own_group(proc) else None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group is not None:
                os.killpg(group, sig)
            else:
                proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group is not None:
                os.killpg(group, signal.SIGKILL)
            else:
                proc.kill()
        proc.wait()
    if group is not None:
        # The leader is gone; what it started may still be winding down in its group.
        deadline = time.monotonic() + grace
        while group_members(group) and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        janitor.forget_group(group)
    return proc.returncode


def _own_group(proc: subprocess.Popen) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return janitor.watching_group(proc.pid)


def run(cmd: Sequence[str], *, timeout: float | None = None, input: str | bytes | None = None,
        **popen_kwargs: Any) -> subprocess.CompletedProcess:
    """`subprocess.run` through `spawn`: on a timeout or an interrupt the whole group is stopped."""
    if input is not None:
        popen_kwargs["stdin"] = subprocess.PIPE
    if popen_kwargs.pop("capture_output", False):
        popen_kwargs["stdout"] = popen_kwargs["stderr"] = subprocess.PIPE
    proc = spawn(cmd, **popen_kwargs)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except BaseException:
        stop(proc, grace=2.0)
        raise
    stop(proc, grace=2.0)  # the leader exited; sweep anything it left in its group
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)
