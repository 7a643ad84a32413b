"""`cimsdk inspect IMAGE`: what a weight image holds (header, sections, program, matrices)."""

from __future__ import annotations

import json
from pathlib import Path

import click


def describe(path: Path) -> dict:
    from cimconv.image import SECTION_NAMES, parse_image
    from cimsdk.imagefile import read_weight_image_bytes

    path, data = read_weight_image_bytes(path)
    img = parse_image(data, where=str(path))
    import struct

    nsec = struct.unpack_from("<I", data, 24)[0]
    sections = []
    for i in range(nsec):
        sid, off, size, crc = struct.unpack_from("<IIII", data, 64 + 16 * i)
        sections.append({"id": sid, "name": SECTION_NAMES.get(sid, "?"), "offset": off, "size": size,
                         "crc32": f"{crc:08x}"})
    return {
        "file": str(path), "size": len(data), "format_version": "1.0", "target": img.target,
        "target_id": img.target_id, "arena_size": img.arena_size, "sha256": img.sha256, "meta": img.meta,
        "sections": sections,
        "tensors": [{"dtype": t.dtype, "shape": list(t.shape), "storage": "const" if t.storage else "arena",
                     "offset": t.offset, "bytes": t.nbytes, "zero_point": t.zero_point, "scale": t.scale}
                    for t in img.tensors],
        "program": [{"op": op.opcode, "cim": op.cim, "inputs": op.inputs, "outputs": op.outputs,
                     "params": op.params} for op in img.ops],
        "matrices": [{"kind": "depthwise" if m.kind else "dense", "rows": m.rows, "cols": m.cols,
                      "tiles": [vars(t) for t in m.tiles]} for m in img.matrices],
        "io": [{**vars(r), "name": (img.io_names(0) + img.io_names(1))[i], "shape": list(img.tensors[r.tensor].shape)}
               for i, r in enumerate(img.inputs + img.outputs)],
    }


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def command(image: Path, as_json: bool) -> None:
    """Print the header, sections, program and matrices of a weight IMAGE.

    \b
    Examples:
      cimsdk inspect model/                              # the folder convert wrote
      cimsdk inspect model/model.cimg --json
    """
    d = describe(image)
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    from cimsdk.console import console

    c = console()
    # Names come from the user's files (a model named `m[/]x`): never read them as markup.
    c.print(f"[bold]{escape(d['file'])}[/]: cimg v{d['format_version']}, {d['size']:,} B, "
            f"target {escape(str(d['target']))} (id {d['target_id']}), arena {d['arena_size']:,} B")
    c.print(f"model {escape(str(d['meta'].get('model')))} ({escape(str(d['meta'].get('converter')))}), "
            f"sha256 {d['sha256']}")
    st = Table(title="sections")
    for col in ("id", "name", "offset", "size", "crc32"):
        st.add_column(col)
    for s in d["sections"]:
        st.add_row(str(s["id"]), s["name"], str(s["offset"]), f"{s['size']:,}", s["crc32"])
    c.print(st)
    it = Table(title="inputs and outputs (docs/edges.md)")
    for col in ("", "name", "shape", "edge dtype", "scale", "zero point", "tensor"):
        it.add_column(col)
    for r in d["io"]:
        it.add_row("in" if r["direction"] == 0 else "out", escape(r["name"]), str(r["shape"]), r["edge_dtype"],
                   f"{r['scale']:.6g}", str(r["zero_point"]), str(r["tensor"]))
    c.print(it)
    pt = Table(title="layer program")
    for col in ("#", "op", "runs on", "in", "out", "params"):
        pt.add_column(col)
    for i, op in enumerate(d["program"]):
        pt.add_row(str(i), op["op"], "cim" if op["cim"] else "cpu", str(op["inputs"]), str(op["outputs"]),
                   " ".join(f"{k}={v}" for k, v in op["params"].items()))
    c.print(pt)
    for i, m in enumerate(d["matrices"]):
        c.print(f"matrix {i}: {m['kind']} {m['rows']}x{m['cols']}, {len(m['tiles'])} tile(s) on arrays "
                f"{sorted({(t['macro'], t['array']) for t in m['tiles']})}")
