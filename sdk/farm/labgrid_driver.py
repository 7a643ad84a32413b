"""cimsdk boards as labgrid targets: a driver that flashes with `cimsdk flash` and runs `cimsdk validate` and
`cimsdk profile` over the board's serial port, and a strategy that brings a board to "flashed".

Why labgrid: it is the existing tool for embedded board farms (a coordinator, exporters that publish each
host's boards, places a user locks); cimsdk only has to say how to talk to a board, which is a serial port:
a local `USBSerialPort`/`SerialPort`, or a `NetworkSerialPort` (raw TCP, as the emulated board's UART, or
RFC 2217) that an exporter publishes. Environment files per board are in boards/labgrid/; docs/explore.md
shows a farm of emulated boards on one machine.

The driver runs the `cimsdk` command line in a subprocess, as labgrid drivers run their tools; the farm
client needs cimsdk installed, the exporter host does not (it only publishes the port).
"""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError, never_retry

from cimconv.errors import UserError


def port_url(resource) -> str:
    """The pyserial URL cimsdk opens for a labgrid serial resource."""
    cls = type(resource).__name__
    if cls in ("NetworkSerialPort", "RawNetworkSerialPort"):
        scheme = "socket" if resource.protocol == "raw" else "rfc2217"
        host = resource.host.split("//")[-1].split(":")[0]
        return f"{scheme}://{host}:{resource.port}"
    return str(resource.port)  # SerialPort, USBSerialPort, RawSerialPort: a device path


@target_factory.reg_driver
@attr.s(eq=False)
class CimsdkDriver(Driver):
    """`flash`, `validate`, `profile`, `info` on the bound serial port, each one `cimsdk` run."""

    bindings = {"port": {"NetworkSerialPort", "SerialPort", "USBSerialPort", "RawSerialPort"}}
    board = attr.ib(default="qemu-virt-rv32", validator=attr.validators.instance_of(str))
    timeout = attr.ib(default=900.0, validator=attr.validators.instance_of(float))

    def on_activate(self) -> None:
        pass

    def on_deactivate(self) -> None:
        pass

    @property
    def url(self) -> str:
        return port_url(self.port)

    def _cimsdk(self, *args: str | Path) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "cimsdk.cli", *map(str, args)]
        self.logger.debug("running %s", " ".join(cmd))
        return subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)

    def _check(self, what: str, r: subprocess.CompletedProcess) -> None:
        if r.returncode != 0:
            tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise UserError(f"{what} on {self.target.name} ({self.url}) failed with status {r.returncode}: {tail[0]}")

    @Driver.check_active
    @step(args=["files"])
    def flash(self, *files: str | Path, verify: bool = True) -> None:
        """Firmware and/or weight images through the board's serial bootloader (`cimsdk flash`)."""
        r = self._cimsdk("flash", "--port", self.url, "--board", self.board, *(["--verify"] if verify else []),
                         "-q", *files)
        self._check("cimsdk flash", r)

    @Driver.check_active
    @step()
    def info(self) -> str:
        r = self._cimsdk("device", "info", "--port", self.url)
        self._check("cimsdk device info", r)
        return r.stdout

    @Driver.check_active
    @step(args=["image"])
    def validate(self, image: str | Path, inputs: int = 10, seed: int = 0) -> dict:
        """The board against the host golden model (`cimsdk validate`): the JSON report, plus `passed` and
        the command's output; a mismatch is reported, not raised (the caller decides)."""
        with tempfile.TemporaryDirectory(prefix="cimsdk-labgrid-") as d:
            rep = Path(d) / "validate.json"
            r = self._cimsdk("validate", "--port", self.url, image, "--inputs", inputs, "--seed", seed,
                             "--report", rep)
            if r.returncode not in (0, 1) or not rep.exists():
                self._check("cimsdk validate", r)
            out = json.loads(rep.read_text())
        out.update({"passed": r.returncode == 0, "stdout": r.stdout, "target": self.target.name, "port": self.url})
        return out

    @Driver.check_active
    @step(args=["image", "meter"])
    def profile(self, image: str | Path, out: str | Path, meter: str = "emulated", *extra: str) -> dict:
        """Power per inference (`cimsdk profile`): its report.json."""
        r = self._cimsdk("profile", "--port", self.url, "--meter", meter, "-o", out, *extra, image)
        self._check("cimsdk profile", r)
        return json.loads((Path(out) / "report.json").read_text())


class Status(enum.Enum):
    unknown = 0
    connected = 1  # the board answers on its port
    flashed = 2  # the strategy's files are on the board and it answers


@target_factory.reg_driver
@attr.s(eq=False)
class CimsdkStrategy(Strategy):
    """`transition("flashed")`: flash `files` (firmware, image) with cimsdk, then check the board answers;
    `transition("connected")`: only check it answers (a board that runs the cimsdk firmware already)."""

    bindings = {"cimsdk": CimsdkDriver}
    files = attr.ib(default=attr.Factory(list), validator=attr.validators.instance_of(list))
    status = attr.ib(default=Status.unknown)

    @never_retry
    @step(args=["status"])
    def transition(self, status) -> None:
        if not isinstance(status, Status):
            status = Status[status]
        if status == self.status:
            return
        self.target.activate(self.cimsdk)
        if status == Status.flashed:
            if not self.files:
                raise StrategyError("CimsdkStrategy has no files to flash; set files: [...] in the environment")
            self.cimsdk.flash(*[self.target.env.config.get_image_path(f) if self.target.env else f
                                for f in self.files])
        elif status != Status.connected:
            raise StrategyError(f"no transition to {status}")
        self.cimsdk.info()
        self.status = status
