"""The emulated board's meter: a separate process streaming modelled samples over TCP.

It behaves like a real meter on a wire, so the profiler uses the same capture path for the
emulated board as for a PPK2. Activity (ActivitySegment, emulated time) comes from a JSON
file or is streamed in by the emulator over a second socket; power comes from
`energy_model.EnergyModel`.

Wire protocols (all on 127.0.0.1 by default):

- **samples** (meter -> profiler): one JSON header line
  ``{"meter": "emulated", "version": 1, "sample_rate_hz": F, "voltage_v": V, "record": "<ffB"}``
  then 9-byte little-endian records ``float32 current_a, float32 voltage_v, uint8 marker``,
  sample k standing for emulated time [k/F, (k+1)/F). The meter closes the socket when the
  activity has ended and every sample up to its end has been sent.
- **activity** (emulator -> meter): JSON lines, one ActivitySegment each
  (``{"t_start_s":..,"t_end_s":..,"cpu_cycles":..,"cim_ops":{"macs":..},"marker":true}``) in
  order of t_start_s, then ``{"end": true}``. Samples are emitted up to the latest
  t_start_s seen (later segments cannot reach further back), and to the last t_end_s at end.

Run: ``python -m cimsdk.power.meters.emulated --board qemu-virt-rv32 --target nor-acim
[--activity FILE | --activity-port 0] --port 0``; it prints ``LISTENING <samples port>
<activity port>`` on stdout once both sockets are bound.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np

from cimconv.errors import UserError
from cimsdk import procs
from cimsdk.power.energy_model import ActivitySegment, EnergyModel, load_segments, model_from_options
from cimsdk.power.meters import Meter, SampleBlock

RECORD = struct.Struct("<ffB")
RECORD_DTYPE = np.dtype([("current_a", "<f4"), ("voltage_v", "<f4"), ("marker", "u1")])
DEFAULT_RATE_HZ = 100_000.0
CHUNK = 2000


class ActivityFeed:
    """Segments arriving over time; `horizon` is how far samples may be emitted."""

    def __init__(self) -> None:
        self.segments: list[ActivitySegment] = []
        self.horizon = 0.0
        self.ended = False
        self.cond = threading.Condition()

    def add(self, seg: ActivitySegment) -> None:
        with self.cond:
            self.segments.append(seg)
            self.horizon = max(self.horizon, seg.t_start_s)
            self.cond.notify_all()

    def end(self, tail_s: float = 0.0) -> None:
        with self.cond:
            self.ended = True
            self.horizon = max([self.horizon] + [s.t_end_s for s in self.segments]) + tail_s
            self.cond.notify_all()


def serve_samples(conn: socket.socket, model: EnergyModel, feed: ActivityFeed, fs: float) -> None:
    """Stream samples to one client until the activity ends."""
    header = {"meter": "emulated", "version": 1, "sample_rate_hz": fs, "voltage_v": model.voltage_v,
              "record": "<ffB"}
    conn.sendall((json.dumps(header) + "\n").encode())
    k = 0
    while True:
        with feed.cond:
            while True:
                limit = int(np.floor(feed.horizon * fs + 1e-9))
                if feed.ended:
                    limit = int(np.ceil(feed.horizon * fs - 1e-9))
                if limit > k or feed.ended:
                    break
                feed.cond.wait(0.5)
            segs = [s for s in feed.segments if s.t_end_s >= k / fs]
            feed.segments = segs  # drop what lies entirely behind us
            ended = feed.ended
        while k < limit:
            k1 = min(limit, k + CHUNK)
            cur, mark = model.sample(segs, k, k1, fs)
            rec = np.empty(k1 - k, RECORD_DTYPE)
            rec["current_a"], rec["voltage_v"], rec["marker"] = cur, model.voltage_v, mark
            conn.sendall(rec.tobytes())
            k = k1
        if ended and k >= limit:
            return


def _read_activity(conn: socket.socket, feed: ActivityFeed, tail_s: float) -> None:
    with conn, conn.makefile("r") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            if d.get("end"):
                break
            feed.add(ActivitySegment.from_dict(d))
    feed.end(tail_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="emulated power meter (see module docstring)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rate", type=float, default=DEFAULT_RATE_HZ)
    ap.add_argument("--board", default=None, help="board name, board.toml/JSON path (default: built-in MCU)")
    ap.add_argument("--target", default=None, help="CiM target name or TOML/JSON with [energy]")
    ap.add_argument("--activity", default=None, help="JSON (lines) file of ActivitySegments")
    ap.add_argument("--activity-port", type=int, default=None, help="listen for activity JSON lines")
    ap.add_argument("--tail", type=float, default=0.001, help="idle seconds emitted after the last segment")
    args = ap.parse_args(argv)
    if args.rate < 10_000:
        print("error: --rate must be at least 10000 samples/s", file=sys.stderr)
        return 2
    try:
        model = model_from_options(args.board, args.target)
        feed = ActivityFeed()
        if args.activity:
            for seg in load_segments(args.activity):
                feed.add(seg)
            feed.end(args.tail)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    srv = socket.create_server((args.host, args.port))
    act_srv = None
    if args.activity is None:
        act_srv = socket.create_server((args.host, args.activity_port or 0))
    act_port = act_srv.getsockname()[1] if act_srv else 0
    print(f"LISTENING {srv.getsockname()[1]} {act_port}", flush=True)
    if act_srv is not None:
        def accept_activity() -> None:
            conn, _ = act_srv.accept()
            _read_activity(conn, feed, args.tail)

        threading.Thread(target=accept_activity, daemon=True).start()
    conn, _ = srv.accept()
    try:
        serve_samples(conn, model, feed, args.rate)
    except (BrokenPipeError, ConnectionResetError):
        return 0
    finally:
        conn.close()
    return 0


class EmulatedMeter(Meter):
    """Client of an emulated meter process; spawns one unless given its ``host:port``."""

    name = "emulated"

    def __init__(self, address: tuple[str, int] | None = None, *, board: str | None = "qemu-virt-rv32",
                 target: str | None = None, rate_hz: float = DEFAULT_RATE_HZ,
                 activity_file: str | None = None, idle_ms: float | None = None) -> None:
        self.address = address
        self.activity_address: tuple[str, int] | None = None
        self.board, self.target, self.rate_hz, self.activity_file = board, target, rate_hz, activity_file
        #: Idle time a device driver leaves between inferences (None: the driver's default).
        self.idle_ms = idle_ms
        self._act_sock: socket.socket | None = None
        self.sample_rate_hz = rate_hz
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self._buf = b""
        self._eof = False
        self.voltage_v = 0.0

    @classmethod
    def from_spec(cls, arg: str | None, **opts: str) -> EmulatedMeter:
        address = None
        if arg:
            host, _, port = arg.rpartition(":")
            try:
                address = (host or "127.0.0.1", int(port))
            except ValueError:
                raise UserError(f"--meter emulated:{arg}: expected HOST:PORT of a running emulated meter") from None
        known = {"board", "target", "rate", "activity", "idle_ms"}
        unknown = set(opts) - known
        if unknown:
            raise UserError(f"emulated meter does not know option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        try:
            rate = float(opts.get("rate", DEFAULT_RATE_HZ))
            idle_ms = float(opts["idle_ms"]) if "idle_ms" in opts else None
        except ValueError:
            raise UserError("emulated meter options rate and idle_ms take numbers (rate=100000, idle_ms=2)") from None
        if idle_ms is not None and idle_ms <= 0:
            raise UserError(f"emulated meter idle_ms={idle_ms:g} must be positive")
        return cls(address, board=opts.get("board", "qemu-virt-rv32"), target=opts.get("target"),
                   rate_hz=rate, activity_file=opts.get("activity"), idle_ms=idle_ms)

    def open(self) -> None:
        """Nothing to do yet: the meter process starts in `start`, so a device driver can still
        choose its energy tables (e.g. the target named in the device's image) before that."""

    def _spawn(self) -> None:
        if self.address is not None or self.proc is not None:
            return
        cmd = [sys.executable, "-m", "cimsdk.power.meters.emulated", "--rate", str(self.rate_hz)]
        if self.board:
            cmd += ["--board", self.board]
        if self.target:
            cmd += ["--target", self.target]
        if self.activity_file:
            cmd += ["--activity", self.activity_file]
        self.proc = procs.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING"):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc.wait(5)
            self.proc = None
            raise UserError(f"emulated meter did not start: {err.strip().splitlines()[-1] if err.strip() else line}")
        _, port, act_port = line.split()
        self.address = ("127.0.0.1", int(port))
        if int(act_port):
            self.activity_address = ("127.0.0.1", int(act_port))

    def close(self) -> None:
        if self._act_sock is not None:
            self._act_sock.close()
            self._act_sock = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            procs.stop(self.proc, grace=2.0)
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()
            self.proc = None

    def start(self) -> None:
        self._spawn()
        assert self.address is not None
        deadline = time.monotonic() + 5
        while True:
            try:
                self.sock = socket.create_connection(self.address, timeout=5)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise UserError(f"cannot connect to emulated meter at {self.address[0]}:{self.address[1]} ({exc})") from None
                time.sleep(0.05)
        buf = b""
        while b"\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise UserError(f"emulated meter at {self.address[0]}:{self.address[1]} closed before its header")
            buf += chunk
        line, _, self._buf = buf.partition(b"\n")
        header = json.loads(line)
        self.sample_rate_hz = float(header["sample_rate_hz"])
        self.voltage_v = float(header["voltage_v"])

    def read(self, timeout: float) -> SampleBlock | None:
        if self._eof:
            return None
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 18)
        except TimeoutError:
            return None
        if not data:
            self._eof = True
            if len(self._buf) < RECORD.size:
                return None
        buf = self._buf + data
        n = len(buf) // RECORD.size
        self._buf = buf[n * RECORD.size :]
        rec = np.frombuffer(buf[: n * RECORD.size], RECORD_DTYPE)
        return SampleBlock(rec["current_a"].astype(np.float64), rec["voltage_v"].astype(np.float64),
                           rec["marker"].copy())

    def stop(self) -> None:
        pass

    @property
    def exhausted(self) -> bool:
        return self._eof

    def _pending(self) -> bool:
        return not self._eof

    def send_activity(self, segments: list[ActivitySegment], end: bool = True) -> None:
        """Feed segments to the meter over one activity connection, kept open until `end`.

        The meter serves one activity connection, so a device driver streams each inference's
        segments as it measures them and ends the stream once (`end=True` or `end_activity`).
        """
        if self.activity_address is None:
            raise UserError("this emulated meter reads its activity from a file; it has no activity socket")
        if self._act_sock is None:
            self._act_sock = socket.create_connection(self.activity_address, timeout=5)
        payload = "".join(seg.to_json() + "\n" for seg in segments)
        if end:
            payload += '{"end": true}\n'
        self._act_sock.sendall(payload.encode())
        if end:
            self._act_sock.close()
            self._act_sock = None

    def end_activity(self) -> None:
        """Tell the meter no more activity comes; it sends the remaining samples and closes."""
        self.send_activity([], end=True)


if __name__ == "__main__":
    sys.exit(main())
