"""The converter pipeline, one stage per module: reader -> passes -> lowering -> mapper -> planner -> image."""

from __future__ import annotations

import hashlib
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimconv import __version__, energy
from cimconv.errors import ModelError
from cimconv.image import (
    STORE_ARENA,
    STORE_CONST,
    TENSOR_STATE,
    Image,
    IORec,
    MatrixRec,
    OpRec,
    TensorRec,
    write_image,
)
from cimconv.ir import Graph
from cimconv.lowering import Lowered, lower_ops
from cimconv.mapper import Mapping, tile_extent
from cimconv.passes import prepare
from cimconv.planner import Plan, plan
from cimconv.reader import read_model
from cimconv.reductions import place_program, positions
from cimconv.target import Target, load_target

log = logging.getLogger(__name__)


@dataclass
class Conversion:
    graph: Graph
    target: Target
    lowered: list[Lowered]
    mapping: Mapping
    plan: Plan
    image: Image
    image_bytes: bytes
    report: dict


def refuse_wide_inputs_on_rtl(graph: Graph, lowered: list[Lowered], tgt: Target) -> None:
    """The RTL coprocessor (FPGA targets, `[rtl]`) takes int8 activations only: no 16x8 layers there."""
    if not tgt.rtl:
        return
    for low in lowered:
        if low.cim and graph.tensors[low.inputs[0]].dtype == "int16":
            raise ModelError(f"{low.opcode} at operator {low.source_index}: int16 activations (16x8) do not run on "
                             f"the RTL coprocessor of {tgt.name}; convert for sram-dcim or nor-acim")


def convert(model: str | Path, target: str | Target = "nor-acim", board: str | energy.Mcu = energy.DEFAULT_BOARD,
            *, reductions: bool = True) -> Conversion:
    """Convert an int8 TFLite model for a CiM target: read, fold, lower, place on macros, plan the arena,
    write the weight image, and report (its CPU part priced with `board`'s MCU).

    model: a .tflite file. target: a target name (converter/targets: "nor-acim", "sram-dcim", ...), a
    target .toml path, or a loaded `Target`. board: a board name under boards/ (default the emulated
    board) or an `Mcu`. reductions: run AVERAGE_POOL_2D / MEAN window sums on the macro where they place
    (`cimconv.reductions`); False keeps them on the CPU (the before/after benchmark). Returns a
    `Conversion` whose `image_bytes` is the `.cimg` the
    device and the golden model run and whose `report` is report.json. Raises `ModelError` for a model it
    cannot read or does not support and `FitError` when it does not fit the target (both `UserError`s:
    one line saying what to do). Writes nothing; `cimsdk.api.convert` wraps this with `save()`.
    """
    model = Path(model)
    mcu = board if isinstance(board, energy.Mcu) else energy.board_mcu(board)
    graph = read_model(model)
    log.info("read %s: %d operators, %d tensors", model.name, len(graph.operators), len(graph.tensors))
    n_model = len(graph.tensors)  # tensors the lowering adds (SVDF's feature vectors) come after these
    tgt = target if isinstance(target, Target) else load_target(target)
    log.info("target %s: %d macros x %d arrays of %d x %d", tgt.name, tgt.macros, tgt.arrays_per_macro, tgt.rows,
             tgt.weight_cols)
    prep = prepare(graph)
    log.info("folded to %d operators, %d inputs, %d outputs", len(prep.ops), len(prep.inputs), len(prep.outputs))
    lowered = [low for op in prep.ops for low in lower_ops(graph, op)]
    refuse_wide_inputs_on_rtl(graph, lowered, tgt)
    for low in lowered:
        log.debug("lowered op %d %s -> %s", low.source_index, low.opcode, "CiM" if low.cim else "CPU")
    lowered, mapping = place_program(graph, lowered, tgt, mcu, enabled=reductions)
    mi = len(mapping.tiles)
    log.info("placed %d matrices on %d arrays", mi, len(set().union(*mapping.per_matrix_arrays.values()))
             if mapping.per_matrix_arrays else 0)
    in_ts, out_ts = [e.tensor for e in prep.inputs], [e.tensor for e in prep.outputs]
    arena = plan(graph, lowered, in_ts, out_ts)
    log.info("planned the arena: %d bytes", arena.arena_size)

    # Tensor table: only what the program touches, renumbered densely.
    used: list[int] = []
    for low in lowered:
        for t in low.inputs + low.outputs:
            if t not in used:
                used.append(t)
    for t, src in zip(in_ts, graph.inputs, strict=True):
        if t not in used:
            raise ModelError(f"{graph.name}: the input {graph.tensors[src].label} is not read by any supported op")
    remap = {t: i for i, t in enumerate(used)}
    const = bytearray()
    tensors = []
    for t in used:
        ten = graph.tensors[t]
        zp = ten.quant.zp if ten.quant else 0
        scale = ten.quant.s if ten.quant else 0.0
        if ten.data is not None:
            off = len(const)
            const += np.ascontiguousarray(ten.data).tobytes()
            const += b"\0" * (-len(const) % 8)
            tensors.append(TensorRec(ten.dtype, ten.shape, STORE_CONST, off, ten.nbytes, zp, scale))
        else:
            tensors.append(TensorRec(ten.dtype, ten.shape, STORE_ARENA, arena.offsets[t], ten.nbytes, zp, scale,
                                     TENSOR_STATE if ten.variable else 0))
    ops = [OpRec(low.opcode, [remap[t] for t in low.inputs], [remap[t] for t in low.outputs], dict(low.params),
                 low.cim, low.source_index) for low in lowered]
    matrices = []
    for low in lowered:
        if low.cim:
            m = low.matrix
            matrices.append(MatrixRec(m.kind, m.rows, m.cols, m.weights, m.bias, m.mult, m.shift,
                                      mapping.tiles[low.params["matrix"]]))
    io = [IORec(direction, remap[e.tensor], e.dtype, e.scale, e.zero_point)
          for direction, edges in ((0, prep.inputs), (1, prep.outputs)) for e in edges]
    src_hash = hashlib.sha256(model.read_bytes()).hexdigest()
    meta = {"model": graph.name, "target": tgt.name, "converter": f"cimconv {__version__}",
            "model_sha256": src_hash, "source_tensors": [t if t < n_model else -1 for t in used],
            "io_names": {"inputs": [graph.tensors[t].name for t in graph.inputs],
                         "outputs": [graph.tensors[t].name for t in graph.outputs]},
            "arrays": {"rows": tgt.rows, "weight_cols": tgt.weight_cols, "arrays_per_macro": tgt.arrays_per_macro,
                       "macros": tgt.macros}}
    img = Image(tgt.name, tgt.id, arena.arena_size, tensors, ops, matrices, io, bytes(const), meta)
    data = write_image(img)
    img.sha256 = hashlib.sha256(data).hexdigest()
    log.info("wrote the image: %d bytes, sha256 %s", len(data), img.sha256[:16])
    report = build_report(graph, tgt, lowered, mapping, arena, data, mcu)
    return Conversion(graph, tgt, lowered, mapping, arena, img, data, report)


