"""The weight image (.cimg): one versioned binary that the firmware loads and the host golden model runs.

Spec: docs/image-format.md. This module is the single host-side implementation (writer and parser);
the C side is firmware/runtime. The records and constants are declared in `cimcontracts.image_format`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from cimcontracts.errors import UserError
from cimcontracts.image_format import (  # noqa: F401  (re-exported: the one definition lives there)
    DTYPES,
    HEADER,
    HEADER_SIZE,
    IO,
    IO_RECORD_SIZE,
    MAGIC,
    MATRIX,
    MATRIX_DENSE,
    MATRIX_DEPTHWISE,
    MATRIX_FORMAT_BF16,
    MATRIX_FORMAT_INT8,
    MATRIX_RECORD_SIZE,
    MAX_RANK,
    OP_HEADER,
    OP_HEADER_SIZE,
    OPF_CIM,
    OPF_REVERSE,
    QUANT_RECORD_SIZE,
    REVERSIBLE_OPS,
    SEC_CELLS,
    SEC_CONST,
    SEC_IO,
    SEC_MATRICES,
    SEC_META,
    SEC_PROGRAM,
    SEC_QUANT,
    SEC_TENSORS,
    SEC_TILES,
    SECTION,
    SECTION_ALIGN,
    SECTION_ENTRY_SIZE,
    SECTION_NAMES,
    SHA256_SIZE,
    STORE_ARENA,
    STORE_CONST,
    TENSOR,
    TENSOR_RECORD_SIZE,
    TENSOR_STATE,
    TILE,
    TILE_RECORD_SIZE,
    VERSION_MAJOR,
    VERSION_MINOR,
)
from cimconv.opspec import BY_CODE, OPS

MAX_ARENA_SIZE = 64 << 20  # activation bytes an image may ask for: far above any MCU, small for a host
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

# Struct views of the records declared in cimcontracts.image_format (formats derived, not typed).
_HEADER = HEADER.struct
_SECTION = SECTION.struct
_TENSOR = TENSOR.struct
_MATRIX = MATRIX.struct
_TILE = TILE.struct
_OPHDR = OP_HEADER.struct
_IO = IO.struct


@dataclass
class TensorRec:
    dtype: str
    shape: tuple[int, ...]
    storage: int  # STORE_ARENA or STORE_CONST
    offset: int  # arena offset or CONST section offset
    nbytes: int
    zero_point: int = 0
    scale: float = 0.0
    flags: int = 0  # TENSOR_STATE: kept in the arena between invocations, reset to its zero point (int8) or 0

    @property
    def state(self) -> bool:
        return bool(self.flags & TENSOR_STATE)


@dataclass
class OpRec:
    opcode: str
    inputs: list[int]
    outputs: list[int]
    params: dict[str, int]
    cim: bool = False
    source_index: int = -1  # operator index in the TFLite model (kept in META)
    reverse: bool = False  # OPF_REVERSE: an in-place convolution that walks its output pixels last to first

    def param_list(self) -> list[int]:
        return [int(self.params[name]) for name in OPS[self.opcode].params]


@dataclass
class TileRec:
    matrix: int
    macro: int
    array: int
    row0: int
    col0: int
    k0: int
    k_len: int
    n0: int
    n_len: int


@dataclass
class MatrixRec:
    kind: int
    rows: int  # K
    cols: int  # N
    weights: np.ndarray  # int8 (N, K): column-major cell contents, each output column's K weights contiguous;
    #                      uint16 BF16 words for a floating-point matrix (`MATRIX_FORMAT_BF16`)
    bias: np.ndarray  # int32 (N,), input zero point folded in; a BF16 matrix: the float32 bias's bits
    mult: np.ndarray  # int32 (N,)
    shift: np.ndarray  # int32 (N,)
    tiles: list[TileRec] = field(default_factory=list)

    @property
    def format(self) -> int:
        """`MATRIX_FORMAT_BF16` for BF16 cells (a floating-point target), else `MATRIX_FORMAT_INT8`."""
        return MATRIX_FORMAT_BF16 if self.weights.dtype == np.uint16 else MATRIX_FORMAT_INT8

    @property
    def float_bias(self) -> np.ndarray:
        """A BF16 matrix's float32 bias (its quant records hold the bits)."""
        return np.ascontiguousarray(self.bias, dtype=np.int32).view(np.float32)


