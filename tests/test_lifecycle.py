"""Launchers killed at random moments leave nothing running and no file behind (issue 10).

A launcher (a library user's script driving the emulated board through boot, image load, inference
and idle; or the `cimsdk emulate` / `demo` / `profile` commands) is killed by SIGKILL, SIGTERM or
SIGINT at a random moment, while another process keeps the machine busy. The test process is a
child subreaper, so everything the launcher started and orphaned is re-parented to it; every one of
them must be gone within a bounded time, and the launcher's temporary folders removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from leftovers import PR_SET_CHILD_SUBREAPER, alive, children
from paths import MODELS

from cimconv.pipeline import convert
from cimsdk import janitor, procs

pytestmark = [pytest.mark.qemu]

LAUNCHER = r"""
import sys, time
import numpy as np
from cimsdk.device import Device, ensure_image
from cimsdk.emulator import EmulatedBoard
elf, image, n = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
board = EmulatedBoard(firmware=elf, wait_for_client=False)
board.start()
print("boot", board.qemu.pid, board.coproc.pid, flush=True)
with board, Device(board.url, timeout=10.0, open_timeout=10.0) as dev:
    dev.ping()
    print("load", flush=True)
    ensure_image(dev, image, show_progress=False)
    print("infer", flush=True)
    x = np.zeros(490, np.int8).tobytes()
    for _ in range(n):
        dev.run(x, 12, timeout=60.0)
    print("idle", flush=True)
    time.sleep(600)
"""
PHASES = ("start", "boot", "load", "infer", "idle")
SIGNALS = (signal.SIGKILL, signal.SIGKILL, signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@contextlib.contextmanager
def machine_under_load() -> Iterator[subprocess.Popen]:
    """A parallel process that keeps one of the two cores busy for the whole test."""
    hog = procs.spawn([sys.executable, "-c", "while True: pass"])
    try:
        yield hog
    finally:
        hog.kill()
        hog.wait()


def _reap(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def left_running(known: set[int], timeout: float = 20.0) -> set[int]:
    """Orphans re-parented to us that are still running after `timeout` seconds (then killed)."""
    deadline = time.monotonic() + timeout
    while True:
        orphans = children(os.getpid()) - known
        _reap(orphans)
        running = {pid for pid in orphans if alive(pid)}
        if not running or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _reap(running)
    return {pid for pid in running}


def _describe(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append(f"{pid}: {cmdline[:120]}")
    return out


def _wait_phase(proc: subprocess.Popen, phase: str, timeout: float = 120.0) -> bool:
    """Read the launcher's phase lines until `phase` (False if it ended first)."""
    if phase == "start":
        return True
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            return False
        if line.split()[0] == phase:
            return True
    return False


@pytest.fixture(scope="module")
def kws_setup(tmp_path_factory) -> tuple[Path, Path]:
    from cimsdk.build import build_firmware

    tmp = tmp_path_factory.mktemp("lifecycle")
    elf = build_firmware(tmp / "fw", "qemu-virt-rv32", "mailbox", quiet=True)
    image = tmp / "kws.cimg"
    image.write_bytes(convert(MODELS / "kws_ref_model.tflite", "nor-acim").image_bytes)
    return elf, image


def _kill_launchers(kws_setup: tuple[Path, Path], kills: int, seed: int, tmp: Path) -> dict[str, int]:
    elf, image = kws_setup
    rng = random.Random(seed)
    tally: dict[str, int] = {}
    problems: list[str] = []
    with machine_under_load() as hog, subreaper():
        known = children(os.getpid()) | {hog.pid, janitor.pid()}
        for i in range(kills):
            phase = PHASES[i % len(PHASES)]
            sig = rng.choice(SIGNALS)
            errlog = open(tmp / f"launcher-{i}.err", "w+")  # noqa: SIM115
            proc = procs.spawn([sys.executable, "-c", LAUNCHER, str(elf), str(image), "3"],
                                    stdout=subprocess.PIPE, stderr=errlog, text=True)
            reached = _wait_phase(proc, phase)
            time.sleep(rng.uniform(0.0, 0.4))
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                problems.append(f"kill {i} ({phase}, {sig.name}): the launcher itself did not stop")
                proc.kill()
                proc.wait()
            left = left_running(known | {proc.pid})
            if left:
                problems.append(f"kill {i} ({phase}, {sig.name}): left running {_describe(left)}")
            if not reached:
                errlog.seek(0)
                problems.append(f"kill {i}: the launcher ended before {phase}: {errlog.read()[-400:]}")
            errlog.close()
            key = f"{phase}/{sig.name}"
            tally[key] = tally.get(key, 0) + 1
    print(f"launcher kills: {kills} ({', '.join(f'{k}: {v}' for k, v in sorted(tally.items()))}); "
          f"left running after: {len(problems)}")
    assert not problems, problems
    return tally


