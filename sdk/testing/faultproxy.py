"""A TCP proxy that damages a serial link on purpose (seeded): drops, corrupts and duplicates
bytes in both directions and cuts the client's connection at random points. It sits between
`cimsdk flash` and the emulated board's UART to show that no fault leaves the board unbootable."""

from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class FaultStats:
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    cuts: int = 0
    bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class FaultProxy:
    """Listen on 127.0.0.1:<port>, forward to `upstream` (host, port), keeping the upstream
    connection across client reconnects (the board's UART stays attached, like a cable pulled
    at the host end). Probabilities are per byte; `cut_every` is the mean bytes between cuts."""

    def __init__(self, upstream: tuple[str, int], *, seed: int = 0, drop: float = 0.0, corrupt: float = 0.0,
                 duplicate: float = 0.0, cut_every: int = 0) -> None:
        self.rng = random.Random(seed)
        self.drop, self.corrupt, self.duplicate, self.cut_every = drop, corrupt, duplicate, cut_every
        self.stats = FaultStats()
        self.up = socket.create_connection(upstream)
        self.up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.client: socket.socket | None = None
        self._down: threading.Thread | None = None  # the current client's host -> board pump
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.enabled = True
        self.blackout_after = 0
        self._down_bytes = 0
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._pump_up, daemon=True).start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def configure(self, *, seed: int, drop: float, corrupt: float, duplicate: float, cut_every: int,
                  blackout_after: int = 0) -> None:
        """New fault rates; blackout_after > 0 kills the link for good after that many host bytes
        (a cable pulled for the rest of the attempt) until the next configure."""
        with self._lock:
            self.rng = random.Random(seed)
            self.drop, self.corrupt, self.duplicate, self.cut_every = drop, corrupt, duplicate, cut_every
            self.blackout_after = blackout_after
            self._down_bytes = 0

    def _mangle(self, data: bytes) -> tuple[bytes, bool]:
        """Damaged copy of data, and whether to cut the connection after it."""
        if not self.enabled:
            return data, False
        out = bytearray()
        cut = False
        with self._lock:
            for b in data:
                r = self.rng.random()
                if r < self.drop:
                    self.stats.dropped += 1
                    continue
                if r < self.drop + self.corrupt:
                    b ^= 1 << self.rng.randrange(8)
                    self.stats.corrupted += 1
                out.append(b)
                if self.rng.random() < self.duplicate:
                    out.append(b)
                    self.stats.duplicated += 1
                if self.cut_every and self.rng.random() < 1.0 / self.cut_every:
                    cut = True
                    break
            self.stats.bytes += len(data)
        return bytes(out), cut

    def _cut(self, c: socket.socket) -> None:
        self.stats.cuts += 1
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        c.close()
        if self.client is c:
            self.client = None

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            old, self.client = self.client, c
            if old is not None:
                try:
                    old.shutdown(socket.SHUT_RDWR)  # wakes its pump; close() alone does not
                except OSError:
                    pass
                old.close()
            # A cable is a FIFO: nothing the previous client sent may reach the board after the new
            # client's first byte. Its pump may still hold bytes (a starved thread), so let it finish.
            if self._down is not None:
                self._down.join(60.0)
            self._down = threading.Thread(target=self._pump_down, args=(c,), daemon=True)
            self._down.start()

    def _pump_down(self, c: socket.socket) -> None:
        """host -> board"""
        while not self._stop.is_set():
            try:
                data = c.recv(4096)
            except OSError:
                return
            if not data:
                return
            out, cut = self._mangle(data)
            if self.enabled and self.blackout_after:
                self._down_bytes += len(data)
                if self._down_bytes > self.blackout_after:
                    self.stats.dropped += len(out)
                    out = b""
            try:
                if out:
                    self.up.sendall(out)
            except OSError:
                return
            if cut:
                self._cut(c)
                return

    def _pump_up(self) -> None:
        """board -> host (bytes with no client connected are lost, like on a real cable)"""
        while not self._stop.is_set():
            try:
                data = self.up.recv(4096)
            except OSError:
                return
            if not data:
                return
            c = self.client
            if c is None:
                continue
            out, cut = self._mangle(data)
            try:
                if out:
                    c.sendall(out)
            except OSError:
                continue
            if cut:
                self._cut(c)

    def close(self) -> None:
        self._stop.set()
        for s in (self.srv, self.up, self.client):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