@dataclass
class IORec:
    direction: int  # 0 input, 1 output
    tensor: int
    edge_dtype: str  # dtype the model's user sees: int8, or float32/uint8 when its QUANTIZE/DEQUANTIZE runs on
    # the host, or int16 (input) / int16, int32 (output) that the program's own QUANTIZE/SOFTMAX reads or
    # writes; scale and zero point are the edge's: the int8 tensor's for int8/float32, the uint8 tensor's
    # for uint8, the int16/int32 tensor's for those (docs/edges.md)
    scale: float
    zero_point: int


@dataclass
class Image:
    target: str
    target_id: int
    arena_size: int
    tensors: list[TensorRec]
    ops: list[OpRec]
    matrices: list[MatrixRec]
    io: list[IORec]
    const: bytes = b""
    meta: dict = field(default_factory=dict)
    sha256: str = ""  # of the whole file, as `sha256sum`, the device's INFO and the flasher report it

    @property
    def inputs(self) -> list[IORec]:
        """The model's inputs in its own order (TFLite's input indices)."""
        return [r for r in self.io if r.direction == 0]

    @property
    def outputs(self) -> list[IORec]:
        return [r for r in self.io if r.direction == 1]

    @property
    def input_tensor(self) -> int:
        """The first input's tensor (the header's `input_tensor`)."""
        return next(r.tensor for r in self.io if r.direction == 0)

    @property
    def output_tensor(self) -> int:
        return next(r.tensor for r in self.io if r.direction == 1)

    def io_names(self, direction: int) -> list[str]:
        """The model's names of its inputs (0) or outputs (1): from META, or input_0, output_1, ..."""
        recs = self.inputs if direction == 0 else self.outputs
        kind = "inputs" if direction == 0 else "outputs"
        names = (self.meta.get("io_names") or {}).get(kind) if isinstance(self.meta.get("io_names"), dict) else None
        if isinstance(names, list) and len(names) == len(recs) and all(isinstance(n, str) for n in names):
            return names
        return [f"{kind[:-1]}_{i}" for i in range(len(recs))]

    @property
    def state_tensors(self) -> list[int]:
        """Tensors kept between invocations (SVDF's activation state), in table order."""
        return [i for i, t in enumerate(self.tensors) if t.state]

    def state_initial(self, t: int) -> np.ndarray:
        """A state tensor's value at load and after a reset: its zero point for int8 (as TFLM), else 0."""
        rec = self.tensors[t]
        fill = rec.zero_point if rec.dtype == "int8" else 0
        return np.full(rec.shape, fill, dtype=rec.dtype)

    def const_array(self, t: int) -> np.ndarray:
        rec = self.tensors[t]
        raw = self.const[rec.offset : rec.offset + rec.nbytes]
        return np.frombuffer(raw, dtype=rec.dtype).reshape(rec.shape)


def _align(n: int, a: int = SECTION_ALIGN) -> int:
    return (n + a - 1) // a * a


def _pack_program(ops: list[OpRec]) -> bytes:
    out = bytearray()
    for op in ops:
        spec = OPS[op.opcode]
        tids = list(op.inputs) + list(op.outputs)
        tid_bytes = struct.pack(f"<{len(tids)}H", *tids)
        tid_bytes += b"\0" * (_align(len(tid_bytes), 4) - len(tid_bytes))
        params = op.param_list()
        body = tid_bytes + struct.pack(f"<{len(params)}i", *params)
        size = OP_HEADER_SIZE + len(body)
        out += _OPHDR.pack(spec.code, size, len(op.inputs), len(op.outputs), len(params),
                            (OPF_CIM if op.cim else 0) | (OPF_REVERSE if op.reverse else 0))
        out += body
    return bytes(out)