def test_launcher_kills_at_random_moments(kws_setup, tmp_path):
    tally = _kill_launchers(kws_setup, kills=10, seed=1, tmp=tmp_path)
    assert sum(tally.values()) == 10


@pytest.mark.slow
def test_launcher_kills_at_random_moments_long(kws_setup, tmp_path):
    tally = _kill_launchers(kws_setup, kills=60, seed=2, tmp=tmp_path)
    assert sum(tally.values()) == 60


def _run_cli_and_kill(cmd: list[str], cwd: Path, after: float, sig: int) -> tuple[int | None, set[int]]:
    with subreaper():
        procs.spawn(["true"]).wait()  # our own janitor runs from here on
        known = children(os.getpid())
        proc = procs.spawn(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(after)
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
        status = proc.wait(60)
        return status, left_running(known | {proc.pid})


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_emulate_command_killed(kws_setup, tmp_path, sig):
    elf, _ = kws_setup
    status, left = _run_cli_and_kill(["cimsdk", "emulate", "--firmware", str(elf), "--no-wait"], tmp_path, 3.0, sig)
    assert not left, _describe(left)
    if sig == signal.SIGINT:
        assert status == 130
    elif sig == signal.SIGTERM:
        assert status == 128 + signal.SIGTERM


def _demo_leftovers(cwd: Path) -> list[str]:
    return [p.name for p in cwd.iterdir() if p.name.startswith(".cimsdk-demo")]


@pytest.mark.parametrize("after,sig", [(4.0, signal.SIGKILL), (12.0, signal.SIGKILL), (8.0, signal.SIGTERM)],
                         ids=["early-kill", "late-kill", "term"])
def test_demo_killed_leaves_nothing(tmp_path, after, sig):
    """SIGKILL of `demo` used to leave its profile child, a PlatformIO build and `.demo*.tmp` folders."""
    builds_before = set(Path("/tmp").glob("cimsdk-demo-build-*"))
    status, left = _run_cli_and_kill(["cimsdk", "demo"], tmp_path, after, sig)
    assert not left, _describe(left)
    deadline = time.monotonic() + 10
    while _demo_leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)  # the janitor removes them right after the demo died
    assert _demo_leftovers(tmp_path) == []
    assert set(Path("/tmp").glob("cimsdk-demo-build-*")) <= builds_before
    if status == 0:  # it finished before the signal: then the report is complete
        assert (tmp_path / "cimsdk-demo" / "index.html").is_file()


def test_profile_killed_leaves_no_meter(kws_setup, tmp_path):
    """SIGKILL of `profile` used to leave the emulated meter process running."""
    from cimsdk.emulator import EmulatedBoard

    elf, image = kws_setup
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 49, 10, 1), np.int8))
    with EmulatedBoard(firmware=elf, wait_for_client=False) as board:
        for after in (1.5, 3.0, 6.0):
            status, left = _run_cli_and_kill(
                ["cimsdk", "profile", "--port", board.url, "--meter", "emulated", "--image", str(image),
                 "--input", str(x), "-n", "50", "-o", str(tmp_path / "prof")], tmp_path, after, signal.SIGKILL)
            assert not left, _describe(left)
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(".prof")]


def test_two_boards_at_once(kws_setup):
    """Two emulated boards side by side (two QEMUs, two coprocessors, two UART ports): interleaved
    inferences on both equal the golden model, and closing one leaves the other running."""
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.golden import Executor

    elf, image = kws_setup
    data = image.read_bytes()
    xs = np.random.default_rng(4).integers(-128, 128, (6, 49, 10, 1)).astype(np.int8)
    golden = Executor(data).run(xs).reshape(len(xs), -1)
    with EmulatedBoard(firmware=elf, wait_for_client=False) as a, EmulatedBoard(firmware=elf, wait_for_client=False) as b:
        assert a.port != b.port
        with Device(a.url, timeout=10.0) as da, Device(b.url, timeout=10.0) as db:
            for dev in (da, db):
                ensure_image(dev, data, show_progress=False)
            for i, x in enumerate(xs):
                dev = (da, db)[i % 2]
                out, _ = dev.run(x.tobytes(), 12, timeout=60.0)
                assert np.array_equal(np.frombuffer(out, np.int8), golden[i])
        qemu_b = b.qemu.pid
        a.close()
        assert b.alive and alive(qemu_b)
