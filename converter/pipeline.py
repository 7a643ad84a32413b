"""The converter pipeline, one stage per module: reader -> passes -> lowering -> mapper -> planner -> image."""

from __future__ import annotations

import hashlib
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
from cimconv.mapper import Mapping, place
from cimconv.passes import prepare
from cimconv.planner import Plan, plan
from cimconv.reader import read_model
from cimconv.target import Target, load_target


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


def positions(graph: Graph, low: Lowered) -> int:
    """Matrix-vector products per inference of a CiM op."""
    y = graph.tensors[low.outputs[0]]
    if low.opcode == "FULLY_CONNECTED":
        return graph.tensors[low.inputs[0]].size // low.matrix.rows
    return int(np.prod(y.shape[1:3]))


def convert(model: str | Path, target: str | Target = "nor-acim") -> Conversion:
    model = Path(model)
    graph = read_model(model)
    n_model = len(graph.tensors)  # tensors the lowering adds (SVDF's feature vectors) come after these
    tgt = target if isinstance(target, Target) else load_target(target)
    prep = prepare(graph)
    lowered = [low for op in prep.ops for low in lower_ops(graph, op)]
    mi = 0
    for low in lowered:
        if low.cim:
            low.params["matrix"] = mi
            mi += 1
    mapping = place(lowered, tgt)
    in_t, out_t = prep.inputs[0].tensor, prep.outputs[0].tensor
    arena = plan(graph, lowered, in_t, out_t)

    # Tensor table: only what the program touches, renumbered densely.
    used: list[int] = []
    for low in lowered:
        for t in low.inputs + low.outputs:
            if t not in used:
                used.append(t)
    if in_t not in used:
        raise ModelError(f"{graph.name}: the input tensor is not read by any supported op")
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
    io = [IORec(0, remap[in_t], prep.inputs[0].dtype, prep.inputs[0].scale, prep.inputs[0].zero_point),
          IORec(1, remap[out_t], prep.outputs[0].dtype, prep.outputs[0].scale, prep.outputs[0].zero_point)]
    src_hash = hashlib.sha256(model.read_bytes()).hexdigest()
    meta = {"model": graph.name, "target": tgt.name, "converter": f"cimconv {__version__}",
            "model_sha256": src_hash, "source_tensors": [t if t < n_model else -1 for t in used]}
    img = Image(tgt.name, tgt.id, arena.arena_size, tensors, ops, matrices, io, bytes(const), meta)
    data = write_image(img)
    img.sha256 = hashlib.sha256(data).hexdigest()
    report = build_report(graph, tgt, lowered, mapping, arena, data)
    return Conversion(graph, tgt, lowered, mapping, arena, img, data, report)


def build_report(graph: Graph, t: Target, lowered: list[Lowered], mapping: Mapping, arena: Plan,
                 data: bytes) -> dict:
    layers = []
    tot = {"macs": 0, "cim_macs": 0, "weight_bytes": 0, "latency_us": 0.0, "energy_pj": 0.0}
    counts_total = dict.fromkeys(energy.COUNT_KEYS, 0)
    cpu_clock = t.timing.get("cpu_clock_mhz", 100.0)
    cpu_cycles_total = energy.invoke_cycles()
    tot["latency_us"] += cpu_cycles_total / cpu_clock
    tot["energy_pj"] += energy.cpu_energy_pj(cpu_cycles_total, t)
    for i, low in enumerate(lowered):
        x = graph.tensors[low.inputs[0]] if low.inputs else None
        y = graph.tensors[low.outputs[0]]
        row = {"index": i, "source_op": low.source_index, "op": low.opcode,
               "input_shape": list(x.shape) if x is not None else [], "output_shape": list(y.shape),
               "runs_on": "cim" if low.cim else "cpu"}
        cyc_cpu = energy.cpu_op_cycles(low.opcode, low.cim, x.size if x is not None else 0, y.size, y.nbytes)
        cpu_cycles_total += cyc_cpu
        lat = cyc_cpu / cpu_clock
        e = energy.cpu_energy_pj(cyc_cpu, t)
        if low.cim:
            m = low.matrix
            mi = low.params["matrix"]
            tiles = mapping.tiles[mi]
            pos = positions(graph, low)
            counts = energy.cim_counts(m.kind, tiles, pos, t)
            cyc = energy.cim_cycles(m.kind, tiles, pos, t)
            row["cim_latency_us"] = cyc / t.timing.get("clock_mhz", 100.0)
            lat += row["cim_latency_us"]
            e += energy.cim_energy_pj(counts, t)
            macs = pos * m.rows * m.cols
            arrays = sorted(mapping.per_matrix_arrays.get(mi, set()))
            occupied = sum(tl.k_len * tl.n_len for tl in tiles)
            row.update({"macs": macs, "matrix": [m.rows, m.cols], "tiles": len(tiles), "arrays": arrays,
                        "utilization": occupied / (len(arrays) * t.rows * t.weight_cols) if arrays else 0.0,
                        "weight_bytes": m.rows * m.cols, "counts": counts})
            for k in counts_total:
                counts_total[k] += counts[k]
            tot["cim_macs"] += macs
            tot["weight_bytes"] += m.rows * m.cols
        else:
            macs = 0
            row.update({"macs": 0, "tiles": 0, "utilization": 0.0, "weight_bytes": 0})
        row["cpu_cycles"] = cyc_cpu
        row["latency_us"] = lat
        row["energy_uj"] = e / 1e6
        tot["macs"] += macs
        tot["latency_us"] += lat
        tot["energy_pj"] += e
        layers.append(row)
    leak = energy.leakage_pj(tot["latency_us"], t)
    return {
        "model": graph.name,
        "target": t.name,
        "target_description": t.description,
        "image_bytes": len(data),
        "layers": layers,
        "totals": {
            "macs": tot["macs"],
            "cim_macs": tot["cim_macs"],
            "cpu_macs": tot["macs"] - tot["cim_macs"],
            "weight_bytes": tot["weight_bytes"],
            "activation_ram_bytes": arena.arena_size,
            "macros_used": len({(tl.macro) for ts in mapping.tiles.values() for tl in ts}),
            "arrays_used": mapping.arrays_used,
            "arrays_available": t.arrays,
            "utilization": mapping.utilization,
            "latency_us": tot["latency_us"],
            "energy_uj": (tot["energy_pj"] + leak) / 1e6,
            "leakage_uj": leak / 1e6,
            "cpu_cycles": cpu_cycles_total,
            "counts": counts_total,
        },
    }
