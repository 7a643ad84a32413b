"""Spread a layer's row groups and tiles over the arrays the model leaves empty, so they run in parallel.

The packer (`cimconv.mapper`) fills as few arrays as it can. An analog array converts `rows_active` rows
per ADC conversion, so a layer whose K rows sit on one array runs its row groups one after another (a
64-row 1x1 convolution on nor-acim: 4 groups, 32 macro cycles per output pixel); tiles of one layer on
one array also run in turn. Arrays the packer left empty can take part of that work: a dense tile is cut
into row parts (whole row groups each, partial sums added by the digital periphery, as tiles cut along
K already are), and a layer's tiles move from its busiest array to an empty one while that shortens the
layer. Layers run one at a time, so every layer may use the same empty arrays. Each weight still has
exactly one cell; the macro counts change only by the periphery's one addition per extra tile and
column (`cimconv.energy.cim_counts`), and `cim_cycles` gives the shorter time.

RTL coprocessor targets (an `[rtl]` table) keep the packer's tiles: the hardware's tile table is sized
for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from cimconv.image import MATRIX_DEPTHWISE, TileRec
from cimconv.lowering import Lowered
from cimconv.mapper import Mapping, tile_extent
from cimconv.target import Target


@dataclass
class _Shelf:
    """Shelf packing on an empty array: tiles side by side, a new shelf below the tallest when full."""

    rows: int
    cols: int
    top: int = 0
    height: int = 0
    col: int = 0

    def spot(self, h: int, w: int) -> tuple[int, int] | None:
        if self.col + w <= self.cols and self.top + h <= self.rows:
            return self.top, self.col
        if w <= self.cols and self.top + self.height + h <= self.rows:
            return self.top + self.height, 0
        return None

    def take(self, h: int, w: int) -> tuple[int, int]:
        row, col = self.spot(h, w)
        if row != self.top:
            self.top, self.height, self.col = row, 0, 0
        self.col = col + w
        self.height = max(self.height, h)
        return row, col


def _cost(tile: TileRec, t: Target) -> int:
    """Macro cycles of one tile per matrix-vector product (`cimconv.energy.cim_cycles`)."""
    return t.input_cycles * (1 if t.adc_bits == 0 else t.row_groups(tile.k_len))


def _row_parts(tile: TileRec, t: Target, parts: int) -> list[TileRec]:
    """A dense tile cut along K into `parts` runs of whole row groups, each at its rows of the original."""
    groups = t.row_groups(tile.k_len)
    per = math.ceil(groups / parts) * t.rows_active
    out = []
    for k in range(0, tile.k_len, per):
        out.append(replace(tile, row0=tile.row0 + k, k0=tile.k0 + k, k_len=min(per, tile.k_len - k)))
    return out


def _index(tile: TileRec, t: Target) -> int:
    return tile.macro * t.arrays_per_macro + tile.array


def _merge_home(parts: list[TileRec], home: int, t: Target) -> list[TileRec]:
    """Row parts of one tile left on its own array in a contiguous run become one tile again."""
    out: list[TileRec] = []
    for p in parts:
        prev = out[-1] if out else None
        if (prev is not None and _index(p, t) == home and _index(prev, t) == home and prev.n0 == p.n0
                and prev.k0 + prev.k_len == p.k0 and prev.row0 + prev.k_len == p.row0 and prev.col0 == p.col0):
            out[-1] = replace(prev, k_len=prev.k_len + p.k_len)
        else:
            out.append(p)
    return out


def spread(mats: list[Lowered], m: Mapping, t: Target) -> Mapping:
    """The mapping with each layer's work spread over the arrays the packer left empty (see module doc)."""
    spare = list(range(m.arrays_used, t.arrays))
    if t.rtl or not spare:
        return m
    shelves = {a: _Shelf(t.rows, t.weight_cols) for a in spare}
    tiles: dict[int, list[TileRec]] = {}
    for mi, low in enumerate(mats):
        kind = low.matrix.kind
        work: list[TileRec] = []
        for tile in m.tiles[mi]:
            if kind != MATRIX_DEPTHWISE and t.adc_bits and t.row_groups(tile.k_len) > 1:
                work += _row_parts(tile, t, min(t.row_groups(tile.k_len), 1 + len(spare)))
            else:
                work.append(tile)
        load: dict[int, int] = {}
        on: dict[int, list[TileRec]] = {}
        for tile in work:
            a = _index(tile, t)
            load[a] = load.get(a, 0) + _cost(tile, t)
            on.setdefault(a, []).append(tile)
        for a in spare:
            load.setdefault(a, 0)
        while True:  # move the last tile of the busiest array to the least busy spare array with room
            src = max((a for a in on if len(on[a]) > 1), key=lambda a: load[a], default=None)
            if src is None:
                break
            tile = on[src][-1]
            h, w = tile_extent(tile, kind)
            dst = min((a for a in spare if a != src and shelves[a].spot(h, w) is not None),
                      key=lambda a: load[a], default=None)
            c = _cost(tile, t)
            if dst is None or load[dst] + c >= load[src]:
                break
            row, col = shelves[dst].take(h, w)
            macro, array = divmod(dst, t.arrays_per_macro)
            moved = replace(tile, macro=macro, array=array, row0=row, col0=col)
            on[src].pop()
            on.setdefault(dst, []).append(moved)
            load[src] -= c
            load[dst] += c
        placed = [tile for a in on for tile in on[a]]
        homes = {_index(tile, t) for tile in m.tiles[mi]}
        merged: list[TileRec] = []
        for a in on:
            merged += _merge_home(sorted(on[a], key=lambda x: (x.n0, x.k0)), a, t) if a in homes else on[a]
        tiles[mi] = sorted(merged if len(merged) <= len(placed) else placed, key=lambda x: (x.k0, x.n0))
    per_matrix = {mi: {_index(tile, t) for tile in ts} for mi, ts in tiles.items()}
    used = {a for s in per_matrix.values() for a in s}
    cells = sum(h * w for mi, ts in tiles.items() for h, w in (tile_extent(x, mats[mi].matrix.kind) for x in ts))
    return replace(m, tiles=tiles, arrays_used=len(used), per_matrix_arrays=per_matrix, cells_occupied=cells)
