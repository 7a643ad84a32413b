"""`cimsdk profile`: measure power and energy per inference on a board, or re-analyse a trace."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import click

from cimconv.errors import UserError


def _summary(report: dict, outdir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    def f(value: float | None, unit: str, digits: int = 4) -> str:
        return "n/a" if value is None else f"{value:.{digits}g} {unit}"

    t = Table(title=f"power profile: {report['meter']} @ {report['sample_rate_hz']:.4g} S/s, "
                    f"{report['duration_s']:.4g} s", show_header=False)
    t.add_column("figure")
    t.add_column("value", justify="right")
    uj = report["uj_per_inference"]
    spread = "" if uj is None else f" (min {report['uj_per_inference_min']:.4g}, max {report['uj_per_inference_max']:.4g})"
    rows = [
        ("inference windows", str(report["windows"])),
        ("energy / inference", f(uj, "uJ") + spread),
        ("  above idle", f(report["uj_per_inference_above_idle"], "uJ")),
        ("inference time", f(report["inference_ms"], "ms")),
        ("average power", f(report["avg_mw"], "mW")),
        ("peak power", f(report["peak_mw"], "mW")),
        ("idle power", f(report["idle_mw"], "mW")),
        ("charge", f(report["charge_uc"], "uC")),
        (f"average at {report['rate_hz']:.4g} inferences/s", f(report["avg_mw_at_rate"], "mW")
         + ("" if report["rate_feasible"] in (None, True) else " (rate exceeds 1/inference time)")),
    ]
    conv = report.get("converter")
    if conv:
        ratio = "" if conv["ratio"] is None else f" (measured/converter {conv['ratio']:.3f})"
        rows.append(("converter estimate", f(conv["energy_uj"], "uJ") + ratio))
    dev = report.get("device", {}).get("per_inference")
    if dev:
        rows.append(("device counters / inference", f"{dev['cpu_cycles']:.0f} CPU cycles, {dev['cim_ops']:.0f} CiM ops"))
    for k, v in rows:
        t.add_row(k, v)
    console = Console()
    console.print(t)
    rec = report.get("reconciliation")
    if rec:
        console.print(_reconciliation_table(rec))
    if report["windows"] == 0:
        console.print("[yellow]no complete inference window in the marker channel; check the marker wiring[/]")
    console.print(f"wrote {outdir}/report.json, report.html, trace.csv, trace.png")


def _reconciliation_table(rec: dict):
    """The reconciliation table of docs/energy-model.md, for the terminal."""
    from rich.table import Table

    t = Table(title="energy per inference, three ways (docs/energy-model.md)")
    for col in ("source", "CPU cycles", "CPU uJ", "CiM uJ", "static uJ", "total uJ", "latency us"):
        t.add_column(col, justify="left" if col == "source" else "right")

    def f(v, fmt: str) -> str:
        return "-" if v is None else fmt.format(v)

    for r in rec["rows"]:
        t.add_row(r["source"], f(r["cpu_cycles"], "{:,.0f}"), f(r["cpu_uj"], "{:.3f}"), f(r["cim_uj"], "{:.3f}"),
                  f(r["static_uj"], "{:.3f}"), f(r["total_uj"], "{:.3f}"), f(r["latency_us"], "{:,.1f}"))
    for d in rec["differences"]:
        pct = "" if d["delta_pct"] is None else f" ({d['delta_pct']:+.2f} %)"
        t.caption = (t.caption or "") + f"{d['between'][0]} - {d['between'][1]}: {d['delta_uj']:+.3f} uJ{pct}\n"
    return t


def _reconcile(report: dict, converter: dict | None) -> dict | None:
    """The reconciliation table's data when the device's counters are known (emulated meter)."""
    from cimsdk.power import reconcile
    from cimsdk.power.energy_model import load_board, load_energy_table

    device = report.get("device") or {}
    per = device.get("per_inference")
    if not per:  # a real meter: no counters, but the converter's estimate against the measurement
        if converter is None:
            return None
        return reconcile.reconcile([reconcile.converter_row(converter), reconcile.meter_row(report)],
                                   load_board(converter.get("board")))
    mcu = load_board(device.get("energy_board"))
    soft = device.get("backend") == "soft"
    macro = device.get("macro") or {}
    table = load_energy_table(None if soft else device.get("energy_target"), "target")
    counters = reconcile.counters_row(
        per["cycles"] if soft else per["cpu_cycles"], {} if soft else macro.get("counts_per_inference", {}),
        0.0 if soft else macro.get("latency_ms_per_inference", 0.0) * 1e3, mcu, table,
        "device: CPU cycles it measured" + ("" if soft else ", the image's macro counts (= the coprocessor's)"))
    conv = None if converter is None or soft else reconcile.converter_row(converter)
    return reconcile.reconcile([conv, counters, reconcile.meter_row(report)], mcu,
                               None if soft else per.get("wait_instructions"))


def _write_outputs(trace, report: dict, outdir: Path, converter: dict | None = None) -> None:
    from cimconv.atomic import output_dir
    from cimsdk.power.plot import render_png
    from cimsdk.power.report_page import profile_page

    png = render_png(trace, report)
    layers = None
    if converter is not None:
        from cimsdk.power.layer_chart import layer_chart_png

        layers = layer_chart_png(converter)
    with output_dir(outdir) as tmp:
        (tmp / "trace.csv").write_text(trace.to_csv_text())
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (tmp / "trace.png").write_bytes(png)
        if layers is not None:
            (tmp / "layers.png").write_bytes(layers)
        (tmp / "report.html").write_text(profile_page(report, png, layers))


def _capture(meter_spec: str, meter_opts: tuple[str, ...], port: str | None, inferences: int | None,
             duration: float | None, input_path: str | None, image: str | None = None):
    """The trace, and what the device driver measured (`describe()`, or None)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cimsdk.power.meters import create_meter, parse_options
    from cimsdk.power.session import open_driver

    options = parse_options(meter_opts)
    replay = port is None and meter_spec == "emulated" and "activity" in options
    if port is None and not replay:
        raise UserError("profile needs --port PORT (the board), --from trace.csv, or "
                        "--meter emulated --meter-opt activity=SEGMENTS.json")
    meter = create_meter(meter_spec, options)
    with meter, Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                         transient=True) as progress:
        if replay:
            # Recorded activity (emulator counters saved as segments): the meter is the whole source.
            return meter.capture(during=lambda: None, timeout_s=600), None
        assert port is not None
        driver = open_driver(port, meter, input_path, **({"image": image} if image else {}))
        task = progress.add_task(f"capturing with {meter_spec}", total=None)
        enough = threading.Event()

        def on_progress(t: float) -> None:
            progress.update(task, description=f"capturing with {meter_spec}: {t:.3f} s of samples")
            if duration is not None and t >= duration:
                enough.set()

        def run() -> None:
            finish = getattr(driver, "finish", None)
            try:
                if duration is None:
                    driver.run_marked(inferences or 10)
                else:
                    while not enough.is_set():
                        driver.run_marked(1)
            except BaseException:
                if finish is not None:
                    with contextlib.suppress(Exception):
                        finish()
                raise
            if finish is not None:
                finish()

        try:
            trace = meter.capture(during=run, duration_s=duration, on_progress=on_progress)
            describe = getattr(driver, "describe", None)
            return trace, (describe() if describe is not None else None)
        finally:
            driver.close()


