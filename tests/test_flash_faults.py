"""Flashing that survives damage, on the emulated board (real bootloader, real slot application,
real weight images, persistent flash file), for both CiM backends.

- A model flashed into its slot runs with the soft AND the mailbox backend (the mailbox
  coprocessor only sees RAM: the slot application runs a RAM copy).
- The first command after a restart reaches the application, never the bootloader's boot window.
- A board held in its bootloader is named as such, not reported as "no image loaded".
- A noise-merged frame (ERR_TOO_LONG for a frame that fits) is resent, not fatal.
- A board that disappears mid-upload is given up on after a bounded silence, in one line.
- Campaign: flashes through a damaging link (drops, bit flips, duplicates, cuts, blackouts) and
  power cuts (QEMU killed at a random point of the upload, restarted on the same flash file):
  afterwards the old or the new image runs, never neither. Tallies print with `pytest -s`.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cimsdk.cli import cli
from cimsdk.device import Device
from cimsdk.protocol.constants import ROLE_APP
from cimsdk.transport import DeviceNotAnswering, Transport
from tests.reliability_helpers import (
    BACKENDS,
    board,
    bootloader_bin,
    model,
    needs_qemu,
    running_image,
    sha,
    slot_app,
    wait_role,
)

pytestmark = [pytest.mark.qemu, needs_qemu]

KWS, SPEECH = "kws_ref_model.tflite", "micro_speech_quantized.tflite"


def _fresh_flash(tmp_path: Path, tmp: pytest.TempPathFactory) -> Path:
    from cimsdk.flash.build import prepare_flash

    return prepare_flash(tmp_path / "flash.img", bootloader_bin(tmp), erase=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flashed_model_runs_with_each_backend(backend: str, tmp_path: Path,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    from cimsdk.flash.flasher import flash

    kws = model(tmp_path_factory, KWS)
    f = _fresh_flash(tmp_path, tmp_path_factory)
    with board(f, backend) as b:
        flash(b.url, [slot_app(tmp_path_factory, backend), kws])
        wait_role(b.url, ROLE_APP)
        with Device(b.url) as dev:
            info = dev.app_info()
        assert (info.backend, info.image_loaded, info.image_sha256) == (backend, True, sha(kws))
        res = CliRunner().invoke(cli, ["validate", "--port", b.url, str(kws), "--inputs", "3"], standalone_mode=False)
        assert res.exit_code == 0, res.output
        assert "already on device" in res.output  # nothing uploaded to RAM: the model came from its flash slot


def test_first_command_after_restart_reaches_the_application(tmp_path: Path,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    """The board boots when the host connects; the host's first frame arrives during the
    bootloader's boot window. It must land in the application (ERR_BOOTING, then the resend)."""
    from cimsdk.flash.flasher import flash

    kws = model(tmp_path_factory, KWS)
    f = _fresh_flash(tmp_path, tmp_path_factory)
    with board(f, "soft") as b:
        flash(b.url, [slot_app(tmp_path_factory, "soft"), kws])
    restarts = int(os.environ.get("CIMSDK_BOOT_RESTARTS", "4"))
    boot_waits = 0
    for _ in range(restarts):
        with board(f, "soft") as b, Device(b.url, timeout=3.0) as dev:
            info = dev.app_info()  # the very first frame on the link
            assert info.role == ROLE_APP and info.image_loaded and info.image_sha256 == sha(kws)
            boot_waits += dev.resends
    print(f"\nboot window: {restarts} restarts, first command reached the application every time "
          f"({boot_waits} resends after ERR_BOOTING or a lost first frame)")


