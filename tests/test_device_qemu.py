"""The serial link on the emulated board: firmware built with PlatformIO, QEMU's UART on
`socket://`, driven by `cimsdk.device.Device` and `cimsdk validate`.

Two levels:
- the console with the fake runtime of tests/c (tests/c/qemu_app): the link, chunking, counters
  and markers on the real target, independent of the model runtime;
- the real application (firmware/app) with the real runtime: `cimsdk validate` on the KWS image,
  device against the host golden model, for both CiM backends.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from cimsdk import project_root
from cimsdk.device import Device, DeviceError
from cimsdk.protocol import Status

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                       reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain"),
]

SHARED = project_root().parent / "shared"


def fake_image(n_in: int, n_out: int, bias: np.ndarray) -> bytes:
    return b"FAKE" + struct.pack("<III", n_in, n_out, 0) + bias.astype(np.int8).tobytes()


@pytest.fixture(scope="module")
def fake_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cimsdk.build import build_firmware

    return build_firmware(tmp_path_factory.mktemp("fw_fake"), board="qemu-virt-rv32", backend="soft",
                          app=project_root() / "tests" / "c" / "qemu_app",
                          defines={"CIM_IMAGE_BUF_SIZE": "65536u"}, quiet=True)


def test_console_on_qemu_with_fake_runtime(fake_elf: Path) -> None:
    from cimsdk.emulator import EmulatedBoard

    rng = np.random.default_rng(7)
    n_in, n_out = 1000, 4096
    bias = rng.integers(-128, 128, n_out, dtype=np.int8)
    img = fake_image(n_in, n_out, bias)
    with EmulatedBoard(firmware=fake_elf, backend="soft") as board, Device(board.url, timeout=5.0) as dev:
        assert dev.ping(b"\xc0\xdb")["echo"] == b"\xc0\xdb"
        info = dev.info()
        assert (info.board, info.backend, info.image_capacity) == ("qemu-virt-rv32", "soft", 65536)
        with pytest.raises(DeviceError) as exc:
            dev.invoke()
        assert exc.value.status == Status.ERR_STATE
        dev.load_image(img)  # two chunks
        for _ in range(3):
            x = rng.integers(-128, 128, n_in, dtype=np.int8)
            out, c = dev.run(x.tobytes(), n_out)
            want = np.clip(x[np.arange(n_out) % n_in].astype(int) + bias, -128, 127).astype(np.int8)
            np.testing.assert_array_equal(np.frombuffer(out, np.int8), want)
            assert c["instret"] > n_out  # minstret really counts on the target (-icount)
        r = dev.run_marked(4)
        assert r["count"] == 4 and r["instret"] > 4 * n_out
        counters = dev.counters()
        assert counters["inferences"] == 7 and counters["output_size"] == n_out


@pytest.fixture(scope="module")
def kws_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from cimsdk.cli import cli

    model = SHARED / "models" / "kws_ref_model.tflite"
    if not model.exists():
        pytest.skip(f"{model} missing")
    out = tmp_path_factory.mktemp("kws") / "kws"
    res = CliRunner().invoke(cli, ["convert", str(model), "-o", str(out), "-q"], standalone_mode=False)
    assert res.exit_code == 0, res.output
    images = sorted(out.glob("*.cimg"))
    assert images, list(out.iterdir())
    return images[0]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["soft", "mailbox"])
def test_validate_kws_on_qemu(backend: str, kws_image: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cimsdk.build import build_firmware
    from cimsdk.cli import cli
    from cimsdk.emulator import EmulatedBoard

    elf = build_firmware(tmp_path / "fw", board="qemu-virt-rv32", backend=backend, quiet=True)
    report = tmp_path / "validate.json"
    wav = SHARED / "data" / "yes_1000ms.wav"
    with EmulatedBoard(firmware=elf, backend=backend) as board:
        args = ["validate", "--port", board.url, str(kws_image), "--inputs", "20", "--report", str(report)]
        if wav.exists():
            args += ["--input", str(wav)]
        res = CliRunner().invoke(cli, args, standalone_mode=False)
        assert res.exit_code == 0, res.output
        # Second run: the device already holds the image (SHA-256 via INFO), no upload.
        res = CliRunner().invoke(cli, args[:-2] if wav.exists() else args, standalone_mode=False)
        assert res.exit_code == 0 and "already on device" in res.output, res.output
    data = json.loads(report.read_text())
    assert data["mismatching_elements"] == 0 and data["inputs"] >= 20
    assert data["device"]["image_sha256"] == data["sha256"]