def _load_converter_report(converter_report: str) -> dict:
    path = Path(converter_report)
    try:
        conv = json.loads(path.read_text())
        float(conv["totals"]["energy_uj"])
        dict(conv["totals"]["energy"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"--compare {path}: not a converter report.json with totals.energy ({exc}); "
                        "convert the model again with this cimsdk") from None
    return conv


def _compare(report: dict, converter_report: str) -> dict:
    """Measured energy per inference against the converter's `totals.energy_uj` (same model, target)."""
    path = Path(converter_report)
    conv = _load_converter_report(converter_report)
    predicted = float(conv["totals"]["energy_uj"])
    measured = report.get("uj_per_inference")
    return {
        "report": str(path),
        "target": conv.get("target"),
        "energy_uj": predicted,
        "cpu_cycles": conv["totals"].get("cpu_cycles"),
        "measured_uj": measured,
        "ratio": None if measured is None or predicted <= 0 else measured / predicted,
    }


@click.command(name="profile")
@click.option("--port", "-p", help="board connection: serial port, pty, socket://HOST:PORT or HOST:PORT, or auto "
                                   "(the one board that answers; cimsdk device list)")
@click.option("--meter", "meter_spec", default="emulated", show_default=True,
              help="meter NAME[:ARG]: ppk2:/dev/ttyACM0, joulescope[:SERIAL], ina226[:PORT], emulated[:HOST:PORT]")
@click.option("--meter-opt", "meter_opts", multiple=True, metavar="KEY=VALUE",
              help="meter option, repeatable (e.g. voltage_mv=1800, marker_bit=0, target=nor-acim)")
@click.option("--inferences", "-n", type=click.IntRange(min=1), default=None, help="inferences to run (default 10)")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="capture this many seconds of meter time instead")
@click.option("--input", "input_path", type=click.Path(dir_okay=False), default=None,
              help="input the device runs (.npy/.wav/image, needs --image), default: the input it holds")
