"""HTML for the energy figures the demo and `cimsdk profile` pages share: the reconciliation table,
the baselines, and the profile's own page (report.html).

Every number in these tables sits in a cell carrying `data-formula="NAME"`; NAME is defined in
docs/energy-model.md ("Every figure on the report pages"), and a test checks each one is there.
"""

from __future__ import annotations

import base64
from html import escape

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.n{white-space:nowrap}
.ok{color:#16794a;font-weight:600}.bad{color:#b3261e;font-weight:700}
.banner{padding:.7rem 1rem;border-radius:6px;margin:1rem 0}
.banner.ok{background:#e8f5ee}.banner.bad{background:#fde8e7}
code,pre{background:#f6f6f6;border-radius:4px;padding:.1rem .3rem;font-size:.85rem}
pre{padding:.6rem;overflow-x:auto}img{max-width:100%;border:1px solid #eee}.note{color:#666}
table.reconciliation td.n{min-width:5.5rem}
"""

#: The formula names of the reconciliation table's cells, per row source and column.
_FORMULAS = {
    "converter": {"cpu_cycles": "N_cpu_model", "cpu_uj": "E_cpu", "cim_uj": "E_cim", "static_uj": "E_static",
                  "dynamic_uj": "E_dyn", "total_uj": "E", "latency_us": "t"},
    "counters": {"cpu_cycles": "N_cpu_device", "cpu_uj": "E_cpu", "cim_uj": "E_cim", "static_uj": "E_static",
                 "dynamic_uj": "E_dyn", "total_uj": "E", "latency_us": "t"},
    "meter": {"static_uj": "E_meter_static", "dynamic_uj": "E_meter_dyn", "total_uj": "E_meter",
              "latency_us": "t_meter"},
}
_COLUMNS = [("cpu_cycles", "CPU cycles", "{:,.0f}"), ("cpu_uj", "CPU uJ", "{:.3f}"), ("cim_uj", "CiM uJ", "{:.3f}"),
            ("static_uj", "static uJ", "{:.3f}"), ("dynamic_uj", "above idle uJ", "{:.3f}"),
            ("total_uj", "total uJ", "{:.3f}"), ("latency_us", "latency us", "{:,.1f}")]
_TITLES = {"converter": "converter estimate", "counters": "estimate from the device's counters",
           "meter": "meter measurement"}


def fig(value: float | None, fmt: str, formula: str) -> str:
    """One numeric cell that names its formula (docs/energy-model.md)."""
    if value is None:
        return '<td class="n">&ndash;</td>'
    return f'<td class="n" data-formula="{escape(formula)}">{escape(fmt.format(value))}</td>'


def img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def reconciliation_html(rec: dict) -> str:
    """The table (id="reconciliation") and the explained differences under it."""
    head = "".join(f'<th class="n">{escape(title)}</th>' for _, title, _ in _COLUMNS)
    rows = []
    for r in rec["rows"]:
        src = r["source"]
        cells = "".join(fig(r.get(key), fmt, _FORMULAS[src].get(key, "")) if key in _FORMULAS[src]
                        else '<td class="n">&ndash;</td>' for key, _, fmt in _COLUMNS)
        rows.append(f'<tr data-source="{escape(src)}"><th>{escape(_TITLES[src])}</th>{cells}'
                    f'<td class="note">{escape(r["what"])}</td></tr>')
    table = (f'<table class="reconciliation" id="reconciliation"><thead><tr><th>source</th>{head}<th>inputs</th>'
             f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    diffs = []
    for d in rec["differences"]:
        a, b = d["between"]
        pct = "" if d["delta_pct"] is None else f' (<span data-formula="delta_pct">{d["delta_pct"]:+.2f} %</span>)'
        why = "".join(f"<li>{escape(w)}</li>" for w in d["why"])
        diffs.append(f'<li><b>{escape(_TITLES[a])} &minus; {escape(_TITLES[b])}</b>: '
                     f'<span data-formula="delta_uj">{d["delta_uj"]:+.3f} uJ</span>{pct}<ul>{why}</ul></li>')
    missing = [s for s in _TITLES if s not in {r["source"] for r in rec["rows"]}]
    note = ""
    if missing:
        note = ('<p class="note">Not available here: ' + ", ".join(escape(_TITLES[s]) for s in missing)
                + " (see docs/energy-model.md for when each row is shown).</p>")
    return (table + note + (f'<ul class="differences">{"".join(diffs)}</ul>' if diffs else ""))


def baselines_html(items: list[tuple[str, float | None, str, str, str]]) -> str:
    """(label, value, format, formula, note) rows: the CPU-only run and TFLM's footprint."""
    rows = "".join(f"<tr><th>{escape(label)}</th>{fig(value, fmt, formula)}<td class=note>{escape(note)}</td></tr>"
                   for label, value, fmt, formula, note in items)
    return f'<table class="baselines" id="baselines"><tbody>{rows}</tbody></table>'


def profile_page(report: dict, trace_png: bytes | None, layers_png: bytes | None = None) -> str:
    """`cimsdk profile`'s report.html: the meter's figures and the reconciliation table."""
    keys = [("uj_per_inference", "energy per inference", "{:.3f} uJ", "E_meter"),
            ("uj_per_inference_above_idle", "above idle", "{:.3f} uJ", "E_meter_dyn"),
            ("inference_ms", "inference time", "{:.4f} ms", "t_meter"),
            ("avg_mw", "average power", "{:.3f} mW", "P_avg"), ("peak_mw", "peak power", "{:.3f} mW", "P_peak"),
            ("idle_mw", "idle power", "{:.3f} mW", "P_idle")]
    rows = "".join(f"<tr><th>{escape(label)}</th>{fig(report.get(k), fmt, formula)}</tr>"
                   for k, label, fmt, formula in keys if report.get(k) is not None)
    parts = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
             f"<title>cimsdk profile: {escape(str(report.get('meter')))}</title><style>{CSS}</style></head><body>",
             f"<h1>cimsdk profile</h1><p class=sub>{escape(str(report.get('meter')))} meter at "
             f"{report.get('sample_rate_hz', 0):,.0f} S/s, {report.get('windows', 0)} inference windows.</p>",
             f"<table><tbody>{rows}</tbody></table>"]
    rec = report.get("reconciliation")
    if rec:
        parts += ["<h2>Energy per inference, three ways</h2>", reconciliation_html(rec)]
    if layers_png:
        parts += ["<h2>Per-layer energy and latency (converter)</h2>",
                  "<p>The converter's <code>E_layer</code> and <code>t_layer</code> (docs/energy-model.md).</p>",
                  img(layers_png, "per-layer energy and latency")]
    if trace_png:
        parts += ["<h2>Power trace</h2>", img(trace_png, "power trace")]
    parts.append("<p class=note>Every figure: docs/energy-model.md.</p></body></html>")
    return "\n".join(parts)
