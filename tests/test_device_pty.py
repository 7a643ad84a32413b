"""Console round trips over a real pty: firmware/app/main.c + console + protocol compiled for the
host, its UART a pseudo-terminal, driven by `cimsdk.device.Device` through pyserial.

The runtime is a test double (tests/c/fake_runtime.c): out[j] = sat8(in[j % n_in] + bias[j]);
expected outputs are computed here with numpy, independently of the C code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cimconv.errors import UserError
from cimsdk import procs
from cimsdk.device import Device, DeviceError
from cimsdk.protocol import Frame, FrameDecoder, Opcode, Status
from cimsdk.transport import DeviceNotAnswering, Transport

_spec = importlib.util.spec_from_file_location("hostbuild", Path(__file__).parent / "c" / "hostbuild.py")
hostbuild = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostbuild)

pytestmark = pytest.mark.skipif(not hostbuild.have_gcc(), reason="needs gcc")

IMAGE_BUF = 64 * 1024


def fake_image(n_in: int, n_out: int, bias: np.ndarray, fail_after: int = 0) -> bytes:
    return b"FAKE" + struct.pack("<III", n_in, n_out, fail_after) + bias.astype(np.int8).tobytes()


def expected(x: np.ndarray, bias: np.ndarray) -> np.ndarray:
    idx = np.arange(len(bias)) % len(x)
    return np.clip(x[idx].astype(np.int32) + bias.astype(np.int32), -128, 127).astype(np.int8)


class HostApp:
    def __init__(self, exe: Path, marker_log: Path) -> None:
        env = dict(os.environ, CIM_MARKER_LOG=str(marker_log))
        self.proc = procs.spawn([str(exe)], stdout=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "PTY", line
        self.port = line[1]
        self.marker_log = marker_log

    def markers(self) -> list[int]:
        return [int(v) for v in self.marker_log.read_text().split()] if self.marker_log.exists() else []

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def app_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostbuild.build_host_app(tmp_path_factory.mktemp("app"), image_buf_size=IMAGE_BUF)


@pytest.fixture
def app(app_exe: Path, tmp_path: Path) -> Iterator[HostApp]:
    a = HostApp(app_exe, tmp_path / "markers.log")
    try:
        yield a
    finally:
        a.stop()


@pytest.fixture
def dev(app: HostApp) -> Iterator[Device]:
    with Device(app.port, timeout=2.0) as d:
        yield d


def test_ping_echoes_special_bytes(dev: Device) -> None:
    echo = bytes([0xC0, 0xDB, 0xDC, 0xDD, 0, 255]) * 50
    r = dev.ping(echo)
    assert r["echo"] == echo and r["version"] == 1 and r["role"] == 0
    assert r["max_payload"] == 4112


def test_info_before_and_after_load(dev: Device) -> None:
    info = dev.info()
    assert (info.board, info.backend, info.fw_version) == ("host-pty", "fake", "0.1.0-test")
    assert info.image_capacity == IMAGE_BUF and info.arena_size == 12345
    assert not info.image_loaded and info.image_sha256 == ""
    bias = np.arange(-20, 20, dtype=np.int8)
    img = fake_image(10, 40, bias)
    r = dev.load_image(img)
    assert (r["input_size"], r["output_size"], r["arena_used"]) == (10, 40, 50)
    info = dev.info()
    assert info.image_loaded and info.image_size == len(img)
    assert info.image_sha256 == hashlib.sha256(img).hexdigest()


def test_chunked_image_input_and_output(dev: Device) -> None:
    """4096 outputs: the image (4112 B), the input and the output each span two frames."""
    rng = np.random.default_rng(0)
    n_in, n_out = 4096, 4096
    bias = rng.integers(-128, 128, n_out, dtype=np.int8)
    progress = []
    dev.load_image(fake_image(n_in, n_out, bias), progress=lambda done, total: progress.append((done, total)))
    assert progress[-1] == (4112, 4112) and len(progress) == 2
    for _ in range(3):
        x = rng.integers(-128, 128, n_in, dtype=np.int8)
        out, counters = dev.run(x.tobytes(), n_out)
        np.testing.assert_array_equal(np.frombuffer(out, np.int8), expected(x, bias))
        assert counters["cycles"] > 0 and counters["instret"] > 0


def test_commands_need_an_image(dev: Device) -> None:
    for call in (lambda: dev.invoke(), lambda: dev.set_input(b"\1"), lambda: dev.get_output(4),
                 lambda: dev.run_marked(2)):
        with pytest.raises(DeviceError) as exc:
            call()
        assert exc.value.status == Status.ERR_STATE
        assert "load an image first" in str(exc.value)


def test_bad_hash_and_rejected_image(dev: Device) -> None:
    img = fake_image(4, 4, np.zeros(4, np.int8))
    dev.load_image(img)
    # A COMMIT with a wrong digest: the device says so and returns the digest it computed.
    with pytest.raises(DeviceError) as exc:
        dev.request(Opcode.COMMIT_IMAGE, struct.pack("<I", len(img)) + bytes(32))
    assert exc.value.status == Status.ERR_HASH
    assert exc.value.payload == hashlib.sha256(img).digest()
    assert not dev.info().image_loaded
    # The runtime rejects an image with a bad magic: code -1 of the fake runtime.
    with pytest.raises(DeviceError) as exc:
        dev.load_image(b"JUNK" + bytes(20))
    assert exc.value.status == Status.ERR_IMAGE and "runtime code -1" in str(exc.value)


def test_out_of_range_writes(dev: Device) -> None:
    with pytest.raises(DeviceError) as exc:
        dev.request(Opcode.LOAD_IMAGE, struct.pack("<I", IMAGE_BUF - 2) + b"abc")
    assert exc.value.status == Status.ERR_RANGE
    with pytest.raises(DeviceError) as exc:  # offset near 2**32 must not wrap around
        dev.request(Opcode.LOAD_IMAGE, struct.pack("<I", 0xFFFFFFFF) + b"abc")
    assert exc.value.status == Status.ERR_RANGE
    with pytest.raises(UserError, match="does not fit"):
        dev.load_image(bytes(IMAGE_BUF + 1))
    dev.load_image(fake_image(4, 4, np.zeros(4, np.int8)))
    with pytest.raises(DeviceError) as exc:
        dev.request(Opcode.SET_INPUT, struct.pack("<I", 2) + b"abc")
    assert exc.value.status == Status.ERR_RANGE
    with pytest.raises(DeviceError) as exc:
        dev.request(Opcode.LOAD_IMAGE, b"\1\2")
    assert exc.value.status == Status.ERR_BAD_ARG


def test_runtime_failure_and_counters(dev: Device, app: HostApp) -> None:
    bias = np.array([5, -5, 100], np.int8)
    dev.load_image(fake_image(3, 3, bias, fail_after=4))
    x = np.array([1, 2, 127], np.int8)
    out, _ = dev.run(x.tobytes(), 3)
    np.testing.assert_array_equal(np.frombuffer(out, np.int8), expected(x, bias))
    r = dev.run_marked(3)
    assert r["count"] == 3 and r["cycles"] > 0
    assert app.markers() == [1, 0] * 4  # one bracket per inference
    with pytest.raises(DeviceError) as exc:
        dev.invoke()
    assert exc.value.status == Status.ERR_RUNTIME and "runtime code -7" in str(exc.value)
    c = dev.counters()
    assert c["inferences"] == 4 and c["arena_used"] == 6 and c["output_size"] == 3
    assert "cim_ops" not in c  # the host build has no HAL: the tag is absent, not zero
    dev.marker(True)
    dev.marker(False)
    assert app.markers()[-2:] == [1, 0]


def test_reset_forgets_image(dev: Device) -> None:
    dev.load_image(fake_image(2, 2, np.zeros(2, np.int8)))
    dev.reset()
    assert not dev.info().image_loaded
    assert dev.counters()["inferences"] == 0


def _raw_exchange(port: str, wire: bytes, n_frames: int = 1, timeout: float = 3.0) -> list:
    t = Transport(port)
    try:
        t.write(wire)
        dec, got = FrameDecoder(), []
        deadline = time.monotonic() + timeout
        while len(got) < n_frames and time.monotonic() < deadline:
            got += list(dec.feed(t.read(0.2)))
        return got
    finally:
        t.close()


def test_device_naks_corrupt_frames_and_resyncs(app: HostApp) -> None:
    wire = bytearray(Frame(Opcode.PING, 77).encode())
    wire[-3] ^= 0xFF  # corrupt the CRC (not an escape byte)
    noise = b"garbage before\r\n"
    got = _raw_exchange(app.port, noise + bytes(wire) + Frame(Opcode.PING, 78).encode(), n_frames=3)
    # The noise (>= 4 bytes, then the frame's leading END) is NAKed too: the device cannot tell it
    # from a damaged frame. Then the damaged PING is NAKed and the good one answered.
    assert [(f.seq, f.status) for f in got][-2:] == [(77, Status.ERR_CRC), (78, Status.OK)]
    got = _raw_exchange(app.port, Frame(0x3E, 5).encode())
    assert got == [Frame(0x3E, 5, b"", 1, Status.ERR_UNKNOWN_OPCODE)]


class LossyTransport(Transport):
    """Corrupts, drops or truncates a share of the frames it sends (seeded)."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(url)
        self.rng = random.Random(seed)
        self.faults = 0

    def write(self, data: bytes) -> None:
        roll = self.rng.random()
        if roll < 0.15:
            self.faults += 1
            buf = bytearray(data)
            buf[self.rng.randrange(1, len(buf) - 1)] ^= 1 << self.rng.randrange(8)
            data = bytes(buf)
        elif roll < 0.25:
            self.faults += 1
            return  # dropped
        elif roll < 0.3:
            self.faults += 1
            data = data[: self.rng.randrange(1, len(data))]
        super().write(data)