def cpu_work(graph: Graph, low: Lowered) -> tuple[int, int]:
    """(multiply-accumulates, time steps) of a CPU op whose lowering counts them (`cpu_work` in its module:
    the recurrent ops' matrix-vector products); (0, 1) for the others."""
    if low.cim:
        return 0, 1
    try:
        module = importlib.import_module(f"cimconv.lowering.{low.opcode.lower()}")
    except ImportError:
        return 0, 1
    count = getattr(module, "cpu_work", None)
    return count(graph, low) if count is not None else (0, 1)


def _per_step_of_parts(layers: list[dict]) -> None:
    """The other program ops a recurrent op lowered into (the LSTM's input products on the macro) get its
    cost per time step too: their MACs, latency and energy over its steps."""
    steps = {row["source_op"]: row["per_step"]["steps"] for row in layers if "per_step" in row}
    for row in layers:
        n = steps.get(row["source_op"])
        if n and "per_step" not in row:
            row["per_step"] = {"steps": n, "macs": row["macs"] // n, "cpu_cycles": row["cpu_cycles"] / n,
                               "latency_us": row["latency_us"] / n, "energy_uj": row["energy_uj"] / n}
            if "cim_latency_us" in row:
                row["per_step"]["cim_latency_us"] = row["cim_latency_us"] / n


