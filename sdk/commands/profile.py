"""`cimsdk profile`: measure power and energy per inference on a board, or re-analyse a trace."""

from __future__ import annotations

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
    for k, v in rows:
        t.add_row(k, v)
    console = Console()
    console.print(t)
    if report["windows"] == 0:
        console.print("[yellow]no complete inference window in the marker channel; check the marker wiring[/]")
    console.print(f"wrote {outdir}/report.json, trace.csv, trace.png")


def _write_outputs(trace, report: dict, outdir: Path) -> None:
    from cimconv.atomic import output_dir
    from cimsdk.power.plot import render_png

    with output_dir(outdir) as tmp:
        (tmp / "trace.csv").write_text(trace.to_csv_text())
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (tmp / "trace.png").write_bytes(render_png(trace, report))


def _capture(meter_spec: str, meter_opts: tuple[str, ...], port: str | None, inferences: int | None,
             duration: float | None, input_path: str | None):
    from cimsdk.power.meters import create_meter, parse_options
    from cimsdk.power.session import open_driver
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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
            return meter.capture(during=lambda: None, timeout_s=600)
        assert port is not None
        driver = open_driver(port, meter, input_path)
        task = progress.add_task(f"capturing with {meter_spec}", total=None)
        enough = threading.Event()

        def on_progress(t: float) -> None:
            progress.update(task, description=f"capturing with {meter_spec}: {t:.3f} s of samples")
            if duration is not None and t >= duration:
                enough.set()

        def run() -> None:
            if duration is None:
                driver.run_marked(inferences or 10)
                return
            while not enough.is_set():
                driver.run_marked(1)

        try:
            return meter.capture(during=run, duration_s=duration, on_progress=on_progress)
        finally:
            driver.close()


@click.command(name="profile")
@click.option("--port", help="board connection (serial port, pty, or host:port of the emulated board)")
@click.option("--meter", "meter_spec", default="emulated", show_default=True,
              help="meter NAME[:ARG]: ppk2:/dev/ttyACM0, joulescope[:SERIAL], ina226[:PORT], emulated[:HOST:PORT]")
@click.option("--meter-opt", "meter_opts", multiple=True, metavar="KEY=VALUE",
              help="meter option, repeatable (e.g. voltage_mv=1800, marker_bit=0, target=nor-acim)")
@click.option("--inferences", "-n", type=click.IntRange(min=1), default=None, help="inferences to run (default 10)")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="capture this many seconds of meter time instead")
@click.option("--input", "input_path", type=click.Path(dir_okay=False), default=None,
              help="input the device runs (file), default: the firmware's built-in input")
@click.option("--rate", default="1/s", show_default=True, help="inference rate for the duty-cycled average power")
@click.option("--marker-mode", type=click.Choice(["level", "edges"]), default="level", show_default=True,
              help="level: marker high during an inference; edges: EnergyRunner falling-edge timestamps")
@click.option("--from", "from_csv", type=click.Path(dir_okay=False), default=None,
              help="analyse a saved trace.csv instead of measuring")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False), required=True, help="output folder")
def command(port: str | None, meter_spec: str, meter_opts: tuple[str, ...], inferences: int | None,
            duration: float | None, input_path: str | None, rate: str, marker_mode: str,
            from_csv: str | None, outdir: str) -> None:
    """Measure average/peak power and energy per inference (report.json, trace.csv, trace.png)."""
    from cimsdk.power.analysis import analyse, parse_rate
    from cimsdk.power.trace import read_csv

    rate_hz = parse_rate(rate)
    if inferences is not None and duration is not None:
        raise UserError("give --inferences or --duration, not both")
    if from_csv is not None:
        if port is not None:
            raise UserError("--from analyses a saved trace; drop --port (or drop --from to measure)")
        trace = read_csv(from_csv)
    else:
        trace = _capture(meter_spec, meter_opts, port, inferences, duration, input_path)
    report = analyse(trace, rate_hz=rate_hz, marker_mode=marker_mode)
    if from_csv is not None:
        report["source"] = str(from_csv)
    out = Path(outdir)
    _write_outputs(trace, report, out)
    _summary(report, out)
