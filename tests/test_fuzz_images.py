"""Fuzzing the weight-image readers with damaged images whose checksums were made valid again ("resealed").

Images come from converting the shared models. Each case changes the structure (a header field, a
section table entry, a tensor/op/matrix/tile/io record field, the META JSON, a section's length or
bytes) and then recomputes every section CRC32 and the SHA-256 trailer as docs/image-format.md lays
them out, so the damage reaches the checks behind the checksums.

- Host: `cimconv.image.parse_image` + the golden `Executor` (what `cimsdk run` does) must succeed or raise
  a one-line UserError. The cases run in a worker process under RLIMIT_AS, so one huge allocation from
  a changed size fails the case instead of the machine.
- Firmware: the same kind of images through the C runtime built for the host with AddressSanitizer and
  UBSan (`tests/c/cim_host_main.c`: load, then invoke on one input): an error code or a clean run, never
  a crash or a sanitizer report.

Seeds are fixed; a failure prints seed, case and mutation (`mutate_image(base, rng([seed, case]))`).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fuzzing import Tally  # noqa: E402

SEED = 7031
BASE_MODELS = [("hello_world_int8", "sram-dcim"), ("kws_ref_model", "nor-acim"), ("micro_speech_quantized", "sram-dcim"),
               ("real/armkws_ds_cnn_s", "sram-dcim"), ("kws_ref_model", "sram-dcim")]
MEMORY_LIMIT = 3 << 30  # address space of the host worker: a 32 GiB allocation fails there, not here

# --- the layout of docs/image-format.md -----------------------------------------------------------------
HEADER = struct.Struct("<4sHHIIIIIIIHHHHI16s")
ENTRY = struct.Struct("<IIII")
HEADER_FIELDS = [(4, "<H"), (6, "<H"), (8, "<I"), (12, "<I"), (16, "<I"), (20, "<I"), (24, "<I"), (28, "<I"),
                 (32, "<I"), (36, "<H"), (38, "<H"), (40, "<H"), (42, "<H"), (44, "<I"), (48, "<B"), (50, "<B")]
TENSOR_FIELDS = [(0, "<B"), (1, "<B"), (2, "<B"), (3, "<B"), (4, "<i"), (8, "<i"), (12, "<i"), (16, "<i"),
                 (20, "<I"), (24, "<I"), (28, "<i"), (32, "<f")]
MATRIX_FIELDS = [(o, "<I") for o in range(0, 32, 4)]
TILE_FIELDS = [(o, "<H") for o in range(0, 12, 2)] + [(o, "<I") for o in range(12, 28, 4)]
IO_FIELDS = [(0, "<B"), (1, "<B"), (2, "<H"), (4, "<f"), (8, "<i")]
RECORDS = {2: (36, TENSOR_FIELDS), 4: (32, MATRIX_FIELDS), 5: (28, TILE_FIELDS), 9: (12, IO_FIELDS)}
SHA = 32


def sections(data: bytes) -> list[tuple[int, int, int, int]]:
    """(id, table entry position, offset, size) of every section table entry."""
    nsec, table = struct.unpack_from("<II", data, 24)
    out = []
    for i in range(nsec):
        pos = table + 16 * i
        if pos + 16 > len(data):
            break
        sid, off, size, _crc = ENTRY.unpack_from(data, pos)
        out.append((sid, pos, off, size))
    return out


def reseal(data: bytearray) -> bytes:
    """Recompute each section's CRC32 (where its entry points inside the file) and the SHA-256 trailer."""
    for _sid, pos, off, size in sections(data):
        if off + size <= len(data) - SHA:
            struct.pack_into("<I", data, pos + 12, zlib.crc32(bytes(data[off : off + size])))
    data[-SHA:] = hashlib.sha256(bytes(data[:-SHA])).digest()
    return bytes(data)


def assemble(header: bytes, secs: list[tuple[int, bytes]]) -> bytes:
    """A whole image from a header and (id, bytes) sections, laid out as the spec says, sealed."""
    table = 64
    pos = (table + 16 * len(secs) + 7) // 8 * 8
    placed = []
    for sid, blob in secs:
        placed.append((sid, pos, blob))
        pos = (pos + len(blob) + 7) // 8 * 8
    out = bytearray(pos + SHA)
    out[:64] = header
    struct.pack_into("<II", out, 24, len(secs), table)
    struct.pack_into("<I", out, 12, len(out))
    for i, (sid, off, blob) in enumerate(placed):
        ENTRY.pack_into(out, table + 16 * i, sid, off, len(blob), zlib.crc32(blob))
        out[off : off + len(blob)] = blob
    return reseal(out)


