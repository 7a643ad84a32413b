"""The fault proxy of the flashing tests (cimsdk.testing.faultproxy) keeps the link a FIFO: whatever
it drops or cuts, bytes of one host connection never reach the board after a later connection's.

A serial cable cannot reorder. The proxy once let a lagging pump of a closed connection forward its
last bytes after the next connection's first ones, so a failed flasher's frames could reach the
board after the test's own (the board then left its application for the bootloader)."""

from __future__ import annotations

import socket
import threading
import time

from cimsdk.testing.faultproxy import FaultProxy


def _board() -> tuple[socket.socket, bytearray, threading.Thread]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = bytearray()

    def serve() -> None:
        c, _ = srv.accept()
        with c:
            while data := c.recv(65536):
                got.extend(data)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, got, t


def test_reconnecting_clients_never_reorder() -> None:
    srv, got, t = _board()
    proxy = FaultProxy(srv.getsockname())
    try:
        for k in range(30):  # back-to-back connections, each sending one distinct byte value
            with socket.create_connection(("127.0.0.1", proxy.port)) as c:
                c.sendall(bytes([k]) * 50_000)
        deadline = time.monotonic() + 60.0
        while got[-1:] != bytes([29]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proxy.close()
    t.join(10.0)
    srv.close()
    order = [b for i, b in enumerate(got) if i == 0 or got[i - 1] != b]
    assert order == sorted(set(order)), f"connections interleaved at the board: {order}"
    assert order[-1] == 29  # the last connection got through (earlier ones may be cut short)