@click.option("--image", type=click.Path(dir_okay=False), default=None,
              help="weight image (.cimg) to run: loaded unless the device holds it; the emulated meter "
                   "reads its macro operations from it")
@click.option("--compare", "converter_report", type=click.Path(dir_okay=False), default=None,
              help="converter report.json: put its totals.energy_uj beside the measured energy")
@click.option("--rate", default="1/s", show_default=True, help="inference rate for the duty-cycled average power")
@click.option("--marker-mode", type=click.Choice(["level", "edges"]), default="level", show_default=True,
              help="level: marker high during an inference; edges: EnergyRunner falling-edge timestamps")
@click.option("--from", "from_csv", type=click.Path(dir_okay=False), default=None,
              help="analyse a saved trace.csv instead of measuring")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False), required=True, help="output folder")
def command(port: str | None, meter_spec: str, meter_opts: tuple[str, ...], inferences: int | None,
            duration: float | None, input_path: str | None, image: str | None, converter_report: str | None,
            rate: str, marker_mode: str, from_csv: str | None, outdir: str) -> None:
    """Measure average/peak power and energy per inference (report.json, trace.csv, trace.png).

    \b
    Examples:
      cimsdk profile -p auto -o power/                   # the emulated meter of an emulated board
      cimsdk profile -p /dev/ttyUSB0 --meter ppk2:/dev/ttyACM0 --image model/model.cimg -o power/
      cimsdk profile --from power/trace.csv --compare model/report.json -o power2/
    """
    from cimsdk.power.analysis import analyse, parse_rate
    from cimsdk.power.trace import read_csv

    rate_hz = parse_rate(rate)
    if inferences is not None and duration is not None:
        raise UserError("give --inferences or --duration, not both")
    if from_csv is not None:
        if port is not None:
            raise UserError("--from analyses a saved trace; drop --port (or drop --from to measure)")
        trace = read_csv(from_csv)
        device = None
    else:
        trace, device = _capture(meter_spec, meter_opts, port, inferences, duration, input_path, image)
    report = analyse(trace, rate_hz=rate_hz, marker_mode=marker_mode)
    if from_csv is not None:
        report["source"] = str(from_csv)
    if device is not None:
        report["device"] = device
    if converter_report is not None:
        report["converter"] = _compare(report, converter_report)
    converter = None if converter_report is None else _load_converter_report(converter_report)
    rec = _reconcile(report, converter)
    if rec is not None:
        report["reconciliation"] = rec
    out = Path(outdir)
    _write_outputs(trace, report, out, converter)
    _summary(report, out)
