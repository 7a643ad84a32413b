"""Flashing protocol efficiency: payload bytes / bytes on the wire (both directions, every frame of a
real `flash()` run against the bootloader's host build), target >= 0.9 without compression; the gain
raw deflate would bring on weight images (per 4 KiB chunk; no opcode carries compressed chunks: the
bootloader does not inflate); and the
upload rate into the emulated board over socket:// (QEMU, when available).

Run: python benchmarks/bench_flash_protocol.py [--qemu]
"""

from __future__ import annotations

import sys
import tempfile
import time
import zlib
from pathlib import Path

from _common import MODELS

from cimsdk.flash.build import build_host_bootloader
from cimsdk.flash.flasher import flash
from cimsdk.protocol import MAX_DATA, encode_frame
from cimsdk.testing.flash_host import HostLoader


def convert(model: str, out: Path) -> Path:
    from click.testing import CliRunner

    from cimsdk.cli import cli

    res = CliRunner().invoke(cli, ["convert", str(MODELS / model), "-o", str(out), "-q"], standalone_mode=False)
    if res.exit_code != 0:
        raise SystemExit(f"convert {model} failed: {res.output}")
    return next(out.glob("*.cimg"))


def deflate_gain(data: bytes) -> tuple[int, int]:
    """Wire bytes of the chunked upload without and with per-chunk raw deflate (level 9)."""
    plain = packed = 0
    for off in range(0, len(data), MAX_DATA):
        chunk = data[off : off + MAX_DATA]
        plain += len(encode_frame(0x42, 1, off.to_bytes(4, "little") + chunk))
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = z.compress(chunk) + z.flush()
        body = body if len(body) + 4 < len(chunk) else chunk  # incompressible: plain frame
        packed += len(encode_frame(0x43, 1, off.to_bytes(4, "little") + len(chunk).to_bytes(4, "little") + body))
    return plain, packed


def main(argv: list[str]) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-flash-"))
    exe = build_host_bootloader(work / "host")
    images = {name: convert(f"{name}.tflite", work / name) for name in ("kws_ref_model", "vww_96_int8")}
    print(f"{'image':<16} {'bytes':>9} {'wire':>9} {'payload/wire':>12} {'frames':>7} {'s (host sim)':>12}")
    worst = 1.0
    for name, img in images.items():
        link = HostLoader(exe, work / f"{name}.flash")
        t = time.perf_counter()
        rep = flash(link, [img])
        dt = time.perf_counter() - t
        r = rep.results[0]
        eff = r.size / r.wire_bytes
        worst = min(worst, eff)
        print(f"{name:<16} {r.size:>9} {r.wire_bytes:>9} {eff:>12.3f} {-(-r.size // MAX_DATA):>7} {dt:>12.2f}")
    print(f"protocol efficiency (worst): {worst:.3f}  target >= 0.9: {'PASS' if worst >= 0.9 else 'FAIL'}")
    print("\noptional deflate (raw deflate per 4 KiB chunk, host side; the bootloader has no inflate):")
    for name, img in images.items():
        data = img.read_bytes()
        plain, packed = deflate_gain(data)
        print(f"  {name:<16} wire {plain} -> {packed} bytes: {plain / packed:.2f}x less on the wire "
              f"(whole-file deflate: {len(data) / len(zlib.compress(data, 9)):.2f}x)")
    if "--qemu" in argv:
        from cimsdk.emulator import EmulatedBoard
        from cimsdk.flash.build import build_bootloader, build_slot_app, prepare_flash

        bl = build_bootloader(work / "bl").with_suffix(".bin")
        app = build_slot_app(work / "app", backend="soft")
        f = prepare_flash(work / "qemu.flash", bl, erase=True)
        with EmulatedBoard(flash=f, backend="soft", icount=False) as b:
            rep = flash(b.url, [app, images["kws_ref_model"]], reset=False)
            print(f"\nQEMU over socket:// (115200-baud 16550, CFI flash): {rep.summary()}")
    return 0 if worst >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