# --- mutations --------------------------------------------------------------------------------------------
def _value(fmt: str, old, rng: np.random.Generator):
    if fmt == "<f":
        choices = [float("nan"), float("inf"), 0.0, -1.0, 1e-45, 3e38, old * 2]
        return choices[int(rng.integers(len(choices)))]
    bits = struct.calcsize(fmt) * 8
    top = (1 << bits) - 1
    signed = fmt in ("<i", "<b", "<h")
    choices = [0, 1, old + 1, old - 1, old * 2, old + 4, old ^ (1 << int(rng.integers(bits))), top, top >> 1,
               1 << (bits - 1), int(rng.integers(0, top + 1)), old + 64, old * 1000]
    v = int(choices[int(rng.integers(len(choices)))]) & top
    return v - (1 << bits) if signed and v >> (bits - 1) else v


def _poke(b: bytearray, pos: int, fmt: str, rng: np.random.Generator) -> str:
    size = struct.calcsize(fmt)
    if pos < 0 or pos + size > len(b) - SHA:
        return f"@{pos}: outside"
    old = struct.unpack_from(fmt, b, pos)[0]
    new = _value(fmt, old, rng)
    struct.pack_into(fmt, b, pos, new)
    return f"@{pos} {fmt} {old!r} -> {new!r}"


def _op_fields(data: bytes, off: int, size: int) -> list[tuple[int, str]]:
    """Every field of every op record in the program section."""
    out, pos = [], 0
    while pos + 8 <= size:
        nin, nout, npar = data[off + pos + 4], data[off + pos + 5], data[off + pos + 6]
        rec = struct.unpack_from("<H", data, off + pos + 2)[0]
        out += [(off + pos, "<H"), (off + pos + 2, "<H")] + [(off + pos + k, "<B") for k in (4, 5, 6, 7)]
        tids = off + pos + 8
        out += [(tids + 2 * k, "<H") for k in range(nin + nout)]
        par = tids + (2 * (nin + nout) + 3) // 4 * 4
        out += [(par + 4 * k, "<i") for k in range(npar)]
        if rec < 8:
            break
        pos += rec
    return out


META_VARIANTS = [b"", b"\xff\xfe\x00garbage", b"[]", b"null", b'{"source_ops": "x"}', b'{"labels": 5}',
                 b'{"source_tensors": [1]}', b'{"model": 5}', b'{"adc_calibration": [1]}', b"[" * 100_000,
                 b'{"source_ops": [1e400]}', b'{"labels": ["a", 1]}', b"{" + b'"a":1,' * 10 + b"}"]