def write_image(img: Image) -> bytes:
    """Serialize; returns the bytes (header, section table, sections, SHA-256 trailer)."""
    tensors = b"".join(
        _TENSOR.pack(DTYPES[t.dtype], len(t.shape), t.storage, t.flags,
                     *(list(t.shape) + [1] * (MAX_RANK - len(t.shape))),
                     t.offset, t.nbytes, t.zero_point, t.scale)
        for t in img.tensors
    )
    cells = bytearray()
    quant = bytearray()
    matrices = bytearray()
    tiles = bytearray()
    n_tiles = 0
    for mi, m in enumerate(img.matrices):
        cells_off = len(cells)
        w = np.ascontiguousarray(m.weights, dtype="<u2" if m.format == MATRIX_FORMAT_BF16 else np.int8)
        assert w.shape == (m.cols, m.rows)
        cells += w.tobytes()
        cells += b"\0" * (_align(len(cells), 4) - len(cells))
        q = np.stack([m.bias, m.mult, m.shift], axis=1).astype("<i4")
        quant_off = len(quant)
        quant += q.tobytes()
        matrices += _MATRIX.pack(m.kind, m.rows, m.cols, cells_off, quant_off, n_tiles, len(m.tiles), m.format)
        for t in m.tiles:
            tiles += _TILE.pack(mi, t.macro, t.array, t.row0, t.col0, 0, t.k0, t.k_len, t.n0, t.n_len)
        n_tiles += len(m.tiles)
    io = b"".join(_IO.pack(r.direction, DTYPES[r.edge_dtype], r.tensor, r.scale, r.zero_point) for r in img.io)
    meta = dict(img.meta)
    meta["source_ops"] = [op.source_index for op in img.ops]
    sections = [
        (SEC_META, json.dumps(meta, sort_keys=True).encode()),
        (SEC_TENSORS, tensors),
        (SEC_PROGRAM, _pack_program(img.ops)),
        (SEC_MATRICES, bytes(matrices)),
        (SEC_TILES, bytes(tiles)),
        (SEC_CELLS, bytes(cells)),
        (SEC_QUANT, bytes(quant)),
        (SEC_CONST, bytes(img.const)),
        (SEC_IO, io),
    ]
    table_off = HEADER_SIZE
    pos = _align(table_off + SECTION_ENTRY_SIZE * len(sections))
    placed = []
    for sid, data in sections:
        placed.append((sid, pos, data))
        pos = _align(pos + len(data))
    out = bytearray(pos)
    for i, (sid, off, data) in enumerate(placed):
        _SECTION.pack_into(out, table_off + i * SECTION_ENTRY_SIZE, sid, off, len(data), zlib.crc32(data))
        out[off : off + len(data)] = data
    total = len(out) + SHA256_SIZE
    name = img.target.encode()[:16]
    header = _HEADER.pack(MAGIC, VERSION_MAJOR, VERSION_MINOR, HEADER_SIZE, total, img.target_id, 0,
                          len(sections), table_off, img.arena_size, len(img.tensors), len(img.ops),
                          img.input_tensor, img.output_tensor, 0, name)
    out[:HEADER_SIZE] = header
    out += hashlib.sha256(out).digest()
    return bytes(out)


class ImageError(UserError):
    """The weight image is corrupt, truncated or of another format version."""


MAX_SECTIONS = 64  # far more than v1 writes (9); bounds the section table a reader walks


def _section_table(data: bytes, where: str, nsec: int, table_off: int) -> dict[int, bytes]:
    body = len(data) - SHA256_SIZE
    if nsec > MAX_SECTIONS or table_off < HEADER_SIZE or table_off % 4 or \
            table_off + nsec * SECTION_ENTRY_SIZE > body:
        raise ImageError(f"{where}: section table of {nsec} entries at offset {table_off} does not fit the "
                         "image; the image is damaged, convert the model again")
    secs: dict[int, bytes] = {}
    for i in range(nsec):
        sid, off, size, crc = _SECTION.unpack_from(data, table_off + i * SECTION_ENTRY_SIZE)
        name = SECTION_NAMES.get(sid, sid)
        if off % SECTION_ALIGN or off < table_off + nsec * SECTION_ENTRY_SIZE or off + size > body:
            raise ImageError(f"{where}: section {name} at [{off}, {off + size}) lies outside the image body "
                             f"[{table_off + nsec * SECTION_ENTRY_SIZE}, {body}) or is not 8-byte aligned")
        if sid in secs:
            raise ImageError(f"{where}: section {name} appears twice")
        blob = data[off : off + size]
        if zlib.crc32(blob) != crc:
            raise ImageError(f"{where}: CRC32 mismatch in section {name}")
        secs[sid] = blob
    for sid in (SEC_META, SEC_TENSORS, SEC_PROGRAM, SEC_IO):
        if sid not in secs:
            raise ImageError(f"{where}: no {SECTION_NAMES[sid]} section; convert the model again")
    for sid, rec in ((SEC_TENSORS, TENSOR_RECORD_SIZE), (SEC_MATRICES, MATRIX_RECORD_SIZE),
                     (SEC_TILES, TILE_RECORD_SIZE), (SEC_IO, IO_RECORD_SIZE)):
        if len(secs.get(sid, b"")) % rec:
            raise ImageError(f"{where}: section {SECTION_NAMES[sid]} of {len(secs[sid])} bytes is not a whole "
                             f"number of {rec}-byte records")
    return secs


