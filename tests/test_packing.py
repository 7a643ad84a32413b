"""Packing layers into shared arrays (issue 11 item 4): the keyword model with 24 depthwise layers fits
`nor-acim` and stays bit-exact; utilization and the does-not-fit arithmetic are checked against numbers
computed here from the models' weight shapes and the target files, not from the mapper; the image checker
refuses tiles outside the target's arrays or on top of each other.
"""

from __future__ import annotations

import os
import re
import tomllib

import numpy as np
import pytest
from paths import ROOT, SHARED, TARGETS

from cimconv.errors import FitError
from cimconv.image import MATRIX_DEPTHWISE, ImageError, parse_image, write_image
from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

KWS_V3 = SHARED / "models" / "real" / "mltk_keyword_spotting_on_off_v3.tflite"
N_RANDOM = 100


def _geometry(target: str) -> dict:
    """Array geometry straight from the target file: weight columns = bit lines / cells per weight."""
    data = tomllib.loads((ROOT / "converter" / "targets" / f"{target}.toml").read_text())
    m = data["macro"]
    per_weight = m["cells_per_weight"] * (2 if m["signed_encoding"] == "differential" else 1)
    arrays = m["macros"] * m["arrays_per_macro"]
    return {"rows": m["rows"], "wcols": m["cols"] // per_weight, "arrays": arrays,
            "capacity": arrays * m["rows"] * (m["cols"] // per_weight)}


def _tflite_weights(path) -> tuple[int, int, list[tuple[str, int]]]:
    """(dense weights, depthwise weights, per CiM op (opcode, weights)) from the filter tensors' shapes."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    shapes = {d["index"]: d["shape"] for d in it.get_tensor_details()}
    dense = dw = 0
    ops = []
    for op in it._get_ops_details():
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            n = int(np.prod(shapes[op["inputs"][1]]))
            ops.append((op["op_name"], n))
            if op["op_name"] == "DEPTHWISE_CONV_2D":
                dw += n
            else:
                dense += n
    return dense, dw, ops


def _occupancy(image, geo: dict) -> dict[tuple[int, int], np.ndarray]:
    """Each array's cells, counting how many tile rectangles cover each (must be 0 or 1)."""
    grids: dict[tuple[int, int], np.ndarray] = {}
    for m in image.matrices:
        for tl in m.tiles:
            h = tl.k_len * tl.n_len if m.kind == MATRIX_DEPTHWISE else tl.k_len
            assert tl.row0 + h <= geo["rows"] and tl.col0 + tl.n_len <= geo["wcols"]
            g = grids.setdefault((tl.macro, tl.array), np.zeros((geo["rows"], geo["wcols"]), np.int32))
            g[tl.row0 : tl.row0 + h, tl.col0 : tl.col0 + tl.n_len] += 1
    return grids


@pytest.mark.parametrize("target", TARGETS)
def test_kws_v3_fits_and_report_utilization_adds_up(target):
    """0.28 M weights with 24 depthwise layers: fits both targets once depthwise blocks are narrowed."""
    geo = _geometry(target)
    dense, dw, ops = _tflite_weights(KWS_V3)
    assert (dense, dw) == (252_600, 25_920)  # 55 conv/fc + 24 depthwise 3x3x120 layers
    # a 9-row window: min(columns, rows // 9) channels per block at the widest; on nor-acim such blocks
    # alone need more cells than the target has (on sram-dcim they do not pack)
    widest = min(geo["wcols"], geo["rows"] // 9)
    blocks = [widest] * (120 // widest) + ([120 % widest] if 120 % widest else [])
    if target == "nor-acim":
        assert dense + 24 * sum(9 * n * n for n in blocks) > geo["capacity"]
    conv = convert(KWS_V3, target)
    grids = _occupancy(conv.image, geo)
    assert all(g.max() <= 1 for g in grids.values())
    tot = conv.report["totals"]
    assert tot["weight_bytes"] == dense + dw
    assert tot["arrays_used"] == len(grids) <= geo["arrays"]
    assert tot["cells_occupied"] == sum(int(g.sum()) for g in grids.values())
    # cells in use: the model's weights and the constant columns of reductions on the macro (its global pool)
    assert tot["utilization"] == pytest.approx((dense + dw + tot["reduction_cells"])
                                               / (len(grids) * geo["rows"] * geo["wcols"]))
    assert tot["capacity_weights"] == geo["capacity"]
    dw_tiles = [tl for m in conv.image.matrices if m.kind == MATRIX_DEPTHWISE for tl in m.tiles]
    assert tot["depthwise_block"] == max(tl.n_len for tl in dw_tiles) < widest
    # per layer: the share of its rectangles holding weights (a depthwise block of n channels: 1/n)
    cim_rows = [r for r in conv.report["layers"] if r["runs_on"] == "cim"]
    assert [(r["op"], r["weight_bytes"]) for r in cim_rows if "program_op" not in r] == ops
    for row, m in zip(cim_rows, conv.image.matrices, strict=True):
        if m.kind == MATRIX_DEPTHWISE:
            cells = sum(m.rows * tl.n_len * tl.n_len for tl in m.tiles)
        else:
            cells = m.rows * m.cols
        assert row["cells"] == cells and row["utilization"] == pytest.approx(row["weight_bytes"] / cells)


@pytest.mark.parametrize("target", TARGETS)
def test_kws_v3_equals_tflm(target):
    conv = convert(KWS_V3, target)
    rec = conv.image.tensors[conv.image.input_tensor]
    xs = np.random.default_rng(23).integers(-128, 128, size=(N_RANDOM, *rec.shape[1:])).astype(np.int8)
    ours = Executor(conv.image_bytes).run(xs)
    theirs = TFLM(KWS_V3).run(xs)
    assert ours.shape == theirs.shape == (N_RANDOM, 3)
    bad = int((ours != theirs).sum())
    assert bad == 0, f"{bad} of {ours.size} elements differ from TFLM"


def _too_large_model() -> tuple[bytes, int, int]:
    """A conv, a depthwise and a 16384 x 128 dense layer: 2.13 M weights, more than nor-acim holds."""
    import tensorflow as tf
    from tfmodels import quantize

    inp = tf.keras.Input(shape=(16, 16, 32), batch_size=1)
    c = tf.keras.layers.Conv2D(64, 3, padding="same", activation="relu")
    d = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")
    f = tf.keras.layers.Dense(128)
    x = f(tf.keras.layers.Flatten()(d(c(inp))))
    model = tf.keras.Model(inp, x)
    dense = int(np.prod(c.kernel.shape) + np.prod(f.kernel.shape))
    dw = int(np.prod(d.kernel.shape))
    return quantize(model, (16, 16, 32), seed=4), dense, dw


def _num(s: str) -> int:
    return int(s.replace(",", ""))


def test_does_not_fit_message_adds_up(tmp_path):
    data, dense, dw = _too_large_model()
    path = tmp_path / "too_large.tflite"
    path.write_bytes(data)
    geo = _geometry("nor-acim")
    assert (dense, dw) == (3 * 3 * 32 * 64 + 16 * 16 * 64 * 128, 3 * 3 * 64)
    with pytest.raises(FitError) as err:
        convert(path, "nor-acim")
    msg = str(err.value)
    got = re.search(r"its ([\d,]+) weights \(([\d,]+) dense \+ ([\d,]+) depthwise.*\) need ([\d,]+) weight cells, "
                    r"nor-acim has ([\d,]+) \((\d+) arrays x ([\d,]+) rows x ([\d,]+) weight columns\); "
                    r"short by ([\d,]+) weights", msg)
    assert got, msg
    need, d_, w_, cells, has, arrays, rows, wcols, short = (_num(g) for g in got.groups())
    assert (need, d_, w_, cells) == (dense + dw, dense, dw, dense + dw)
    assert (has, arrays, rows, wcols) == (geo["capacity"], geo["arrays"], geo["rows"], geo["wcols"])
    assert short == dense + dw - geo["capacity"] > 0
    assert "\n" not in msg


def test_does_not_fit_by_shape_message_adds_up(tmp_path):
    """Fewer weights than the target holds, but tiles too wide to sit side by side: the message says so,
    and placed + free cells add up to the capacity."""
    import tensorflow as tf
    from tfmodels import quantize

    target = tmp_path / "tiny-cim.toml"
    target.write_text(
        'id = 99\nname = "tiny-cim"\nexact = true\n[macro]\nrows = 64\ncols = 64\nbits_per_cell = 1\n'
        'cells_per_weight = 8\nsigned_encoding = "twos-complement"\ninput_bits_per_cycle = 1\n'
        'rows_active = 64\nadc_bits = 0\narrays_per_macro = 1\nmacros = 2\n')
    capacity = 2 * 64 * (64 // 8)  # two arrays of 64 rows x 8 weight columns
    inp = tf.keras.Input(shape=(64,), batch_size=1)
    heads = [tf.keras.layers.Dense(5, activation="relu")(inp) for _ in range(3)]  # three 64 x 5 tiles
    out = tf.keras.layers.Dense(2)(tf.keras.layers.Concatenate()(heads))  # one 15 x 2 tile
    path = tmp_path / "wide_tiles.tflite"
    path.write_bytes(quantize(tf.keras.Model(inp, out), (64,), seed=5))
    weights = 3 * 64 * 5 + 15 * 2
    assert weights <= capacity
    with pytest.raises(FitError) as err:
        convert(path, str(target))
    msg = str(err.value)
    got = re.search(r"its ([\d,]+) weights would fill \d+% of the ([\d,]+) weight cells .* ([\d,]+) weights placed use "
                    r"([\d,]+) cells, leaving ([\d,]+) free in pieces of at most (\d+)x(\d+), and ([\d,]+) weights in "
                    r"(\d+) tiles", msg)
    assert got, msg
    need, has, placed, used, free, fh, fw, left, n_left = (_num(g) for g in got.groups())
    assert (need, has) == (weights, capacity)
    assert placed + left == weights and used == placed and used + free == capacity
    assert (left, n_left) == (64 * 5, 1) and left <= free  # room enough by count, not by shape
    assert fh * fw < 64 * 5


def _damaged(conv, change) -> bytes:
    img = parse_image(conv.image_bytes)
    change(img)
    return write_image(img)


def test_image_check_refuses_tiles_outside_arrays_or_overlapping():
    conv = convert(KWS_V3, "nor-acim")
    geo = _geometry("nor-acim")
    parse_image(conv.image_bytes)  # the converter's image passes
    dw = next(i for i, m in enumerate(conv.image.matrices) if m.kind == MATRIX_DEPTHWISE)

    def past_last_row(img):  # a depthwise block reaching below the array (its extent is n x K rows)
        tl = img.matrices[dw].tiles[0]
        tl.row0 = geo["rows"] - tl.k_len * tl.n_len + 1

    def past_last_array(img):
        img.matrices[0].tiles[0].macro = geo["arrays"]

    def on_top(img):  # two tiles of different layers at the same place
        a, b = img.matrices[0].tiles[0], img.matrices[dw].tiles[0]
        b.macro, b.array, b.row0, b.col0 = a.macro, a.array, a.row0, a.col0

    for change, words in ((past_last_row, "outside the target's"), (past_last_array, "outside the target's"),
                          (on_top, "overlap")):
        with pytest.raises(ImageError, match=words):
            parse_image(_damaged(conv, change))


def test_analog_positions_one_cell_per_weight():
    """The noise simulator places every weight on its own physical cell and reads it through its tile's
    own column: packing changes where cells sit, not what a column sums."""
    from cimconv.target import load_target
    from cimsdk.sim.analog import AnalogCimModel
    from cimsdk.sim.noise import load_noise

    t = load_target("nor-acim")
    conv = convert(KWS_V3, t)
    model = AnalogCimModel(conv.image, t, load_noise("nor-flash"), trials=1)
    seen: dict[tuple[int, int, int], tuple[int, int, int]] = {}
    for mi, m in enumerate(conv.image.matrices):
        rf, cf = model._positions(m, (1, 1))
        rows = np.rint(rf[0, 0] * (t.rows - 1)).astype(int)
        cols = np.rint(cf[0, 0] * (t.cols - 1)).astype(int) // (t.cells_per_weight * t.sign_factor)
        for tl in m.tiles:
            arr = tl.macro * t.arrays_per_macro + tl.array
            for n in range(tl.n0, tl.n0 + tl.n_len):
                assert (cols[n, tl.k0 : tl.k0 + tl.k_len] == tl.col0 + n - tl.n0).all()
                for k in range(tl.k0, tl.k0 + tl.k_len):
                    key = (arr, int(rows[n, k]), int(cols[n, k]))
                    assert key not in seen, (key, seen[key], (mi, n, k))
                    seen[key] = (mi, n, k)
    assert len(seen) == conv.report["totals"]["weight_bytes"] + conv.report["totals"]["reduction_cells"]


def test_fitting_models_keep_the_widest_blocks():
    """A model that fits with the widest blocks keeps them (fewest array activations per pixel)."""
    conv = convert(SHARED / "models" / "kws_ref_model.tflite", "nor-acim")
    cim_rows = [r for r in conv.report["layers"] if r["runs_on"] == "cim"]
    dws = [m for m, r in zip(conv.image.matrices, cim_rows, strict=True)
           if m.kind == MATRIX_DEPTHWISE and "program_op" not in r]  # the model's, not the global pool's
    assert dws and all(m.rows == 9 and m.cols == 64 for m in dws)  # 64 channels < 1024 // 9 rows
    assert all(len(m.tiles) == 1 for m in dws)
    assert conv.report["totals"]["depthwise_block"] == 64
