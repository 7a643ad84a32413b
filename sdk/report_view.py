"""Human views of a conversion report: the per-layer table printed by `convert` and saved as report.txt."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table


def _shape(s: list[int]) -> str:
    return "x".join(str(d) for d in s) if s else "-"


def layer_table(report: dict) -> Table:
    t = Table(title=f"{report['model']} on {report['target']}", title_justify="left")
    for col, just in [("#", "right"), ("op", "left"), ("input", "left"), ("output", "left"), ("MACs", "right"),
                      ("runs on", "left"), ("tiles", "right"), ("util", "right"), ("weights B", "right"),
                      ("latency us", "right"), ("energy uJ", "right")]:
        t.add_column(col, justify=just)
    for row in report["layers"]:
        t.add_row(str(row["index"]), row["op"], _shape(row["input_shape"]), _shape(row["output_shape"]),
                  f"{row['macs']:,}", row["runs_on"], str(row["tiles"]) if row["tiles"] else "-",
                  f"{row['utilization']:.0%}" if row["runs_on"] == "cim" else "-",
                  f"{row['weight_bytes']:,}" if row["weight_bytes"] else "-", f"{row['latency_us']:.1f}",
                  f"{row['energy_uj']:.4f}")
    tot = report["totals"]
    t.add_section()
    t.add_row("", "total", "", "", f"{tot['macs']:,}", f"{tot['cim_macs'] / max(tot['macs'], 1):.1%} cim",
              "", f"{tot['utilization']:.0%}", f"{tot['weight_bytes']:,}", f"{tot['latency_us']:.1f}",
              f"{tot['energy_uj']:.4f}")
    return t


def summary_lines(report: dict) -> list[str]:
    tot = report["totals"]
    return [
        f"MACs {tot['macs']:,} ({tot['cim_macs']:,} on CiM), weights {tot['weight_bytes']:,} B, "
        f"activation RAM {tot['activation_ram_bytes']:,} B (peak of the planned arena)",
        f"arrays {tot['arrays_used']}/{tot['arrays_available']} on {tot['macros_used']} macro(s), "
        f"utilization {tot['utilization']:.1%}, latency {tot['latency_us']:.1f} us, "
        f"energy {tot['energy_uj']:.3f} uJ/inference (model: docs/energy-model.md)",
        *_packing_line(tot),
        *energy_lines(report),
        *wide_input_lines(report),
    ]


def wide_input_lines(report: dict) -> list[str]:
    """What int16 activations (TFLM's 16x8 mode) cost on a bit-serial macro: more input cycles per product."""
    wide = [row for row in report["layers"] if "wide_input_cost" in row]
    if not wide:
        return []
    c = wide[0]["wide_input_cost"]
    lat = sum(row["wide_input_cost"]["latency_us"] for row in wide)
    uj = sum(row["wide_input_cost"]["energy_uj"] for row in wide)
    return [f"int16 inputs (16x8): {len(wide)} CiM layer(s) take {wide[0]['input_cycles']} input cycles per product "
            f"instead of {c['input_cycles_int8']} for int8: +{lat:.1f} us macro latency, +{uj:.4f} uJ macro energy"]


def _packing_line(tot: dict) -> list[str]:
    """Where the utilization comes from: weights, the cells their tiles occupy, the cells of the arrays used."""
    if "cells_occupied" not in tot:  # a report from before packing
        return []
    used = tot["arrays_used"] * tot["array_weights"]
    reductions = f" + {tot['reduction_cells']:,} of reductions on the macro" if tot.get("reduction_cells") else ""
    line = (f"cells: {tot['weight_bytes']:,} weights{reductions}; their tiles occupy {tot['cells_occupied']:,} of the "
            f"{used:,} cells of the arrays used (target: {tot['capacity_weights']:,})")
    if tot.get("depthwise_block"):
        line += f"; depthwise blocks <= {tot['depthwise_block']} channels"
    return [line]


def energy_lines(report: dict) -> list[str]:
    """Where the energy goes (the terms of docs/energy-model.md), and which board's MCU priced the CPU."""
    e = report["totals"].get("energy")
    if not e:
        return []
    return [f"energy = CPU {e['cpu_uj']:.3f} ({e['cpu_cycles']:,.0f} cycles on {report.get('board', '?')}, "
            f"{e['cpu_us']:.1f} us) + CiM {e['cim_uj']:.3f} ({e['cim_latency_us']:.1f} us) + static "
            f"{e['static_uj']:.3f} uJ"]


def render_text(report: dict, width: int = 140) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, no_color=True, force_terminal=False)
    console.print(layer_table(report))
    for line in summary_lines(report):
        console.print(line)
    return buf.getvalue()
