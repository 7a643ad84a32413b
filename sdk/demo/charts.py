"""The macro utilization chart: where each layer's weights sit on the CiM arrays, and how full they are.

Left: the (up to three) fullest arrays, drawn to scale (word lines down, int8 weight columns across),
one colour per layer; a depthwise layer is block-diagonal (each channel uses its own column and
k rows), so it is drawn cell-exact rather than as its bounding box. Right: the share of each macro's
weight cells in use, unused macros included, so a newcomer sees the headroom at a glance.
"""

from __future__ import annotations

import io

from cimconv.image import MATRIX_DEPTHWISE


def utilization_png(conv, layer_names: dict[int, str] | None = None) -> bytes:
    """PNG bytes of the chart for a `cimconv.pipeline.Conversion`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    t = conv.target
    img = conv.image
    arrays: dict[tuple[int, int], list] = {}
    for mi, m in enumerate(img.matrices):
        for tile in m.tiles:
            arrays.setdefault((tile.macro, tile.array), []).append((mi, m.kind, tile))
    fill = {key: sum(tl.k_len * tl.n_len for _, _, tl in tiles) for key, tiles in arrays.items()}
    # At most 3 arrays drawn (the fullest); the bars on the right cover every macro.
    used = sorted(sorted(arrays, key=lambda k: -fill[k])[:3])
    n_panels = max(1, len(used))
    cmap = plt.get_cmap("tab20")
    colour = {mi: cmap(mi % 20) for mi in range(len(img.matrices))}
    names = layer_names or {}

    fig = plt.figure(figsize=(3.2 * n_panels + 4.2, 5.2), dpi=110)
    grid = fig.add_gridspec(1, n_panels + 1, width_ratios=[1.0] * n_panels + [1.25], wspace=0.35)
    for p, key in enumerate(used):
        ax = fig.add_subplot(grid[0, p])
        patches, colours = [], []
        cells = 0
        for mi, kind, tile in arrays[key]:
            if kind == MATRIX_DEPTHWISE:
                for j in range(tile.n_len):
                    patches.append(Rectangle((tile.col0 + j, tile.row0 + j * tile.k_len), 1, tile.k_len))
                    colours.append(colour[mi])
            else:
                patches.append(Rectangle((tile.col0, tile.row0), tile.n_len, tile.k_len))
                colours.append(colour[mi])
            cells += tile.k_len * tile.n_len
        ax.add_collection(PatchCollection(patches, facecolors=colours, edgecolors=colours, linewidths=0.8))
        ax.set_xlim(0, t.weight_cols)
        ax.set_ylim(t.rows, 0)
        ax.set_facecolor("#f3f3f3")
        ax.set_xlabel("weight column")
        if p == 0:
            ax.set_ylabel("word line (row)")
        share = cells / (t.rows * t.weight_cols)
        ax.set_title(f"macro {key[0]} array {key[1]}\n{cells:,} weights, {share:.1%} full", fontsize=9)

    ax = fig.add_subplot(grid[0, n_panels])
    per_macro = [0] * t.macros
    for m in img.matrices:
        for tile in m.tiles:
            per_macro[tile.macro] += tile.k_len * tile.n_len
    cap = t.arrays_per_macro * t.rows * t.weight_cols
    shares = [100.0 * c / cap for c in per_macro]
    bars = ax.bar(range(t.macros), shares, color="#4c72b0")
    for b, s in zip(bars, shares, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, s + 1, f"{s:.1f}%", ha="center", fontsize=8)
    ax.set_xticks(range(t.macros))
    ax.set_xlabel("macro")
    ax.set_ylabel("weight cells in use (%)")
    ax.set_ylim(0, 105)
    total = sum(per_macro)
    ax.set_title(f"{t.name}: {total:,} of {t.weight_capacity:,} weights\n"
                 f"({100.0 * total / t.weight_capacity:.1f}% of all macros)", fontsize=9)

    handles = [Patch(color=colour[mi], label=names.get(mi, f"matrix {mi}")) for mi in range(len(img.matrices))]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, max(1, len(handles))), fontsize=7, frameon=False)
    fig.suptitle(f"{conv.report['model']} on {t.name}: macro utilization", fontsize=11)
    fig.subplots_adjust(bottom=0.12 + 0.035 * ((len(handles) + 3) // 4), top=0.84)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
