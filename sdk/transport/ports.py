"""Finding boards: USB serial ports (pyserial's list_ports), running emulated boards, and `--port auto`.

Every command that takes `--port` resolves it here (through `Transport`), so the same spellings work
everywhere: a device path (`/dev/ttyUSB0`), a pyserial URL (`socket://127.0.0.1:4321`), `host:port`
for `socket://host:port`, and `auto`: the one board that answers a cimsdk PING (an error naming the
candidates when none or several do).

Emulated boards announce themselves in a small registry folder (one JSON file per board, written by
`EmulatedBoard.start`, removed by `close`; entries of dead processes are ignored and pruned), so
`cimsdk device list` shows them beside the serial ports. CIMSDK_RUNTIME_DIR moves the registry (tests
use a private one).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from cimcontracts.errors import UserError

AUTO = "auto"
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


@dataclass
class PortInfo:
    """One place a board may be: a serial port or an emulated board's UART."""

    url: str
    kind: str  # "serial" or "emulated"
    description: str = ""
    hwid: str = ""
    board: str = ""  # what the board said (PING + INFO) or, for an emulated one, what it runs
    answers: bool | None = None  # None: not probed
    role: str = ""  # "app" or "bootloader" when it answered

    def as_dict(self) -> dict:
        return asdict(self)


def registry_dir() -> Path:
    base = os.environ.get("CIMSDK_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    sub = "" if os.environ.get("CIMSDK_RUNTIME_DIR") else f"cimsdk-{os.getuid()}"
    return Path(base) / sub / "boards" if sub else Path(base) / "boards"


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def register_emulated(url: str, board: str, backend: str, pid: int) -> Path | None:
    """Announce a running emulated board; returns the registry file (None when it cannot be written)."""
    folder = registry_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{pid}-{url.rsplit(':', 1)[-1]}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": url, "board": board, "backend": backend, "pid": pid,
                                   "owner": os.getpid()}))
        tmp.replace(path)
        return path
    except OSError:
        return None  # a listing convenience: never fail a board start over it


def unregister(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass


def emulated_boards() -> list[PortInfo]:
    """Emulated boards that are running now (their QEMU process alive)."""
    out = []
    folder = registry_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(int(entry.get("pid", 0))):
            unregister(path)
            continue
        out.append(PortInfo(url=entry["url"], kind="emulated", description=f"emulated {entry.get('board', '')} "
                            f"({entry.get('backend', '')} backend), QEMU pid {entry['pid']}",
                            board=entry.get("board", "")))
    return out


def serial_ports() -> list[PortInfo]:
    """USB serial ports (pyserial's list_ports): the ones a dev board's USB-UART bridge shows up as."""
    from serial.tools import list_ports

    out = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is None and not re.search(r"tty(USB|ACM)|cu\.usb", p.device):
            continue  # built-in UARTs (/dev/ttyS*) are not where a USB board appears; probing them can hang
        out.append(PortInfo(url=p.device, kind="serial", description=p.description or "", hwid=p.hwid or ""))
    return out


def probe(info: PortInfo, timeout: float = 1.0) -> PortInfo:
    """PING (and INFO) the port: does a cimsdk board answer, and which one."""
    from cimcontracts.protocol import ROLE_BOOTLOADER
    from cimsdk.device import Device

    try:
        with Device(info.url, timeout=timeout, retries=1, open_timeout=0.0) as dev:
            dev.ping()
            i = dev.info()
            info.answers, info.board = True, i.board or info.board
            info.role = "bootloader" if i.role == ROLE_BOOTLOADER else "app"
    except Exception:  # noqa: BLE001 - anything that is not a cimsdk board just does not answer
        info.answers = False
    return info


def list_ports(probe_ports: bool = True, timeout: float = 1.0) -> list[PortInfo]:
    """Running emulated boards, then USB serial ports; probed unless `probe_ports` is False."""
    found = emulated_boards() + serial_ports()
    return [probe(p, timeout) for p in found] if probe_ports else found


def resolve_auto(timeout: float = 1.0) -> str:
    """The URL of the one board that answers; a UserError naming the candidates otherwise."""
    found = list_ports(True, timeout)
    answering = [p for p in found if p.answers]
    if len(answering) == 1:
        return answering[0].url
    if not answering:
        tried = ", ".join(p.url for p in found) or "no USB serial ports and no running emulated boards"
        raise UserError(f"--port auto: no cimsdk board answers (tried: {tried}); plug the board in or start "
                        "one (cimsdk emulate), then `cimsdk device list`")
    names = ", ".join(f"{p.url} ({p.board or p.kind})" for p in answering)
    raise UserError(f"--port auto: {len(answering)} boards answer ({names}); pick one with --port")


def normalize(port: str) -> str:
    """A --port value as a pyserial URL: `auto` resolved, `host:port` as `socket://host:port`."""
    port = port.strip()
    if port == AUTO:
        return resolve_auto()
    m = _HOST_PORT.match(port)
    if m and "://" not in port and not port.startswith("/"):
        return f"socket://{port}"
    return port