def test_client_recovers_from_a_lossy_link(app: HostApp) -> None:
    rng = np.random.default_rng(1)
    bias = rng.integers(-128, 128, 3000, dtype=np.int8)
    img = fake_image(2000, 3000, bias)
    link = LossyTransport(app.port, seed=4)
    with Device(link, timeout=0.5, retries=8) as dev:
        dev.load_image(img)
        for _ in range(5):
            x = rng.integers(-128, 128, 2000, dtype=np.int8)
            out, _ = dev.run(x.tobytes(), 3000, timeout=1.0)
            np.testing.assert_array_equal(np.frombuffer(out, np.int8), expected(x, bias))
        assert dev.info().image_sha256 == hashlib.sha256(img).hexdigest()
        assert link.faults > 3 and dev.resends >= link.faults


def test_transport_errors_are_one_line_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        Transport(str(tmp_path / "ttyUSB9"))
    with pytest.raises(UserError, match="nothing is listening"):
        Transport("socket://127.0.0.1:1")
    with pytest.raises(UserError, match="no port given"):
        Transport("")


def test_silent_port_is_device_not_answering(app: HostApp, tmp_path: Path) -> None:
    # A pty nobody serves: open our own pair and never answer.
    master, slave = os.openpty()
    try:
        with pytest.raises(DeviceNotAnswering, match="did not answer PING"):
            Device(os.ttyname(slave), timeout=0.2, retries=1).ping()
    finally:
        os.close(master)
        os.close(slave)