def _meta(blob: bytes, where: str) -> dict:
    try:
        meta = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ImageError(f"{where}: META section is not UTF-8 JSON; the image is damaged, convert the model again"
                         ) from None
    if not isinstance(meta, dict):
        raise ImageError(f"{where}: META section is not a JSON object; convert the model again")
    return meta


def _tensors(tb: bytes, where: str) -> list[TensorRec]:
    tensors = []
    for i in range(len(tb) // TENSOR_RECORD_SIZE):
        (dt, rank, storage, flags, d0, d1, d2, d3, off, nbytes, zp, scale) = _TENSOR.unpack_from(
            tb, i * TENSOR_RECORD_SIZE)
        if dt not in DTYPE_NAMES or rank > MAX_RANK:
            raise ImageError(f"{where}: tensor {i} has dtype code {dt} and rank {rank}; the image is damaged, "
                             "convert the model again")
        tensors.append(TensorRec(DTYPE_NAMES[dt], (d0, d1, d2, d3)[:rank], storage, off, nbytes, zp, scale, flags))
    return tensors


def _program(pb: bytes, where: str, n_tensors: int, source_ops: list) -> list[OpRec]:
    ops: list[OpRec] = []
    pos = 0
    while pos < len(pb):
        at = f"{where}: op {len(ops)} (byte {pos} of the program)"
        if pos + OP_HEADER_SIZE > len(pb):
            raise ImageError(f"{at}: record header runs past the program section")
        code, size, nin, nout, npar, flags = _OPHDR.unpack_from(pb, pos)
        spec = BY_CODE.get(code)
        if spec is None:
            raise ImageError(f"{at}: opcode {code} is not one this cimsdk knows; convert the model again")
        tid_len = _align(2 * (nin + nout), 4)
        if npar != len(spec.params) or size != OP_HEADER_SIZE + tid_len + 4 * npar or pos + size > len(pb) \
                or nout != 1 or nin < 1:
            raise ImageError(f"{at}: {spec.name} record of {size} bytes with {nin} inputs, {nout} outputs and "
                             f"{npar} params does not fit (expected {len(spec.params)} params)")
        tids = struct.unpack_from(f"<{nin + nout}H", pb, pos + OP_HEADER_SIZE)
        bad = [t for t in tids if t >= n_tensors]
        if bad:
            raise ImageError(f"{at}: {spec.name} refers to tensor {bad[0]}; the image has {n_tensors}")
        if bool(flags & OPF_CIM) != (spec.where == "cim"):
            raise ImageError(f"{at}: {spec.name} flagged to run on the {'CiM macros' if flags & OPF_CIM else 'CPU'}")
        if flags & ~(OPF_CIM | OPF_REVERSE) or (flags & OPF_REVERSE and spec.name not in REVERSIBLE_OPS):
            raise ImageError(f"{at}: {spec.name} has op flags 0x{flags:02x}; convert the model again")
        params = struct.unpack_from(f"<{npar}i", pb, pos + OP_HEADER_SIZE + tid_len)
        src = source_ops[len(ops)] if len(ops) < len(source_ops) else -1
        ops.append(OpRec(spec.name, list(tids[:nin]), list(tids[nin:]), dict(zip(spec.params, params, strict=True)),
                         bool(flags & OPF_CIM), src if isinstance(src, int) else -1, bool(flags & OPF_REVERSE)))
        pos += size
    return ops


def _matrices(secs: dict[int, bytes], where: str) -> list[MatrixRec]:
    mb, tl = secs.get(SEC_MATRICES, b""), secs.get(SEC_TILES, b"")
    cb, qb = secs.get(SEC_CELLS, b""), secs.get(SEC_QUANT, b"")
    all_tiles = []
    for i in range(len(tl) // TILE_RECORD_SIZE):
        v = _TILE.unpack_from(tl, i * TILE_RECORD_SIZE)
        all_tiles.append(TileRec(v[0], v[1], v[2], v[3], v[4], v[6], v[7], v[8], v[9]))
    matrices = []
    for i in range(len(mb) // MATRIX_RECORD_SIZE):
        kind, rows, cols, coff, qoff, t0, nt, fmt = _MATRIX.unpack_from(mb, i * MATRIX_RECORD_SIZE)
        cell = 2 if fmt == MATRIX_FORMAT_BF16 else 1
        if kind not in (MATRIX_DENSE, MATRIX_DEPTHWISE) or fmt not in (MATRIX_FORMAT_INT8, MATRIX_FORMAT_BF16) \
                or rows < 1 or cols < 1 or coff + rows * cols * cell > len(cb) or coff % cell or qoff % 4 or qoff + QUANT_RECORD_SIZE * cols > len(qb) \
                or t0 + nt > len(all_tiles):
            raise ImageError(f"{where}: matrix {i} (kind {kind}, {rows}x{cols}, cells at {coff}, quant at {qoff}, "
                             f"tiles {t0}+{nt}) does not fit the cells/quant/tiles sections; the image is damaged, "
                             "convert the model again")
        w = np.frombuffer(cb, dtype="<u2" if cell == 2 else np.int8, count=rows * cols, offset=coff)
        w = w.astype(np.uint16).reshape(cols, rows) if cell == 2 else w.reshape(cols, rows)
        q = np.frombuffer(qb, dtype="<i4", count=3 * cols, offset=qoff).reshape(cols, 3)
        matrices.append(MatrixRec(kind, rows, cols, w, q[:, 0].astype(np.int32), q[:, 1].astype(np.int32),
                                  q[:, 2].astype(np.int32), all_tiles[t0 : t0 + nt]))
    return matrices


def parse_image(data: bytes, where: str = "image") -> Image:
    """Parse and verify an image; raise ImageError on anything a reader or runner could trip over.

    Checks run before anything is allocated from the file's numbers: magic, version, sizes, SHA-256, the
    section table and per-section CRC32, every record against its section, then (cimconv.image_check) the
    program's tensors, shapes, parameters, matrices, tiles, io and META against each other.
    """
    from cimconv.image_check import check_image

    if len(data) < HEADER_SIZE + SHA256_SIZE:
        raise ImageError(f"{where}: {len(data)} bytes is too short for a .cimg image; convert the model again")
    (magic, vmaj, vmin, hsize, total, target_id, _flags, nsec, table_off, arena, n_tensors, n_ops,
     in_t, out_t, _r0, tname) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ImageError(f"{where}: not a cimsdk weight image (magic {magic!r}, expected b'CIMG')")
    if vmaj != VERSION_MAJOR:
        raise ImageError(f"{where}: image format {vmaj}.{vmin}, this cimsdk reads {VERSION_MAJOR}.x; "
                         "convert the model again with this cimsdk")
    if total != len(data):
        raise ImageError(f"{where}: header says {total} bytes, file has {len(data)} (truncated or padded)")
    if hsize != HEADER_SIZE:
        raise ImageError(f"{where}: header size {hsize}, expected {HEADER_SIZE}; the image is damaged")
    digest = hashlib.sha256(data[:-SHA256_SIZE]).digest()
    if digest != data[-SHA256_SIZE:]:
        raise ImageError(f"{where}: SHA-256 mismatch, the image is corrupt; convert or copy it again")
    try:
        target = tname.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise ImageError(f"{where}: target name {tname!r} is not ASCII; the image is damaged") from None
    secs = _section_table(data, where, nsec, table_off)
    meta = _meta(secs[SEC_META], where)
    tensors = _tensors(secs[SEC_TENSORS], where)
    if n_tensors != len(tensors):
        raise ImageError(f"{where}: header counts {n_tensors} tensors, the tensors section holds {len(tensors)}")
    source_ops = meta.get("source_ops")
    ops = _program(secs[SEC_PROGRAM], where, len(tensors), source_ops if isinstance(source_ops, list) else [])
    if n_ops != len(ops):
        raise ImageError(f"{where}: header counts {n_ops} ops, the program holds {len(ops)}")
    matrices = _matrices(secs, where)
    io = []
    ib = secs[SEC_IO]
    for i in range(len(ib) // IO_RECORD_SIZE):
        d, dt, t, s, zp = _IO.unpack_from(ib, i * IO_RECORD_SIZE)
        if dt not in DTYPE_NAMES:
            raise ImageError(f"{where}: io record {i} has dtype code {dt}; the image is damaged")
        io.append(IORec(d, t, DTYPE_NAMES[dt], s, zp))
    img = Image(target, target_id, arena, tensors, ops, matrices, io, secs.get(SEC_CONST, b""), meta,
                hashlib.sha256(data).hexdigest())
    check_image(img, where, MAX_ARENA_SIZE)
    if (img.input_tensor, img.output_tensor) != (in_t, out_t):
        raise ImageError(f"{where}: header input/output tensors ({in_t}, {out_t}) differ from the io records "
                         f"({img.input_tensor}, {img.output_tensor}); the image is damaged")
    return img
