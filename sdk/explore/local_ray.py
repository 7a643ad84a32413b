"""A throwaway Ray cluster of several nodes on this machine's loopback addresses, to try (and test) the
cluster path of `cimsdk explore --ray` and `cimsdk simulate --ray` without a cluster:

    python -m cimsdk.explore.local_ray --nodes 2 --cpus 1 -- cimsdk explore ... --ray {address}

starts a head node and workers with `ray start`, runs the command with `{address}` replaced by the head's
address, then stops every process the cluster started, by PID, and exits with the command's status.

Why not `ray stop`: it kills every Ray process on the machine by name, including other users' clusters. This
process becomes a child subreaper instead, so the daemons `ray start` detaches are re-parented to it and it
knows exactly which processes are its own. Why 127.0.0.2, 127.0.0.3, ...: Ray rewrites 127.0.0.1 to the
machine's network address (and refuses several nodes on one address when told not to), while the rest of the
loopback range stays what it is; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                kids |= {int(p) for p in (task / "children").read_text().split()}
    return kids


def descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in _children(todo.pop()):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _free_range(n: int) -> int:
    """First port of n consecutive ports free right now (Ray's worker port range)."""
    for _ in range(200):
        base = 20000 + int.from_bytes(os.urandom(2), "little") % 40000
        try:
            socks = []
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range for Ray workers")


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def stop(keep: set[int] = frozenset(), timeout: float = 30.0) -> set[int]:
    """SIGTERM every descendant of this process but `keep`, SIGKILL what is left after `timeout`; returns the
    PIDs that needed SIGKILL."""

    def mine() -> set[int]:
        return {p for p in descendants(os.getpid()) - keep if _alive(p)}

    procs = mine()
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _reap()
        procs |= mine()
        if not any(_alive(p) for p in procs):
            break
        time.sleep(0.2)
    killed = {p for p in procs if _alive(p)} | mine()
    for p in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    time.sleep(0.2)
    _reap()
    return killed


@contextlib.contextmanager
def cluster(nodes: int = 2, cpus: int = 1, object_store_mb: int = 200, timeout: float = 600) -> Iterator[str]:
    """Start the cluster, yield the head's address, stop it (by PID) however the body ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    before = descendants(os.getpid())
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    port = _free_port()
    address = f"127.0.0.2:{port}"
    tmp = [tempfile.mkdtemp(prefix="rt", dir="/tmp") for _ in range(nodes)]  # short: unix socket paths
    common = ["--num-cpus", str(cpus), "--object-store-memory", str(object_store_mb * 1 << 20),
              "--disable-usage-stats"]
    try:
        for i in range(nodes):
            wp = _free_range(24)
            cmd = ["ray", "start", f"--node-ip-address=127.0.0.{2 + i}", f"--temp-dir={tmp[i]}", *common,
                   f"--dashboard-agent-listen-port={_free_port()}", f"--min-worker-port={wp}",
                   f"--max-worker-port={wp + 23}", f"--metrics-export-port={_free_port()}"]
            if i == 0:
                cmd += ["--head", f"--port={port}", "--include-dashboard=false",
                        f"--ray-client-server-port={_free_port()}"]
            else:
                cmd += [f"--address={address}"]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        yield address
    finally:
        stop(keep=before)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        import shutil

        for t in tmp:
            shutil.rmtree(t, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 usage="python -m cimsdk.explore.local_ray [--nodes N] [--cpus C] -- COMMAND ...")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=1, help="CPUs each node offers")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("give a command after --, with {address} where the head's address goes")
    with cluster(a.nodes, a.cpus) as address:
        print(f"local Ray cluster: {a.nodes} nodes x {a.cpus} CPU at {address}", file=sys.stderr, flush=True)
        return subprocess.run([c.replace("{address}", address) for c in cmd]).returncode


if __name__ == "__main__":
    sys.exit(main())
