"""Shared parts of the fuzz tests: seeded mutations of TFLite models, and the outcome tally.

Model mutations are of two kinds: blind byte damage (bit flips, truncation, overwritten words) and
structure-aware edits of one flatbuffer field in place (a shape dim, a tensor or buffer index, a scale,
a zero point, an opcode, an option value, a vector length). Field positions come from the `tflite`
package's readers (`Table.Offset` / `Vector`), so the rest of the file stays intact and the converter
gets past the flatbuffer layer to the checks behind it.
"""

from __future__ import annotations

import math
import signal
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cimconv.errors import UserError

MAX_MESSAGE = 480  # longest acceptable one-line error message

# (name relative to models_dir, weight): the shared int8 models, converting ones weighted up.
MODEL_FILES = [
    ("hello_world_int8.tflite", 3), ("kws_ref_model.tflite", 3), ("micro_speech_quantized.tflite", 3),
    ("vww_96_int8.tflite", 1), ("real/armkws_ds_cnn_s.tflite", 3), ("real/tflm_seanet_conv0.tflite", 1),
    ("real/mltk_anomaly_detection.tflite", 1), ("real/mltk_keyword_spotting_on_off_v3.tflite", 1),
]


def load_models(models_dir: Path) -> list[tuple[str, bytes, int]]:
    return [(name, (models_dir / name).read_bytes(), w) for name, w in MODEL_FILES if (models_dir / name).exists()]


# --- flatbuffer field sites -------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    kind: str  # what the field is; picks the values tried
    pos: int  # absolute byte position of the value
    fmt: str  # struct format of the value
    ref: int = 0  # a count the value relates to (tensors, buffers, opcodes, vector length)
    owner: int = -1  # index of the tensor / operator the field belongs to (-1: model or subgraph)
    element: int = 0  # position inside a vector field


def _field(tab, slot: int) -> int | None:
    o = tab.Offset(slot)
    return tab.Pos + o if o else None


def _vector(tab, slot: int) -> tuple[int, int] | None:
    """(position of the length prefix, length) of a vector field."""
    o = tab.Offset(slot)
    if not o:
        return None
    start = tab.Vector(o)
    return start - 4, tab.VectorLen(o)


def _vector_sites(tab, slot: int, kind: str, fmt: str, ref: int, owner: int = -1) -> list[Site]:
    v = _vector(tab, slot)
    if v is None:
        return []
    lpos, n = v
    size = struct.calcsize(fmt)
    out = [Site(kind + "_len", lpos, "<I", n, owner)]
    out += [Site(kind, lpos + 4 + i * size, fmt, ref, owner, i) for i in range(n)]
    return out


def _table_fields(tab) -> list[int]:
    """Absolute positions of every field present in a table (scalars of unknown width)."""
    buf, pos = tab.Bytes, tab.Pos
    vt = pos - struct.unpack_from("<i", buf, pos)[0]
    vt_size = struct.unpack_from("<H", buf, vt)[0]
    out = []
    for slot in range(4, vt_size, 2):
        fo = struct.unpack_from("<H", buf, vt + slot)[0]
        if fo:
            out.append(pos + fo)
    return out


def model_sites(data: bytes) -> list[Site]:
    """Every mutable field of subgraph 0 of a TFLite model, with its position."""
    import tflite

    m = tflite.Model.GetRootAsModel(data, 0)
    sites: list[Site] = []
    nbuf, nops_codes = m.BuffersLength(), m.OperatorCodesLength()
    for i in range(nops_codes):
        oc = m.OperatorCodes(i)._tab
        for slot, kind, fmt in ((4, "dep_code", "<b"), (10, "builtin_code", "<i"), (8, "version", "<i")):
            p = _field(oc, slot)
            if p is not None:
                sites.append(Site(kind, p, fmt))
    for i in range(nbuf):
        b = m.Buffers(i)._tab
        v = _vector(b, 4)
        if v is not None and v[1]:
            sites.append(Site("buf_len", v[0], "<I", v[1]))
    sg = m.Subgraphs(0)
    nt = sg.TensorsLength()
    sites += _vector_sites(sg._tab, 6, "sg_in", "<i", nt)
    sites += _vector_sites(sg._tab, 8, "sg_out", "<i", nt)
    for i in range(nt):
        t = sg.Tensors(i)
        tab = t._tab
        sites += _vector_sites(tab, 4, "shape", "<i", 0, i)
        for slot, kind, fmt, ref in ((6, "ttype", "<b", 0), (8, "tbuffer", "<I", nbuf)):
            p = _field(tab, slot)
            if p is not None:
                sites.append(Site(kind, p, fmt, ref, i))
        name = _vector(tab, 10)
        if name is not None:
            sites.append(Site("name_len", name[0], "<I", name[1], i))
        q = t.Quantization()
        if q is not None:
            qt = q._tab
            sites += _vector_sites(qt, 8, "scale", "<f", 0, i)
            sites += _vector_sites(qt, 10, "zp", "<q", 0, i)
            p = _field(qt, 16)
            if p is not None:
                sites.append(Site("qdim", p, "<i", len(t.ShapeAsNumpy()) if t.ShapeLength() else 0, i))
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        tab = op._tab
        p = _field(tab, 4)
        if p is not None:
            sites.append(Site("opcode_index", p, "<I", nops_codes, i))
        sites += _vector_sites(tab, 6, "op_in", "<i", nt, i)
        sites += _vector_sites(tab, 8, "op_out", "<i", nt, i)
        p = _field(tab, 10)
        if p is not None:
            sites.append(Site("opt_type", p, "<B"))
        opts = op.BuiltinOptions()
        if opts is not None:
            sites += [Site("opt_field", fp, "<B") for fp in _table_fields(opts)]
    return sites


