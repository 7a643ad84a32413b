"""The demo's HTML report: one self-contained `index.html` (CSS inline, charts embedded as PNG data
and also written next to it), plus `results.json` with the same figures for scripts.

Plain string building with `html.escape`, no template engine: the report must open from a fresh
clone with nothing else installed and be readable as a file attachment.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from html import escape
from pathlib import Path

from cimsdk.power.report_page import CSS as _CSS
from cimsdk.power.report_page import baselines_html, fig, reconciliation_html


def _td(value, numeric: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("n" if numeric else "", cls) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{escape(str(value))}</td>"


def _table(headers: list[tuple[str, bool]], rows: list[str]) -> str:
    head = "".join(f'<th class="n">{escape(h)}</th>' if num else f"<th>{escape(h)}</th>" for h, num in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _shape(s: list[int]) -> str:
    return "x".join(str(d) for d in s) if s else "-"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _results_table(result) -> str:
    rows = []
    for r in result.recordings:
        verdict = '<td class="ok">bit-exact</td>' if r.golden_equal else '<td class="bad">differs</td>'
        macs = f"{r.macs:,}" if r.macs is not None else "on CPU"
        split = r.energy_split_uj
        rows.append("<tr>" + _td(r.file) + f"<td><b>{escape(r.label)}</b></td>" + _td(f"{r.score:.3f}", True)
                    + fig(r.cpu_instructions, "{:,}", "N_cpu_device")
                    + _td(f"{r.cim_ops:,}", True) + _td(macs, True) + fig(r.energy_uj, "{:.3f}", "E")
                    + fig(split["cpu"], "{:.3f}", "E_cpu") + fig(split["cim"], "{:.3f}", "E_cim")
                    + fig(split["static"], "{:.3f}", "E_static") + fig(r.time_us, "{:,.1f}", "t")
                    + verdict + _td(r.tflm_label or "n/a") + "</tr>")
    return _table([("recording", False), ("label (device)", False), ("score", True), ("CPU cycles", True),
                   ("CiM ops", True), ("MACs (coprocessor)", True), ("uJ", True), ("CPU uJ", True),
                   ("CiM uJ", True), ("static uJ", True), ("latency us", True), ("device vs golden", False),
                   ("TFLM", False)], rows)


def _layer_table(report: dict) -> str:
    rows = []
    for row in report["layers"]:
        on = row["runs_on"]
        rows.append("<tr>" + _td(row["index"], True) + _td(row["op"]) + _td(_shape(row["input_shape"]))
                    + _td(_shape(row["output_shape"])) + _td(f"{row['macs']:,}", True) + _td(on)
                    + _td(row["tiles"] or "-", True)
                    + _td(f"{row['utilization']:.0%}" if on == "cim" else "-", True)
                    + _td(f"{row['weight_bytes']:,}" if row["weight_bytes"] else "-", True)
                    + fig(row["latency_us"], "{:.1f}", "t_layer") + fig(row["energy_uj"], "{:.4f}", "E_layer") + "</tr>")
    tot = report["totals"]
    rows.append("<tr><td></td><td><b>total</b></td><td></td><td></td>" + _td(f"{tot['macs']:,}", True)
                + _td(f"{tot['cim_macs'] / max(tot['macs'], 1):.1%} on CiM") + "<td></td>"
                + _td(f"{tot['utilization']:.0%}", True) + _td(f"{tot['weight_bytes']:,}", True)
                + fig(tot["latency_us"], "{:.1f}", "t") + fig(tot["energy_uj"], "{:.4f}", "E") + "</tr>")
    return _table([("#", True), ("op", False), ("input", False), ("output", False), ("MACs", True),
                   ("runs on", False), ("tiles", True), ("util", True), ("weights B", True),
                   ("latency us", True), ("energy uJ", True)], rows)


def _kv(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th>{_td(v)}</tr>" for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def _baselines(ex: dict) -> str:
    """The CPU-only run, TFLM's footprint and, with labelled data, the accuracy line."""
    items: list[tuple[str, float | None, str, str, str]] = []
    rec = {r["source"]: r for r in ex["reconciliation"]["rows"]}
    cim = rec.get("counters") or rec.get("converter")
    soft = ex.get("baseline_soft")
    if soft:
        e = soft["energy"]
        items += [("CPU alone (soft backend): energy", e["total_uj"], "{:.3f} uJ", "E_soft",
                   f"{soft['cycles']:,} cycles, every MAC on the RISC-V core, same board and model"
                   + ("" if soft["golden_equal"] else "; OUTPUT DIFFERS from the golden model")),
                  ("CPU alone (soft backend): latency", e["latency_us"] / 1e3, "{:.2f} ms", "t_soft", "")]
        if cim:
            items.append(("CiM saves", e["total_uj"] / cim["total_uj"], "{:.1f} x", "saving",
                          f"E_soft / E ({cim['source']})"))
    elif ex["backend"] == "mailbox":
        items.append(("CPU alone (soft backend)", None, "", "", "not run (--no-baseline)"))
    tflm = ex.get("tflm") or {}
    items.append(("TFLM arena", tflm.get("arena_bytes"), "{:,} B", "tflm_arena",
                  "TFLM's recording allocator on this model (host build); cimsdk's planned arena: "
                  f"{ex['report']['totals']['activation_ram_bytes']:,} B"))
    items.append(("TFLM code size", tflm.get("code_bytes"), "{:,} B", "tflm_code",
                  "TFLM reference kernels + interpreter, rv32imac (benchmarks/bench_runtime_rv32.py); "
                  f"cimsdk firmware.bin {ex['firmware_bin_bytes']:,} B" if tflm.get("code_bytes")
                  else "measured for kws_ref_model only"))
    acc = ex.get("accuracy")
    if acc:
        items += [("top-1, int8 (TFLM)", 100 * acc["int8_top1"], "{:.2f} %", "top1",
                   f"{acc['samples']} labelled inputs from {acc['data']}"),
                  ("top-1, CiM image (= device)", 100 * acc["cim_top1"], "{:.2f} %", "top1", "")]
    else:
        items.append(("accuracy", None, "", "", "give --data LABELLED_FOLDER for int8 and CiM top-1"))
    return baselines_html(items)


