"""Per-layer energy and latency of a converter report as one chart (matplotlib Agg PNG).

Top: each layer's energy split into its terms (CPU, CiM, static; docs/energy-model.md `E_layer`).
Bottom: each layer's latency split into CPU time and macro time (`t_layer`). The invoke overhead is
not a layer and is left out; the title gives the whole inference's totals.
"""

from __future__ import annotations

import io

COLOURS = {"cpu": "#4c72b0", "cim": "#dd8452", "static": "#a0a0a0"}


def layer_chart_png(report: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    names = [f"#{r['index']} {r['op'].replace('_2D', '').replace('DEPTHWISE_CONV', 'DW_CONV')}"
             f"{' (CiM)' if r['runs_on'] == 'cim' else ''}" for r in layers]
    x = range(len(layers))
    fig, (ax_e, ax_t) = plt.subplots(2, 1, figsize=(max(7.0, 0.42 * len(layers) + 2), 6.4), dpi=110, sharex=True)
    bottom = [0.0] * len(layers)
    for term, label in (("cpu", "CPU"), ("cim", "CiM macro"), ("static", "static (idle + leakage)")):
        vals = [r.get("energy_split_uj", {}).get(term, 0.0) * 1e3 for r in layers]
        ax_e.bar(x, vals, bottom=bottom, color=COLOURS[term], label=label)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax_e.set_ylabel("energy (nJ)")
    ax_e.legend(fontsize=8, frameon=False)
    cpu_us = [r.get("cpu_us", 0.0) for r in layers]
    cim_us = [r.get("cim_latency_us", 0.0) for r in layers]
    ax_t.bar(x, cpu_us, color=COLOURS["cpu"], label="CPU")
    ax_t.bar(x, cim_us, bottom=cpu_us, color=COLOURS["cim"], label="CiM macro")
    ax_t.set_ylabel("latency (us)")
    ax_t.legend(fontsize=8, frameon=False)
    ax_t.set_xticks(list(x))
    ax_t.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    tot = report["totals"]
    fig.suptitle(f"{report['model']} on {report['target']} + {report.get('board', '?')}: "
                 f"{tot['energy_uj']:.3f} uJ, {tot['latency_us']:.1f} us per inference (converter)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
