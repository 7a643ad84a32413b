"""Serial protocol, C side (firmware/protocol) compiled for the host: CRC, SHA-256, framing.

The C decoder must agree with the Python decoder on every stream, including fuzzed ones;
SHA-256 is checked against hashlib and the CRC against zlib (independent implementations).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import random
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from cimsdk.protocol import Frame, FrameError, decode_all
from cimsdk.protocol import constants as c

_spec = importlib.util.spec_from_file_location("hostbuild", Path(__file__).parent / "c" / "hostbuild.py")
hostbuild = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostbuild)

pytestmark = pytest.mark.skipif(not hostbuild.have_gcc(), reason="needs gcc")


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    so = hostbuild.build_shim(tmp_path_factory.mktemp("shim"))
    lib = ctypes.CDLL(str(so))
    lib.shim_decode.restype = ctypes.c_int32
    lib.shim_decode.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32]
    lib.shim_encode.restype = ctypes.c_int32
    lib.shim_encode.argtypes = [ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint8, ctypes.c_char_p,
                                ctypes.c_uint16, ctypes.c_char_p, ctypes.c_uint32]
    lib.shim_crc32.restype = ctypes.c_uint32
    lib.shim_crc32.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
    lib.shim_sha256.restype = None
    lib.shim_sha256.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p]
    return lib


def c_decode(lib: ctypes.CDLL, data: bytes, cap: int = c.MAX_FRAME) -> list[Frame | FrameError | None]:
    out = ctypes.create_string_buffer(len(data) * 2 + 1024)
    n = lib.shim_decode(data, len(data), cap, out, len(out))
    assert n >= 0
    raw, items, i = out.raw[:n], [], 0
    while i < n:
        kind = struct.unpack_from("<b", raw, i)[0]
        opcode, seq, flags, status, has_header, length = struct.unpack_from("<BHBBBH", raw, i + 1)
        payload = raw[i + 9 : i + 9 + length]
        i += 9 + length
        if kind == 1:
            items.append(Frame(opcode, seq, payload, flags, status))
        else:
            items.append(FrameError(c.Status(-kind), opcode if has_header else None, seq if has_header else None))
    return items


def c_encode(lib: ctypes.CDLL, f: Frame) -> bytes:
    out = ctypes.create_string_buffer(2 * len(f.payload) + 64)
    n = lib.shim_encode(f.opcode, f.flags, f.seq, f.status, f.payload, len(f.payload), out, len(out))
    assert n > 0
    return out.raw[:n]


def test_crc32_matches_zlib(lib: ctypes.CDLL) -> None:
    rng = random.Random(10)
    assert lib.shim_crc32(b"123456789", 9) == 0xCBF43926
    for n in [0, 1, 3, 64, 1000, 4124]:
        data = rng.randbytes(n)
        assert lib.shim_crc32(data, n) == zlib.crc32(data)


@pytest.mark.parametrize("step", [0, 1, 7, 55, 64, 65])
def test_sha256_matches_hashlib(lib: ctypes.CDLL, step: int) -> None:
    rng = random.Random(step)
    digest = ctypes.create_string_buffer(32)
    for n in [*range(0, 130), 447, 448, 511, 512, 1000, 4096]:
        data = rng.randbytes(n)
        lib.shim_sha256(data, n, step, digest)
        assert digest.raw == hashlib.sha256(data).digest(), (n, step)


def test_sha256_fips_vector_and_large_input(lib: ctypes.CDLL) -> None:
    digest = ctypes.create_string_buffer(32)
    lib.shim_sha256(b"abc", 3, 0, digest)  # FIPS 180-2 appendix B.1
    assert digest.raw.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    data = random.Random(5).randbytes(1 << 20)
    lib.shim_sha256(data, len(data), 4096, digest)
    assert digest.raw == hashlib.sha256(data).digest()


def test_c_encoder_matches_python(lib: ctypes.CDLL) -> None:
    rng = random.Random(11)
    for _ in range(200):
        n = rng.choice([0, 1, rng.randrange(400), c.MAX_PAYLOAD])
        payload = bytes(rng.choice([0xC0, 0xDB, rng.randrange(256)]) for _ in range(n))
        f = Frame(rng.randrange(256), rng.randrange(65536), payload, rng.randrange(256), rng.randrange(256))
        assert c_encode(lib, f) == f.encode()
    # The hand-written examples of the spec page.
    assert c_encode(lib, Frame(1, 1)).hex(" ") == "c0 01 00 01 00 00 00 00 00 52 0c d4 62 c0"


def _fuzz_stream(rng: random.Random) -> bytes:
    """Valid frames, mutated frames (flips, drops, duplicates, truncation), and raw garbage."""
    parts = []
    for _ in range(rng.randrange(1, 8)):
        n = rng.choice([0, 3, rng.randrange(200), rng.randrange(5000)])
        payload = bytes(rng.choice([0xC0, 0xDB, 0xDC, 0xDD, rng.randrange(256)]) for _ in range(n))
        w = bytearray(Frame(rng.randrange(256), rng.randrange(65536), payload[: c.MAX_PAYLOAD]).encode())
        action = rng.randrange(6)
        if action == 1 and len(w) > 2:
            for _ in range(rng.randrange(1, 4)):
                w[rng.randrange(len(w))] ^= 1 << rng.randrange(8)
        elif action == 2 and len(w) > 2:
            del w[rng.randrange(len(w))]
        elif action == 3 and len(w) > 2:
            i = rng.randrange(len(w))
            w[i:i] = w[i : i + rng.randrange(1, 5)]
        elif action == 4:
            w = w[: rng.randrange(len(w))]
        elif action == 5:
            w = bytearray(rng.randbytes(rng.randrange(40)))
        parts.append(bytes(w))
    return b"".join(parts)


def test_c_decoder_agrees_with_python_on_fuzzed_streams(lib: ctypes.CDLL) -> None:
    rng = random.Random(12)
    seen_frames = seen_errors = 0
    for _ in range(1500):
        stream = _fuzz_stream(rng)
        cap = rng.choice([c.MAX_FRAME, c.MIN_FRAME + 20, 300])
        want = decode_all(stream, capacity=cap)
        assert c_decode(lib, stream, cap) == want
        seen_frames += sum(isinstance(i, Frame) for i in want)
        seen_errors += sum(isinstance(i, FrameError) for i in want)
    # The fuzzer must exercise both paths, else this test proves nothing.
    assert seen_frames > 500 and seen_errors > 500


def test_c_decoder_error_kinds(lib: ctypes.CDLL) -> None:
    good = Frame(c.Opcode.INFO, 0x0304, b"xyz")
    wire = bytearray(good.encode())
    wire[-2] ^= 0x40
    assert c_decode(lib, bytes(wire)) == [FrameError(c.Status.ERR_CRC, c.Opcode.INFO, 0x0304)]
    assert c_decode(lib, Frame(c.Opcode.INFO, 5, bytes(100)).encode(), cap=50) == [
        FrameError(c.Status.ERR_TOO_LONG, c.Opcode.INFO, 5)]
    bad_escape = b"\xc0\x01\x00\x05\x00\xdb\x07\xc0"  # ESC then 0x07
    assert c_decode(lib, bad_escape) == decode_all(bad_escape) == [FrameError(c.Status.ERR_FRAME, 1, 5)]


def test_generated_header_compiles_to_python_values(tmp_path: Path) -> None:
    """The C compiler sees the same numbers as Python (not just the same text)."""
    names = [("CIM_MAX_FRAME", c.MAX_FRAME), ("CIM_MAX_PAYLOAD", c.MAX_PAYLOAD), ("CIM_SLIP_END", c.SLIP_END),
             ("CIM_PROTOCOL_VERSION", c.PROTOCOL_VERSION)]
    names += [(f"CIM_OP_{o.name}", o.value) for o in c.Opcode]
    names += [(f"CIM_ST_{s.name}", s.value) for s in c.Status]
    names += [(f"CIM_INFO_{t.name}", t.value) for t in c.InfoTag]
    names += [(f"CIM_CNT_{t.name}", t.value) for t in c.CounterTag]
    src = "#include <stdio.h>\n#include \"cim_protocol.h\"\nint main(void){\n"
    src += "".join(f'printf("%lu\\n", (unsigned long){n});\n' for n, _ in names) + "return 0;}\n"
    (tmp_path / "t.c").write_text(src)
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", f"-I{hostbuild.FW / 'include'}", "-o", str(exe),
                    str(tmp_path / "t.c")], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in out] == [v for _, v in names]
