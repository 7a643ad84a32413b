"""Mapper: cut each CiM matrix into tiles that fit an array, and place every tile on a macro array.

All weights stay resident (NOR flash is the weight store; SRAM-CiM keeps weights in the arrays), so
the model fits only if every tile has a place. Placement is guillotine first-fit, tallest tiles first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cimconv.errors import FitError
from cimconv.image import MATRIX_DEPTHWISE, TileRec
from cimconv.lowering import Lowered
from cimconv.target import Target


@dataclass
class _Free:
    row: int
    col: int
    h: int
    w: int


@dataclass
class Mapping:
    tiles: dict[int, list[TileRec]]  # matrix index -> tiles
    arrays_used: int
    cells_used: int  # weight cells (int8 weights) holding weights
    array_weights: int  # weights one array holds
    per_matrix_arrays: dict[int, set[int]] = field(default_factory=dict)

    @property
    def utilization(self) -> float:
        return self.cells_used / max(1, self.arrays_used * self.array_weights)


def cut_tiles(mi: int, low: Lowered, t: Target) -> list[TileRec]:
    """Logical tiles of one matrix; placement (macro, array, row0, col0) is filled in by `place`."""
    m = low.matrix
    tiles = []
    if m.kind == MATRIX_DEPTHWISE:
        per = min(t.weight_cols, t.rows // m.rows)
        if per < 1:
            raise FitError(f"{low.opcode} at operator {low.source_index}: a {m.rows}-row depthwise window "
                           f"does not fit a {t.rows}-row array of {t.name}")
        for n0 in range(0, m.cols, per):
            tiles.append(TileRec(mi, 0, 0, 0, 0, 0, m.rows, n0, min(per, m.cols - n0)))
        return tiles
    for k0 in range(0, m.rows, t.rows):
        for n0 in range(0, m.cols, t.weight_cols):
            tiles.append(TileRec(mi, 0, 0, 0, 0, k0, min(t.rows, m.rows - k0), n0,
                                 min(t.weight_cols, m.cols - n0)))
    return tiles


def tile_extent(tile: TileRec, kind: int) -> tuple[int, int]:
    """Rows x weight columns a tile occupies on the array (block-diagonal for depthwise)."""
    if kind == MATRIX_DEPTHWISE:
        return tile.k_len * tile.n_len, tile.n_len
    return tile.k_len, tile.n_len


def place(lowered: list[Lowered], t: Target) -> Mapping:
    mats = [low for low in lowered if low.cim]
    tiles: dict[int, list[TileRec]] = {}
    work = []
    for mi, low in enumerate(mats):
        tiles[mi] = cut_tiles(mi, low, t)
        for tile in tiles[mi]:
            h, w = tile_extent(tile, low.matrix.kind)
            work.append((h, w, tile))
    work.sort(key=lambda x: (-x[0], -x[1]))
    free: list[list[_Free]] = []
    cells = 0
    per_matrix: dict[int, set[int]] = {}
    unplaced = []
    for h, w, tile in work:
        spot = None
        for a, rects in enumerate(free):
            for r in rects:
                if r.h >= h and r.w >= w:
                    spot = (a, r)
                    break
            if spot:
                break
        if spot is None and len(free) < t.arrays:
            free.append([_Free(0, 0, t.rows, t.weight_cols)])
            spot = (len(free) - 1, free[-1][0])
        if spot is None:
            unplaced.append((h * w, tile))
            continue
        a, r = spot
        free[a].remove(r)
        # guillotine split: the strip to the right (full height) and the rest below the tile
        if r.w > w:
            free[a].append(_Free(r.row, r.col + w, r.h, r.w - w))
        if r.h > h:
            free[a].append(_Free(r.row + h, r.col, r.h - h, w))
        free[a].sort(key=lambda f: (f.h * f.w))
        tile.macro, tile.array = divmod(a, t.arrays_per_macro)
        tile.row0, tile.col0 = r.row, r.col
        cells += tile.k_len * tile.n_len
        per_matrix.setdefault(tile.matrix, set()).add(a)
    if unplaced:
        need = sum(c for c, _ in unplaced)
        layers = sorted({mats[tile.matrix].source_index for _, tile in unplaced})
        shown = ", ".join(map(str, layers[:8])) + (f", ... ({len(layers)} in all)" if len(layers) > 8 else "")
        total = sum(low.matrix.rows * low.matrix.cols for low in mats)
        raise FitError(
            f"model does not fit {t.name}: {total:,} weights need more than the {t.arrays} arrays "
            f"({t.weight_capacity:,} weights); {need:,} weights of operators [{shown}] have no array left "
            f"(short by at least {need:,} weights); use a larger target or a smaller model")
    return Mapping(tiles, len(free), cells, t.rows * t.weight_cols, per_matrix)