def _edit(b: bytearray, base: bytes, secs: list, rng: np.random.Generator) -> str:
    """Change one field (or a few bytes) in place, at positions from the valid base layout."""
    how = int(rng.integers(8))
    if how == 0:
        pos, fmt = HEADER_FIELDS[int(rng.integers(len(HEADER_FIELDS)))]
        return "header " + _poke(b, pos, fmt, rng)
    if how == 1:
        _sid, pos, _off, _size = secs[int(rng.integers(len(secs)))]
        k = int(rng.integers(3))
        return f"section entry field {k} " + _poke(b, pos + 4 * k, "<I", rng)
    if how in (2, 3, 4):
        sid = int(rng.choice([2, 2, 4, 5, 9]))
        entry = next((s for s in secs if s[0] == sid), None)
        if entry is None or entry[3] == 0:
            return f"section {sid} absent"
        rec, fields = RECORDS[sid]
        r = int(rng.integers(entry[3] // rec))
        fo, fmt = fields[int(rng.integers(len(fields)))]
        return f"section {sid} record {r} field {fo} " + _poke(b, entry[2] + r * rec + fo, fmt, rng)
    if how in (5, 6):
        entry = next(s for s in secs if s[0] == 3)
        fields = _op_fields(base, entry[2], entry[3])
        pos, fmt = fields[int(rng.integers(len(fields)))]
        return "program " + _poke(b, pos, fmt, rng)
    sid, _pos, off, size = secs[int(rng.integers(len(secs)))]  # bytes inside a section (cells, quant, const)
    if size == 0:
        return "empty section"
    p = off + int(rng.integers(size))
    k = int(rng.integers(1, 5))
    b[p : p + k] = rng.integers(0, 256, size=len(b[p : p + k]), dtype=np.uint8).tobytes()
    return f"random bytes {k}@{p} in section {sid}"


def mutate_image(base: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One structurally damaged, resealed copy of a valid image: 1-3 field edits (80%) or a relayout."""
    secs = sections(base)
    if rng.random() < 0.8:
        b = bytearray(base)
        what = [_edit(b, base, secs, rng) for _ in range(int(rng.choice([1, 1, 1, 2, 3])))]
        return reseal(b), "; ".join(what)
    # relayouts: META replaced, a section cut, grown, dropped or repeated
    blobs = [(sid, base[off : off + size]) for sid, _pos, off, size in secs]
    header = base[:64]
    kind = int(rng.integers(5))
    if kind == 0:
        meta = META_VARIANTS[int(rng.integers(len(META_VARIANTS)))]
        blobs = [(sid, meta if sid == 1 else blob) for sid, blob in blobs]
        return assemble(header, blobs), f"META = {meta[:30]!r}"
    i = int(rng.integers(len(blobs)))
    sid, blob = blobs[i]
    if kind == 1:
        cut = int(rng.integers(0, len(blob) + 1))
        blobs[i] = (sid, blob[:cut])
        what = f"section {sid} cut to {cut}"
    elif kind == 2:
        extra = int(rng.choice([1, 4, 12, 28, 36, 100]))
        blobs[i] = (sid, blob + bytes(extra))
        what = f"section {sid} grown by {extra}"
    elif kind == 3:
        del blobs[i]
        what = f"section {sid} dropped"
    else:
        blobs.insert(i, (sid, blob))
        what = f"section {sid} twice"
    return assemble(header, blobs), what


# --- host: parse_image + golden model, in a memory-capped worker -------------------------------------------
def base_images(models_dir: Path) -> list[tuple[str, bytes]]:
    from cimconv.pipeline import convert

    return [(f"{m}@{t}", convert(models_dir / f"{m}.tflite", t).image_bytes) for m, t in BASE_MODELS]


def run_image(data: bytes) -> None:
    """What `cimsdk run` does with an image and one input."""
    from cimconv.image import parse_image
    from cimsdk.golden import Executor

    img = parse_image(data)
    rec = img.tensors[img.input_tensor]
    x = np.random.default_rng(0).integers(-128, 128, size=(1, *rec.shape[1:]), dtype=np.int8)
    Executor(img).run(x)


def fuzz_host(models_dir: Path, seed: int, n: int) -> Tally:
    bases = base_images(models_dir)
    for _name, data in bases:  # the unmutated images run: otherwise every case would be a rejection
        run_image(data)
    tally = Tally("fuzz images")
    for case in range(n):
        rng = np.random.default_rng([seed, case])
        name, base = bases[int(rng.integers(len(bases)))]
        data, what = mutate_image(base, rng)
        tally.run(f"seed {seed} case {case} ({name}: {what})", lambda d=data: run_image(d), timeout=60)
    return tally


def _worker(models_dir: str, seed: int, n: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    tally = fuzz_host(Path(models_dir), seed, n)
    print(json.dumps({"line": tally.line(), "ok": tally.ok, "rejected": tally.rejected, "crashes": tally.crashes}))


def host_fuzz_in_worker(models_dir: Path, seed: int, n: int, timeout: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, __file__, str(models_dir), str(seed), str(n)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _report(res: dict) -> None:
    print(res["line"])
    assert not res["crashes"], f"{len(res['crashes'])} crashes, first ones:\n" + "\n".join(res["crashes"][:15])


def test_fuzz_images_host(models_dir: Path) -> None:
    res = host_fuzz_in_worker(models_dir, SEED, 300, timeout=900)
    assert res["ok"] > 0 and res["rejected"] > 0, res["line"]
    _report(res)


@pytest.mark.slow
def test_fuzz_images_host_5k(models_dir: Path) -> None:
    _report(host_fuzz_in_worker(models_dir, SEED + 1, 5000, timeout=7200))


def test_resealing_reaches_the_parser(models_dir: Path) -> None:
    """The helper itself: a resealed image with a changed arena size passes the checksums and is rejected
    by the structure checks (not by CRC or SHA-256), with a one-line message."""
    from cimconv.image import ImageError, parse_image

    _name, base = base_images(models_dir)[0]
    assert reseal(bytearray(base)) == base and assemble(base[:64], [
        (sid, base[off : off + size]) for sid, _p, off, size in sections(base)]) == base
    b = bytearray(base)
    struct.pack_into("<I", b, 32, 0x7FFFFFF0)  # arena_size: the byte that once asked for 31.9 GiB
    with pytest.raises(ImageError) as exc:
        parse_image(reseal(b))
    msg = str(exc.value)
    assert "arena" in msg and "CRC" not in msg and "SHA" not in msg and "\n" not in msg


def test_run_with_empty_npy_input(models_dir: Path, tmp_path: Path) -> None:
    """`cimsdk run IMAGE --input empty.npy`: was "aborted", exit 130; now one error line, exit status 2."""
    img = tmp_path / "m.cimg"
    img.write_bytes(base_images(models_dir)[0][1])
    for shape in [(0,), (0, 1)]:
        np.save(tmp_path / "x.npy", np.zeros(shape, np.int8))
        res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "run", str(img), "--input", str(tmp_path / "x.npy")],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 2, (res.returncode, res.stderr)
        err = res.stderr.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and "empty" in err, err


# --- firmware: the C runtime's loader under ASan/UBSan ------------------------------------------------------
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def fuzz_c(models_dir: Path, tmp: Path, seed: int, n: int) -> tuple[str, list[str]]:
    from test_runtime_host import rb  # tests/c/runtime_build.py, loaded once
    if not rb.have_gcc():
        pytest.skip("needs gcc")
    exe = rb.build_host(tmp, None, extra=SANITIZE, opt="-O1")
    bases = base_images(models_dir)
    from cimconv.image import parse_image

    inputs = {}
    for name, data in bases:
        img = parse_image(data)
        nbytes = img.tensors[img.input_tensor].nbytes
        inputs[name] = tmp / f"in_{len(inputs)}.bin"
        inputs[name].write_bytes(np.random.default_rng(1).integers(-128, 128, nbytes, dtype=np.int8).tobytes())
    bad: list[str] = []
    counts = {0: 0, 3: 0, 4: 0}
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    for case in range(n):
        rng = np.random.default_rng([seed, case])
        name, base = bases[int(rng.integers(len(bases)))]
        data, what = mutate_image(base, rng)
        img_path = tmp / "case.cimg"
        img_path.write_bytes(data)
        label = f"seed {seed} case {case} ({name}: {what})"
        try:
            proc = subprocess.run([str(exe), str(img_path), str(inputs[name]), str(tmp / "out.bin")],
                                  capture_output=True, text=True, timeout=120, env=env)
        except subprocess.TimeoutExpired:
            bad.append(f"{label}: no result after 120 s")
            continue
        sanitizer = "Sanitizer" in proc.stderr or "runtime error:" in proc.stderr
        if proc.returncode not in counts or sanitizer:
            bad.append(f"{label}: exit {proc.returncode}: {(proc.stdout + proc.stderr)[-1500:]}")
        else:
            counts[proc.returncode] += 1
    line = (f"fuzz images C runtime: {n} mutated, {counts[0]} ran, {counts[3]} refused at load, "
            f"{counts[4]} refused at invoke, {len(bad)} crashes")
    return line, bad


def test_fuzz_images_c_runtime(models_dir: Path, tmp_path: Path) -> None:
    line, bad = fuzz_c(models_dir, tmp_path, SEED + 2, 300)
    print(line)
    assert not bad, "\n".join(bad[:10])


@pytest.mark.slow
def test_fuzz_images_c_runtime_5k(models_dir: Path, tmp_path: Path) -> None:
    line, bad = fuzz_c(models_dir, tmp_path, SEED + 3, 5000)
    print(line)
    assert not bad, "\n".join(bad[:10])


if __name__ == "__main__":  # the memory-capped worker of the host tests
    _worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
