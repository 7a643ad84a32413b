"""Mapper: cut each CiM matrix into tiles that fit an array, and place every tile on a macro array.

All weights stay resident (NOR flash is the weight store; SRAM-CiM keeps weights in the arrays), so the
model fits only if every tile has a place.

A tile owns a rectangle of its array: the rows it drives and the weight columns it reads. When a tile
runs, only its rows carry inputs and only its columns are converted, so cells of other tiles, beside it
(other columns) or above and below it (other rows), add nothing: tiles of any layers share an array as
long as their rectangles do not overlap. A dense tile's rectangle is all weights. A depthwise tile holds
n channels block-diagonally (channel j's K window weights at rows row0 + j*K of column col0 + j), so its
rectangle is n*K rows by n columns of which only K*n cells hold weights.

Wide depthwise blocks need few array activations per output pixel but leave (n-1)/n of their rectangle
empty. The mapper first places every depthwise layer in blocks as wide as an array allows; when the model
does not fit that way it narrows the blocks (a cap on channels per depthwise tile, balanced over a layer's
tiles), down to one channel per tile, where every layer's footprint is exactly its weights. It keeps the
widest cap that places. Placement is guillotine first-fit, tallest tiles first.
"""

from __future__ import annotations

import math
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
    cells_occupied: int = 0  # cells inside tile rectangles (weights + block-diagonal zeros)
    depthwise_block: int = 0  # channels of the widest depthwise tile (0: no depthwise layer)

    @property
    def utilization(self) -> float:
        """Weights over the cells of the arrays in use."""
        return self.cells_used / max(1, self.arrays_used * self.array_weights)