_F32 = [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e-45, 1e-38, 1e38, 3.4e38, 1e-12]


def _new_value(site: Site, old, rng: np.random.Generator):
    """An interesting replacement for one field."""
    k, ref = site.kind, site.ref
    if k.endswith("_len"):
        return int(rng.choice([0, 1, max(old - 1, 0), old + 1, old * 2 + 3, 600, 1 << 20, (1 << 31) - 1,
                               0xFFFFFFFF]))
    if k == "shape":
        return int(rng.choice([0, -1, 1, 2, old + 1, max(old - 1, 0), old * 2, 3 * old + 1, 65536,
                               (1 << 31) - 1, -(1 << 31), int(rng.integers(1, 300))]))
    if k in ("sg_in", "sg_out", "op_in", "op_out"):
        return int(rng.choice([-1, -2, ref, ref + 1, (1 << 31) - 1, int(rng.integers(0, max(ref, 1))),
                               int(rng.integers(0, max(ref, 1)))]))
    if k in ("tbuffer", "opcode_index"):
        return int(rng.choice([0, ref, ref + 1, 0xFFFFFFFF, int(rng.integers(0, max(ref, 1))),
                               int(rng.integers(0, max(ref, 1)))]))
    if k == "ttype":
        return int(rng.choice([0, 1, 2, 3, 4, 7, 9, 10, 17, 100, -1, int(rng.integers(0, 20))]))
    if k == "scale":
        choices = _F32 + [old * 2, old / 2, old * 1e6, old * 1e-6]
        return float(choices[int(rng.integers(len(choices)))])
    if k == "zp":
        return int(rng.choice([-129, 128, 255, -1, 0, 1 << 40, -(1 << 62), int(rng.integers(-128, 128))]))
    if k == "qdim":
        return int(rng.choice([-1, 0, 1, 2, 3, 4, 100, ref, ref - 1]))
    if k in ("builtin_code", "dep_code"):
        codes = [0, 1, 2, 3, 4, 9, 14, 17, 18, 22, 25, 32, 34, 40, 114, 6, 100, 127, -1, 200, 1000]
        v = int(rng.choice(codes + [int(rng.integers(0, 210))]))
        return max(-128, min(127, v)) if k == "dep_code" else v
    if k == "version":
        return int(rng.choice([0, -1, 1, 2, 7, 1 << 30]))
    if k == "opt_type":
        return int(rng.integers(0, 130))
    if k == "opt_field":
        return int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 255, 128, int(rng.integers(0, 256))]))
    raise AssertionError(k)