def build_report(graph: Graph, t: Target, lowered: list[Lowered], mapping: Mapping, arena: Plan,
                 data: bytes, mcu: energy.Mcu | None = None) -> dict:
    mcu = mcu or energy.board_mcu()
    layers = []
    tot = {"macs": 0, "cim_macs": 0, "weight_bytes": 0, "reduction_cells": 0}
    counts_total = dict.fromkeys(energy.COUNT_KEYS, 0)
    cpu_cycles_total = energy.invoke_cycles(mcu)
    cim_latency_total = 0.0
    for i, low in enumerate(lowered):
        x = graph.tensors[low.inputs[0]] if low.inputs else None
        y = graph.tensors[low.outputs[0]]
        row = {"index": i, "source_op": low.source_index, "op": low.label,
               "input_shape": list(x.shape) if x is not None else [], "output_shape": list(y.shape),
               "runs_on": "cim" if low.cim else "cpu"}
        if low.label != low.opcode:
            row["program_op"] = low.opcode  # runs as this program op (a reduction as a depthwise CiM pass)
        cpu_macs, steps = cpu_work(graph, low)
        cyc_cpu = energy.cpu_op_cycles(mcu, low.opcode, low.cim, x.size if x is not None else 0, y.size, y.nbytes,
                                       cpu_macs)
        cpu_cycles_total += cyc_cpu
        counts: dict[str, int] = {}
        cim_lat = 0.0
        if low.cim:
            m = low.matrix
            mi = low.params["matrix"]
            tiles = mapping.tiles[mi]
            pos = positions(graph, low)
            bits = energy.input_bits(x.dtype)
            counts = energy.cim_counts(m.kind, tiles, pos, t, bits)
            cim_lat = energy.cim_cycles(m.kind, tiles, pos, t, bits) / energy.macro_clock_hz(t) * 1e6
            row["cim_latency_us"] = cim_lat
            row["input_bits"] = bits
            row["input_cycles"] = t.input_cycles_for(bits)
            if bits != 8:  # what the wider inputs cost against the same layer on int8 inputs
                lat8 = energy.cim_cycles(m.kind, tiles, pos, t) / energy.macro_clock_hz(t) * 1e6
                pj8 = energy.cim_energy_pj(energy.cim_counts(m.kind, tiles, pos, t), t)
                row["wide_input_cost"] = {"input_cycles_int8": t.input_cycles, "latency_us": cim_lat - lat8,
                                          "energy_uj": (energy.cim_energy_pj(counts, t) - pj8) / 1e6}
            macs = pos * m.rows * m.cols
            arrays = sorted(mapping.per_matrix_arrays.get(mi, set()))
            cells = sum(h * w for h, w in (tile_extent(tl, m.kind) for tl in tiles))
            # the share of the layer's rectangles that holds weights (1 for dense, 1/n for n-channel
            # depthwise blocks); the arrays it sits on may hold other layers too
            row.update({"macs": macs, "matrix": [m.rows, m.cols], "tiles": len(tiles), "arrays": arrays,
                        "cells": cells, "utilization": m.rows * m.cols / cells if cells else 0.0,
                        "weight_bytes": m.rows * m.cols, "counts": counts})
            for k in counts_total:
                counts_total[k] += counts[k]
            tot["cim_macs"] += macs
            if low.label == low.opcode:
                tot["weight_bytes"] += m.rows * m.cols
            else:  # a reduction's constant column: cells on the macro, not a weight of the model
                tot["reduction_cells"] += m.rows * m.cols
        else:
            macs = cpu_macs
            row.update({"macs": macs, "tiles": 0, "cells": 0, "utilization": 0.0, "weight_bytes": 0})
        est = energy.price(cyc_cpu, counts, cim_lat, mcu, t)
        if steps > 1:  # a recurrent op: its cost per time step
            row["per_step"] = {"steps": steps, "macs": macs // steps, "cpu_cycles": cyc_cpu / steps,
                               "latency_us": est.latency_us / steps, "energy_uj": est.total_uj / steps}
        cim_latency_total += cim_lat
        row["cpu_cycles"] = cyc_cpu
        row["latency_us"] = est.latency_us
        row["energy_uj"] = est.total_uj
        row["energy_split_uj"] = {"cpu": est.cpu_uj, "cim": est.cim_uj, "static": est.static_uj}
        row["cpu_us"] = est.cpu_us
        tot["macs"] += macs
        layers.append(row)
    _per_step_of_parts(layers)
    whole = energy.price(cpu_cycles_total, counts_total, cim_latency_total, mcu, t)
    return {
        "model": graph.name,
        "target": t.name,
        "target_description": t.description,
        "board": mcu.board,
        "image_bytes": len(data),
        "layers": layers,
        "totals": {
            "macs": tot["macs"],
            "cim_macs": tot["cim_macs"],
            "cpu_macs": tot["macs"] - tot["cim_macs"],
            "weight_bytes": tot["weight_bytes"],
            "reduction_cells": tot["reduction_cells"],
            "activation_ram_bytes": arena.arena_size,
            "macros_used": len({(tl.macro) for ts in mapping.tiles.values() for tl in ts}),
            "arrays_used": mapping.arrays_used,
            "arrays_available": t.arrays,
            "array_weights": mapping.array_weights,
            "capacity_weights": t.weight_capacity,
            "cells_occupied": mapping.cells_occupied,
            "utilization": mapping.utilization,
            "depthwise_block": mapping.depthwise_block,
            "latency_us": whole.latency_us,
            "energy_uj": whole.total_uj,
            "energy": whole.as_dict(),
            "cpu_cycles": cpu_cycles_total,
            "counts": counts_total,
        },
    }