def render_html(result, charts: dict[str, bytes], layer_png: bytes | None = None) -> str:
    """The report page; `charts` maps a PNG file name to its bytes (embedded and written alongside)."""
    from cimsdk import __version__

    ex = result.extra
    report = ex["report"]
    tot = report["totals"]
    n = len(result.recordings)
    exact = sum(r.golden_equal for r in result.recordings)
    banner_cls = "ok" if result.ok else "bad"
    banner = (f"The device's output equals the host golden model on {exact}/{n} recordings (bit-exact)."
              if result.ok else
              f"The device differs from the host golden model on {n - exact}/{n} recordings: see below.")
    info = result.info
    steps = " &rarr; ".join(f"{escape(k)} {v:.1f} s" for k, v in result.steps.items() if k != "total")
    em = ex["energy_model"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>cimsdk demo: {escape(report['model'])} on {escape(ex['board'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>cimsdk demo: keyword spotting on {escape(ex['board'])}</h1>",
        f"<p class=sub>{escape(report['model'])} converted for <b>{escape(ex['target'])}</b> "
        f"({escape(report.get('target_description', ''))}), run on the emulated board with the "
        f"<b>{escape(ex['backend'])}</b> CiM backend. cimsdk {escape(__version__)}, "
        f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}; total {result.steps.get('total', 0):.1f} s "
        f"({steps}).</p>",
        f'<div class="banner {banner_cls}">{escape(banner)}</div>',
        "<h2>Recordings classified on the device</h2>",
        "<p>Each recording goes through the MFCC front end on the host (49 frames x 10 coefficients, "
        "quantized to int8); the features are sent to the device over its UART, which runs the whole layer "
        "program (CPU kernels on the RISC-V core, matrix layers on the CiM coprocessor) and returns the "
        "12 softmax scores. <i>CPU cycles</i> are the device's own work: mcycle over the inference minus the "
        "cycles it spent polling the coprocessor (under emulation those measure how fast the host ran the "
        "coprocessor, not the device, so they are not a device figure). <i>CiM ops</i> are the layer "
        "operations the firmware's HAL issued; MACs are what the coprocessor counted. Energy is the model "
        "on these counts (see below). Note: this model hears "
        "<code>no_1000ms.wav</code> as <i>Go</i>, a known no/go confusion of the MLPerf Tiny reference model "
        "(TFLM gives the same answer).</p>",
        _results_table(result),
    ]
    problems = sorted({p for r in result.recordings for p in r.count_problems})
    if problems:
        parts.append("<p class=bad>Counter check: " + escape("; ".join(problems)) + "</p>")
    parts += [
        "<h2>Model on the CiM target</h2>",
        f"<p>{tot['macs']:,} MACs per inference ({tot['cim_macs']:,} on CiM), {tot['weight_bytes']:,} weight bytes "
        f"on {tot['arrays_used']} of {tot['arrays_available']} arrays ({tot['macros_used']} macro(s) used), "
        f"activation RAM {tot['activation_ram_bytes']:,} B (planned arena). Converter estimate with the MCU "
        f"of {escape(report.get('board', ''))}: "
        f'<span data-formula="t">{tot["latency_us"]:.1f}</span> us and '
        f'<span data-formula="E">{tot["energy_uj"]:.3f}</span> uJ per inference '
        "(docs/energy-model.md).</p>",
        _layer_table(report),
    ]
    for name, png in charts.items():
        parts.append(f"<h2>Macro utilization</h2><p>Where each layer's weights sit on the arrays (also "
                     f"<a href='{escape(name)}'>{escape(name)}</a>).</p>{_img(png, name)}")
    parts += [
        "<h2>Device</h2>",
        _kv([("board", info.get("board", "")), ("firmware", info.get("fw_version", "")),
             ("CiM backend", info.get("backend", "")),
             ("firmware.bin", f"{ex['firmware_bin_bytes']:,} B"),
             ("image", f"{info.get('image_size', 0):,} B, sha256 {info.get('image_sha256', '')}"),
             ("image buffer", f"{info.get('image_capacity', 0):,} B"),
             ("activation arena", f"{info.get('arena_used', 0):,} B used (converter: "
                                  f"{tot['activation_ram_bytes']:,} B) of {info.get('arena_size', 0):,} B"),
             ("UART protocol", f"version {info.get('proto_version', '')}, max payload "
                               f"{info.get('max_payload', 0):,} B")]),
        "<h2>Energy per inference, three ways</h2>",
        "<p>One model prices every row (<code>cimconv.energy.price</code>, docs/energy-model.md); the rows "
        "differ only in their inputs. <i>Converter</i>: the board's cycle costs and the image's macro counts. "
        "<i>Counters</i>: the CPU cycles the device measured and the macro operations the coprocessor counted "
        "(first recording). <i>Meter</i>: the emulated power meter's integral over the marked inference window "
        "(<code>cimsdk profile</code>, same input). Under the table, each difference and its cause.</p>",
        "<pre>t = N_cpu / clock_hz + t_cim\n"
        "E = N_cpu x pj_per_cycle                                   E_cpu    (board [power], [cpu])\n"
        "  + sum_k counts[k] x pj_per_&lt;k&gt;                          E_cim    (target [energy])\n"
        "  + (idle_mw + leakage_uw / 1000) x t                     E_static</pre>",
        reconciliation_html(ex["reconciliation"]),
        _kv([(f"board {em['board']['name']}: {k}", f"{v:g}") for k, v in sorted(em["board"].items()) if k != "name"]
            + [(f"target {ex['target']}: {k}", f"{v:g}") for k, v in sorted(em["target"].items())]
            + [("CiM latency t_cim (converter)", f"{em['cim_latency_us']:.1f} us")]),
        "<h2>Per-layer energy and latency</h2>",
        "<p>The converter's estimate per layer (<code>E_layer</code>, <code>t_layer</code>; also "
        "<a href='layers.png'>layers.png</a>).</p>",
        _img(layer_png, "per-layer energy and latency") if layer_png else "",
        "<h2>Baselines</h2>",
        _baselines(ex),
        "<h2>Power trace</h2>",
    ]
    power = ex.get("power")
    if power and power.get("png"):
        png_path = result.outdir / power["png"]
        rep = power.get("report", {})
        keys = [("uj_per_inference", "energy per inference", "{:,.3f} uJ", "E_meter"),
                ("inference_ms", "inference time", "{:,.3f} ms", "t_meter"),
                ("inference_avg_mw", "average power in an inference", "{:,.3f} mW", "P_inference"),
                ("peak_mw", "peak power", "{:,.3f} mW", "P_peak"), ("idle_mw", "idle power", "{:,.3f} mW", "P_idle"),
                ("windows", "inferences captured", "{}", "windows"), ("sample_rate_hz", "sample rate", "{:,.0f} S/s",
                                                                     "sample_rate")]
        rows = "".join(f"<tr><th>{escape(label)}</th>{fig(rep[k], fmt, formula)}</tr>"
                       for k, label, fmt, formula in keys if rep.get(k) is not None)
        parts.append("<p>Captured with <code>cimsdk profile --meter emulated</code> on the running board "
                     "(power/trace.csv, power/report.json, power/report.html); its energy per inference is the "
                     "meter row of the table above.</p>" + f"<table><tbody>{rows}</tbody></table>")
        if png_path.is_file():
            parts.append(_img(png_path.read_bytes(), "power trace"))
    elif power and power.get("note"):
        parts.append(f"<p class=note>{escape(power['note'])}</p>")
    else:
        parts.append("<p class=note>Not captured: profiling a live board (<code>cimsdk profile --port</code>) "
                     "needs the console driver for the power profiler, which is being added. Meanwhile "
                     "<code>cimsdk profile --meter emulated --meter-opt activity=FILE</code> replays recorded "
                     "activity.</p>")
    parts += [
        "<h2>Files</h2><ul>",
        "<li><a href='model.cimg'>model.cimg</a>: the weight image (docs/image-format.md)</li>",
        "<li><a href='report.json'>report.json</a> / <a href='report.txt'>report.txt</a>: converter report</li>",
        "<li><a href='firmware/firmware.elf'>firmware/firmware.elf</a>, firmware.bin, build.log</li>",
        "<li><a href='results.json'>results.json</a>: everything on this page, for scripts</li>",
        "<li><a href='emulator.log'>emulator.log</a>: QEMU and coprocessor output</li></ul>",
        "<h2>Next steps</h2>",
        "<p>Run the same steps by hand (<code>examples/kws/README.md</code>): <code>cimsdk convert</code>, "
        "<code>cimsdk run</code>, <code>cimsdk firmware build</code>, <code>cimsdk emulate</code>, "
        "<code>cimsdk device run</code>, <code>cimsdk validate</code>; bring your own recordings with "
        "<code>--input my.wav</code>.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(outdir: Path, result) -> Path:
    """index.html, macro_utilization.png and results.json into `outdir`; returns index.html."""
    from cimsdk.demo.charts import utilization_png
    from cimsdk.demo.runner import result_json

    conv = result.extra["conversion"]
    names = {}
    for row in result.extra["report"]["layers"]:
        if row["runs_on"] == "cim":
            names[len(names)] = f"#{row['index']} {row['op']}"
    charts = {"macro_utilization.png": utilization_png(conv, names)}
    for name, png in charts.items():
        (outdir / name).write_bytes(png)
    from cimsdk.power.layer_chart import layer_chart_png

    layer_png = layer_chart_png(result.extra["report"])
    (outdir / "layers.png").write_bytes(layer_png)
    (outdir / "results.json").write_text(json.dumps(result_json(result), indent=2, default=str) + "\n")
    index = outdir / "index.html"
    index.write_text(render_html(result, charts, layer_png))
    return index