def depthwise_width(rows: int, t: Target) -> int:
    """Channels of a K-row depthwise window that one block-diagonal tile can hold at most."""
    return min(t.weight_cols, t.rows // rows)


def cut_tiles(mi: int, low: Lowered, t: Target, block: int | None = None) -> list[TileRec]:
    """Logical tiles of one matrix; placement (macro, array, row0, col0) is filled in by `place`.

    A depthwise matrix gets blocks as wide as an array allows (`block` None: the widest first, the rest in
    the last tile) or at most `block` channels, the channels spread evenly over the tiles."""
    m = low.matrix
    tiles = []
    if m.kind == MATRIX_DEPTHWISE:
        per = depthwise_width(m.rows, t)
        if per < 1:
            raise FitError(f"{low.opcode} at operator {low.source_index}: a {m.rows}-row depthwise window "
                           f"does not fit a {t.rows}-row array of {t.name}")
        if block is None:
            for n0 in range(0, m.cols, per):
                tiles.append(TileRec(mi, 0, 0, 0, 0, 0, m.rows, n0, min(per, m.cols - n0)))
            return tiles
        count = math.ceil(m.cols / min(per, block))
        n0 = 0
        for i in range(count):
            n = m.cols // count + (1 if i < m.cols % count else 0)
            tiles.append(TileRec(mi, 0, 0, 0, 0, 0, m.rows, n0, n))
            n0 += n
        return tiles
    for k0 in range(0, m.rows, t.rows):
        for n0 in range(0, m.cols, t.weight_cols):
            tiles.append(TileRec(mi, 0, 0, 0, 0, k0, min(t.rows, m.rows - k0), n0,
                                 min(t.weight_cols, m.cols - n0)))
    return tiles


def tile_extent(tile: TileRec, kind: int) -> tuple[int, int]:
    """Rows x weight columns of the rectangle a tile owns on its array (block-diagonal for depthwise)."""
    if kind == MATRIX_DEPTHWISE:
        return tile.k_len * tile.n_len, tile.n_len
    return tile.k_len, tile.n_len


@dataclass
class _Packing:
    tiles: dict[int, list[TileRec]]
    arrays: int  # arrays opened
    placed_weights: int
    placed_cells: int
    unplaced: list[tuple[int, TileRec]]  # (weights, tile)
    largest_free: tuple[int, int]  # rows x columns of the largest free rectangle left


def _pack(mats: list[Lowered], t: Target, block: int | None) -> _Packing:
    tiles: dict[int, list[TileRec]] = {}
    work = []
    for mi, low in enumerate(mats):
        tiles[mi] = cut_tiles(mi, low, t, block)
        for tile in tiles[mi]:
            h, w = tile_extent(tile, low.matrix.kind)
            work.append((h, w, tile))
    work.sort(key=lambda x: (-x[0], -x[1]))
    free: list[list[_Free]] = []
    weights = cells = 0
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
            unplaced.append((tile.k_len * tile.n_len, tile))
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
        weights += tile.k_len * tile.n_len
        cells += h * w
    largest = max((r for rects in free for r in rects), key=lambda r: r.h * r.w, default=None)
    return _Packing(tiles, len(free), weights, cells, unplaced, (largest.h, largest.w) if largest else (0, 0))


def _operators(mats: list[Lowered], unplaced: list[tuple[int, TileRec]]) -> str:
    layers = sorted({mats[tile.matrix].source_index for _, tile in unplaced})
    return ", ".join(map(str, layers[:8])) + (f", ... ({len(layers)} in all)" if len(layers) > 8 else "")


def _does_not_fit(mats: list[Lowered], t: Target, narrowest: _Packing | None) -> FitError:
    """The one-line reason, with numbers that add up: what the model needs, what the target has, the gap."""
    dense = sum(low.matrix.rows * low.matrix.cols for low in mats if low.matrix.kind != MATRIX_DEPTHWISE)
    dw = sum(low.matrix.rows * low.matrix.cols for low in mats if low.matrix.kind == MATRIX_DEPTHWISE)
    need = dense + dw
    has = t.weight_capacity
    geometry = f"{t.arrays} arrays x {t.rows:,} rows x {t.weight_cols:,} weight columns"
    if need > has or narrowest is None:
        split = f" ({dense:,} dense + {dw:,} depthwise, one channel per block)" if dw else ""
        return FitError(
            f"model does not fit {t.name}: its {need:,} weights{split} need {need:,} weight cells, {t.name} has "
            f"{has:,} ({geometry}); short by {need - has:,} weights; use a larger target or a smaller model")
    p = narrowest
    left = sum(c for c, _ in p.unplaced)
    return FitError(
        f"model does not fit {t.name}: its {need:,} weights would fill {need / has:.0%} of the {has:,} weight "
        f"cells ({geometry}), but the tiles do not pack: {p.placed_weights:,} weights placed use "
        f"{p.placed_cells:,} cells, leaving {has - p.placed_cells:,} free in pieces of at most "
        f"{p.largest_free[0]:,}x{p.largest_free[1]:,}, and {left:,} weights in {len(p.unplaced)} tiles of "
        f"operators [{_operators(mats, p.unplaced)}] find no rectangle; use a larger target or a smaller model")


def _mapping(mats: list[Lowered], p: _Packing, t: Target) -> Mapping:
    per_matrix: dict[int, set[int]] = {}
    for mi, ts in p.tiles.items():
        for tile in ts:
            per_matrix.setdefault(mi, set()).add(tile.macro * t.arrays_per_macro + tile.array)
    block = max((tl.n_len for mi, ts in p.tiles.items() if mats[mi].matrix.kind == MATRIX_DEPTHWISE for tl in ts),
                default=0)
    return Mapping(p.tiles, p.arrays, p.placed_weights, t.rows * t.weight_cols, per_matrix, p.placed_cells, block)


def place(lowered: list[Lowered], t: Target) -> Mapping:
    mats = [low for low in lowered if low.cim]
    first = _pack(mats, t, None)
    if not first.unplaced:
        return _mapping(mats, first, t)
    if sum(low.matrix.rows * low.matrix.cols for low in mats) > t.weight_capacity:
        raise _does_not_fit(mats, t, None)
    widest = max((depthwise_width(low.matrix.rows, t) for low in mats if low.matrix.kind == MATRIX_DEPTHWISE),
                 default=0)
    # the widest cap that places (binary search; placement is not strictly monotone in the cap, so the
    # search keeps the best cap it saw place, and one channel per block is the last resort)
    tried: dict[int, _Packing] = {}
    lo, hi, best = 1, widest, None
    while lo <= hi:
        mid = (lo + hi) // 2
        p = tried[mid] = _pack(mats, t, mid)
        if p.unplaced:
            hi = mid - 1
        else:
            best = (mid, p)
            lo = mid + 1
    if best is not None:
        return _mapping(mats, best[1], t)
    narrowest = (tried.get(1) or _pack(mats, t, 1)) if widest else first
    if not narrowest.unplaced:
        return _mapping(mats, narrowest, t)
    raise _does_not_fit(mats, t, narrowest)