def _pack(fmt: str, value) -> bytes:
    if fmt in ("<b", "<B"):
        value = int(value) & 0xFF
        return bytes([value])
    if fmt == "<I":
        return struct.pack(fmt, int(value) & 0xFFFFFFFF)
    if fmt == "<i":
        return struct.pack(fmt, ((int(value) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31))
    if fmt == "<q":
        return struct.pack(fmt, ((int(value) + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63))
    return struct.pack(fmt, value)


def mutate_field(data: bytearray, sites: list[Site], rng: np.random.Generator) -> str:
    # Pick a kind first so rare fields (opcodes, options) are hit as often as the many shape dims.
    kinds = sorted({s.kind for s in sites})
    kind = kinds[int(rng.integers(len(kinds)))]
    pool = [s for s in sites if s.kind == kind]
    site = pool[int(rng.integers(len(pool)))]
    size = struct.calcsize(site.fmt)
    if site.pos + size > len(data):
        return f"{kind}@{site.pos}: out of file"
    old = struct.unpack_from(site.fmt, data, site.pos)[0]
    new = _new_value(site, old, rng)
    data[site.pos : site.pos + size] = _pack(site.fmt, new)
    return f"{kind}@{site.pos}: {old!r} -> {new!r}"


def set_field(data: bytes, kind: str, owner: int, value, element: int = 0) -> bytes:
    """A copy of a model with one field (of tensor/operator `owner`) set: the regression tests' edits."""
    site = next(s for s in model_sites(data) if s.kind == kind and s.owner == owner and s.element == element)
    out = bytearray(data)
    out[site.pos : site.pos + struct.calcsize(site.fmt)] = _pack(site.fmt, value)
    return bytes(out)


def mutate_bytes(data: bytearray, rng: np.random.Generator) -> tuple[bytearray, str]:
    how = int(rng.integers(5))
    n = len(data)
    if how == 0:
        k = int(rng.integers(1, 9))
        for _ in range(k):
            p = int(rng.integers(n))
            data[p] ^= 1 << int(rng.integers(8))
        return data, f"{k} bit flips"
    if how == 1:
        cut = int(rng.integers(8, n))
        return data[:cut], f"truncated to {cut}"
    if how == 2:
        p = int(rng.integers(0, n - 4)) & ~3
        v = int(rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, n, n + 4, int(rng.integers(1 << 32))]))
        data[p : p + 4] = struct.pack("<I", v)
        return data, f"word@{p} = {v:#x}"
    if how == 3:
        p = int(rng.integers(0, n))
        k = int(rng.integers(1, 64))
        data[p : p + k] = bytes(len(data[p : p + k]))
        return data, f"zeroed {k}@{p}"
    p = int(rng.integers(0, n))
    k = int(rng.integers(1, 16))
    data[p : p + k] = rng.integers(0, 256, size=len(data[p : p + k]), dtype=np.uint8).tobytes()
    return data, f"random {k}@{p}"


_SITES: dict[str, list[Site]] = {}


def mutate_model(name: str, base: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One damaged copy of a model: 70% structure-aware field edits (1-3), 30% byte damage."""
    sites = _SITES.get(name)
    if sites is None:
        sites = _SITES[name] = model_sites(base)
    data = bytearray(base)
    if rng.random() < 0.7:
        what = [mutate_field(data, sites, rng) for _ in range(int(rng.choice([1, 1, 1, 2, 3])))]
        return bytes(data), "; ".join(what)
    data, what = mutate_bytes(data, rng)
    return bytes(data), what


def pick_model(models: list[tuple[str, bytes, int]], rng: np.random.Generator) -> tuple[str, bytes]:
    w = np.array([m[2] for m in models], dtype=float)
    i = int(rng.choice(len(models), p=w / w.sum()))
    return models[i][0], models[i][1]


# --- running cases ------------------------------------------------------------------------------------
class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise Hang in this (main) thread after `seconds`."""

    def _alarm(_sig, _frame):
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def message_problem(exc: BaseException) -> str | None:
    """Why a UserError's message is not an acceptable one-line error (None when it is)."""
    msg = str(exc)
    if not msg.strip():
        return "empty message"
    if "\n" in msg or "\r" in msg:
        return "message spans several lines"
    if len(msg) > MAX_MESSAGE:
        return f"message of {len(msg)} characters"
    return None


@dataclass
class Tally:
    what: str
    n: int = 0
    ok: int = 0
    rejected: int = 0
    crashes: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def run(self, case: str, fn: Callable[[], object], timeout: int = 60) -> None:
        """One case: success or a UserError with a one-line message; anything else is a crash."""
        self.n += 1
        try:
            with time_limit(timeout):
                fn()
            self.ok += 1
        except UserError as exc:
            problem = message_problem(exc)
            if problem:
                self.crashes.append(f"{case}: {problem}: {str(exc)[:300]!r}")
            else:
                self.rejected += 1
                key = type(exc).__name__
                self.reasons[key] = self.reasons.get(key, 0) + 1
        except Exception as exc:  # noqa: BLE001 - every other outcome is the bug being hunted
            self.crashes.append(f"{case}: {type(exc).__name__}: {str(exc)[:300]}")

    def line(self) -> str:
        return (f"{self.what}: {self.n} mutated, {self.ok} accepted, {self.rejected} rejected, "
                f"{len(self.crashes)} crashes")

    def check(self) -> None:
        print(self.line())
        assert not self.crashes, f"{len(self.crashes)} crashes, first ones:\n" + "\n".join(self.crashes[:15])
