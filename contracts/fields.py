"""Fixed-size binary records declared once, as tables of named, typed fields.

A `Record` is the single definition of a layout: Python packs and unpacks it through `Record.struct`
(the struct format is derived from the field list, never typed), the generator writes each field's
offset and size into a C header (`CIMG_HDR_NUM_OPS_OFF`, ...) and a markdown table into the docs. To
add a field, append it to the table (or take a reserved one) and run `python -m cimcontracts.gen`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

#: field type -> (struct code, size in bytes, C-side spelling used in the docs)
TYPES: dict[str, tuple[str, int]] = {
    "u8": ("B", 1), "u16": ("H", 2), "u32": ("I", 4), "u64": ("Q", 8),
    "i8": ("b", 1), "i16": ("h", 2), "i32": ("i", 4), "f32": ("f", 4), "char": ("s", 1),
}


@dataclass(frozen=True)
class Field:
    """One field: `count` > 1 makes it an array (`char` arrays are one byte string)."""

    name: str
    type: str
    doc: str = ""
    count: int = 1

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type} (known: {', '.join(TYPES)})")

    @property
    def size(self) -> int:
        return TYPES[self.type][1] * self.count

    @property
    def code(self) -> str:
        code = TYPES[self.type][0]
        if self.type == "char":
            return f"{self.count}s"
        return code * self.count if self.count > 1 else code

    @property
    def spelled(self) -> str:
        return f"{self.type}[{self.count}]" if self.count > 1 else self.type


@dataclass(frozen=True)
class Record:
    """A little-endian record without implicit padding: fields follow each other in table order."""

    name: str  # what the docs call it
    prefix: str  # C macro prefix: CIMG_HDR -> CIMG_HDR_<FIELD>_OFF / _SIZE, CIMG_HDR_SIZE
    fields: tuple[Field, ...]
    doc: str = ""

    @cached_property
    def struct(self) -> struct.Struct:
        return struct.Struct("<" + "".join(f.code for f in self.fields))

    @property
    def size(self) -> int:
        return self.struct.size

    @cached_property
    def offsets(self) -> dict[str, int]:
        out, pos = {}, 0
        for f in self.fields:
            out[f.name] = pos
            pos += f.size
        return out

    def offset(self, name: str) -> int:
        return self.offsets[name]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def c_defines(self) -> list[str]:
        """`#define <PREFIX>_<FIELD>_OFF n` and `_SIZE n` for every field, and the record size."""
        lines = [f"/* {self.name} ({self.size} bytes){': ' + self.doc if self.doc else ''} */",
                 f"#define {self.prefix}_RECORD_BYTES {self.size}u"]
        for f in self.fields:
            up = f.name.upper()
            note = f"{f.spelled} {f.doc}".strip()
            lines.append(f"#define {self.prefix}_{up}_OFF {self.offsets[f.name]}u /* {note} */")
            lines.append(f"#define {self.prefix}_{up}_SIZE {f.size}u")
        return lines

    def markdown(self) -> str:
        """The spec table the docs show between generated-table markers."""
        rows = ["| offset | type | field | notes |", "|---|---|---|---|"]
        rows += [f"| {self.offsets[f.name]} | {f.spelled} | {f.name} | {f.doc} |" for f in self.fields]
        return "\n".join(rows)


def record(name: str, prefix: str, *fields: Field, size: int | None = None, doc: str = "") -> Record:
    """Declare a record; `size` (when given) is asserted so a mis-typed table fails at import."""
    rec = Record(name, prefix, tuple(fields), doc)
    if size is not None and rec.size != size:
        raise AssertionError(f"{name}: fields add up to {rec.size} bytes, the format says {size}")
    return rec