def test_cli_device_info_and_run(app: HostApp, tmp_path: Path) -> None:
    from cimsdk.cli import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["device", "info", "--port", app.port, "--json"], standalone_mode=False)
    assert res.exit_code == 0, res.output
    assert '"board": "host-pty"' in res.output
    bias = np.arange(8, dtype=np.int8) * 3
    with Device(app.port) as d:
        d.load_image(fake_image(8, 8, bias))
    x = np.arange(-4, 4, dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    res = runner.invoke(cli, ["device", "run", "--port", app.port, "--input", str(tmp_path / "x.npy"),
                              "-o", str(tmp_path / "y.npy")], standalone_mode=False)
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy").reshape(-1), expected(x, bias))


def test_cli_validate_uploads_and_reports_runtime_rejection(app: HostApp, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Up to the upload, validate runs for real; the fake runtime then rejects the .cimg (code -1)."""
    from cimsdk import project_root
    from cimsdk.cli import main

    model = project_root().parent / "shared" / "models" / "hello_world_int8.tflite"
    if not model.exists():
        pytest.skip(f"{model} missing")
    out = tmp_path / "hw"
    proc = subprocess.run([sys.executable, "-m", "cimsdk.cli", "convert", str(model), "-o", str(out), "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    image = sorted(out.glob("*.cimg"))[0]
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--port", app.port, str(image), "--inputs", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "refused COMMIT_IMAGE: ERR_IMAGE (runtime code -1)" in err, err
    with Device(app.port) as d:
        assert not d.info().image_loaded