def test_board_held_in_bootloader_is_named(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    f = _fresh_flash(tmp_path, tmp_path_factory)  # bootloader only: nothing to start
    with board(f, "soft") as b:
        res = CliRunner().invoke(cli, ["device", "info", "--port", b.url], standalone_mode=False)
    assert res.exception is not None
    text = str(res.exception)
    assert "running its bootloader" in text and "no image" not in text and "\n" not in text


class _MergeFirstFrame(Transport):
    """A link whose first request loses its closing END to a burst of noise: the device sees one
    frame longer than its buffer and NAKs it ERR_TOO_LONG with our opcode and sequence number."""

    damaged = 0

    def write(self, data: bytes) -> None:
        if not self.damaged and data.endswith(b"\xc0"):
            self.damaged += 1
            data = data[:-1] + bytes(range(1, 0xC0)) * 40 + b"\xc0"
        super().write(data)


def test_err_too_long_from_noise_is_resent(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    from cimsdk.flash.flasher import flash
    from cimsdk.protocol import Status
    from cimsdk.protocol.framing import decode_all, encode_frame

    f = _fresh_flash(tmp_path, tmp_path_factory)
    with board(f, "soft") as b:
        flash(b.url, [slot_app(tmp_path_factory, "soft"), model(tmp_path_factory, KWS)])
        wait_role(b.url, ROLE_APP)
        # The damaged frame really provokes ERR_TOO_LONG carrying our header...
        raw = Transport(b.url)
        try:
            raw.write(encode_frame(0x02, 7)[:-1] + bytes(range(1, 0xC0)) * 40 + b"\xc0")
            got, deadline = b"", time.monotonic() + 10.0
            while not decode_all(got) and time.monotonic() < deadline:
                got += raw.read(0.2)
            naks = [fr for fr in decode_all(got) if getattr(fr, "seq", None) == 7]
            assert naks and naks[0].status == Status.ERR_TOO_LONG, decode_all(got)
        finally:
            raw.close()
        # ... and the client resends it instead of failing.
        with Device(_MergeFirstFrame(b.url), timeout=3.0) as dev:
            info = dev.app_info()
            assert dev.transport.damaged == 1 and dev.resends >= 1 and info.image_loaded


def test_board_gone_mid_upload_gives_up_in_one_line(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Power lost for good during an upload: the flasher stops after a bounded silence (not after
    every session's retries) and says why; the many sessions allowed here are never reached."""
    from cimsdk.flash.flasher import flash

    f = _fresh_flash(tmp_path, tmp_path_factory)
    with board(f, "soft") as b:
        flash(b.url, [slot_app(tmp_path_factory, "soft"), model(tmp_path_factory, KWS)])
        bytes_seen = threading.Event()

        def progress(_label: str, done: int, _total: int) -> None:
            if done > 0:
                bytes_seen.set()

        err: list[BaseException] = []

        def run() -> None:
            try:
                flash(b.url, [model(tmp_path_factory, SPEECH)], timeout=0.5, retries=2, max_sessions=10_000,
                      give_up=4.0, progress=progress)
            except BaseException as exc:  # noqa: BLE001 - judged below
                err.append(exc)

        t = threading.Thread(target=run)
        t.start()
        assert bytes_seen.wait(60.0)
        os.kill(b.qemu.pid, signal.SIGKILL)  # the board loses power for good
        t.join(120.0)
        assert not t.is_alive()
    assert err and isinstance(err[0], DeviceNotAnswering), err
    text = str(err[0])
    assert "stopped answering during the upload" in text and "no reply for" in text, text
    assert "previous image still boots" in text and "\n" not in text and "sessions" not in text


# ---- campaign: faults on the link and power cuts ---------------------------------------------------


def _kill_after(b, delay: float, done: threading.Event, killed: list[bool]) -> None:
    """Cut the power `delay` s into the upload (after it, when the flash finished first)."""
    killed.append(not done.wait(delay))
    os.kill(b.qemu.pid, signal.SIGKILL)


def campaign(tmp: pytest.TempPathFactory, tmp_path: Path, backend: str, attempts: int, cuts: int,
             seed: int) -> dict[str, int]:
    """`attempts` flashes through the fault proxy, `cuts` of them with the power cut at a random
    point; after each, the board (restarted on its flash file after a cut) must run the new or the
    previous model. Every tenth attempt re-flashes the firmware too (the install path)."""
    from cimsdk.flash.flasher import flash
    from cimsdk.testing.faultproxy import FaultProxy

    app = slot_app(tmp, backend)
    models = [model(tmp, KWS), model(tmp, SPEECH)]
    shas = [sha(m) for m in models]
    f = _fresh_flash(tmp_path, tmp)
    rng = random.Random(seed)
    cut_at = set(rng.sample(range(attempts), cuts))
    tally = {"attempts": 0, "power_cuts": 0, "flash_ok": 0, "flash_failed": 0, "new": 0, "previous": 0,
             "unbootable": 0, "no-image": 0, "unknown": 0, "link_faults": 0, "cuts_mid_flash": 0}
    current = 0
    b = board(f, backend)
    b.start()
    try:
        flash(b.url, [app, models[0]])
        typical: dict[int, float] = {}  # how long a flash of 1 or 2 files takes on a clean link
        for n, files in ((2, [app, models[1]]), (1, [models[0]])):
            t0 = time.monotonic()
            flash(b.url, files, force=True)
            typical[n] = time.monotonic() - t0
        proxy = FaultProxy(("127.0.0.1", b.port))
        for i in range(attempts):
            new = 1 - current
            files = [app, models[new]] if i % 10 == 9 else [models[new]]
            cut = i in cut_at
            proxy.configure(seed=rng.randrange(1 << 30), drop=rng.choice([0, 1e-5, 1e-4, 5e-4]),
                            corrupt=rng.choice([0, 1e-5, 1e-4, 5e-4]), duplicate=rng.choice([0, 1e-5, 1e-4]),
                            cut_every=rng.choice([0, 0, 20_000, 60_000]),
                            blackout_after=rng.randrange(1000, 40_000) if (i % 7 == 6 and not cut) else 0)
            done = threading.Event()
            killer, killed = None, []
            if cut:
                killer = threading.Thread(target=_kill_after,
                                          args=(b, rng.uniform(0.0, typical[len(files)]), done, killed))
                killer.start()
            tally["attempts"] += 1
            try:
                flash(proxy.url, files, force=len(files) == 2, timeout=1.0, retries=3,
                      max_sessions=2 if i % 7 == 6 else 6, open_timeout=2.0, give_up=3.0 if cut else 20.0)
                tally["flash_ok"] += 1
            except Exception:  # noqa: BLE001 - a failed flash is allowed; a board that runs neither image is not
                tally["flash_failed"] += 1
            done.set()
            if killer is not None:
                killer.join()
            tally["link_faults"] += sum(getattr(proxy.stats, k) for k in ("dropped", "corrupted", "duplicated", "cuts"))
            proxy.stats.dropped = proxy.stats.corrupted = proxy.stats.duplicated = proxy.stats.cuts = 0
            if cut:
                tally["power_cuts"] += 1
                tally["cuts_mid_flash"] += int(killed[0])
                proxy.close()
                b.close()
                b = board(f, backend)  # power back: the same flash file
                b.start()
                proxy = FaultProxy(("127.0.0.1", b.port))
            proxy.enabled = False
            outcome = running_image(proxy.url, {"new": shas[new], "previous": shas[current]})
            proxy.enabled = True
            tally[outcome] += 1
            if outcome == "new":
                current = new
            if outcome not in ("new", "previous"):
                break
        proxy.close()
    finally:
        b.close()
    print(f"\nflash campaign, {backend} backend (seed {seed}): {tally}")
    return tally


def _check(t: dict[str, int], attempts: int, cuts: int) -> None:
    assert t["unbootable"] == t["no-image"] == t["unknown"] == 0, t  # 0 bricked boards
    assert t["new"] + t["previous"] == t["attempts"] == attempts and t["power_cuts"] == cuts, t
    assert t["new"] > 0 and t["link_faults"] > 0, t


@pytest.mark.parametrize("backend", BACKENDS)
def test_flash_faults_and_power_cuts_short(backend: str, tmp_path: Path,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    attempts, cuts = 4, 2
    _check(campaign(tmp_path_factory, tmp_path, backend, attempts, cuts, seed=11), attempts, cuts)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_flash_faults_and_power_cuts_long(backend: str, tmp_path: Path,
                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    """100 flash attempts with faults and 25 power cuts per backend: 200 and 50 in all."""
    attempts = int(os.environ.get("CIMSDK_FLASH_CAMPAIGN_ATTEMPTS", "100"))
    cuts = attempts // 4
    _check(campaign(tmp_path_factory, tmp_path, backend, attempts, cuts, seed=2026), attempts, cuts)
