"""`cimsdk demo`: keyword spotting end to end on the emulated board, the first thing to run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--output", "-o", "outdir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("cimsdk-demo"), show_default=True, help="folder for the HTML report and artefacts")
@click.option("--backend", type=click.Choice(["mailbox", "soft"]), default="mailbox", show_default=True,
              help="mailbox: the emulated CiM coprocessor does the matrix layers; soft: the MCU emulates the macro")
@click.option("--target", "-t", default="nor-acim", show_default=True, help="CiM target (converter/targets)")
@click.option("--model", "-m", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="your own int8 .tflite model instead of the bundled MLPerf KWS model (needs --input)")
@click.option("--input", "--inputs", "-i", "inputs", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="run these files instead of the bundled recordings (repeatable; WAV, image, .npy, .bin)")
@click.option("--no-power", is_flag=True, help="skip the power trace even when profiling is available")
@click.option("--no-baseline", is_flag=True, help="skip the CPU-only (soft backend) run the report compares with")
@click.option("--data", type=click.Path(path_type=Path, exists=True),
              help="labelled folder (one sub-folder per label): add int8 and CiM top-1 accuracy to the report")
def command(outdir: Path, backend: str, target: str, model: Path | None, inputs: tuple[Path, ...], no_power: bool, no_baseline: bool,
            data: Path | None) -> None:
    """Convert the MLPerf KWS model, build the firmware, boot the emulated board and classify
    real recordings on it; checks the device against the host golden model and writes OUTPUT/index.html.

    The model and recordings are bundled with cimsdk, so this runs in an empty folder. Exit status 1
    when the device disagrees with the golden model.

    \b
    Examples:
      cimsdk demo                                   # bundled KWS model and recordings
      cimsdk demo -o out -i my_yes.wav -i my_no.wav  # your recordings, the KWS model
      cimsdk demo --model my_model.tflite --input sample.npy
    """
    import sys

    from cimsdk.console import console as _console
    from cimsdk.demo import DemoOptions, run_demo

    console = _console()
    opts = DemoOptions(outdir=outdir, backend=backend, target=target, model=model,
                       recordings=[Path(p) for p in inputs] or None, power=not no_power,
                       baseline=not no_baseline, data=data)
    result = run_demo(opts, console)
    n = len(result.recordings)
    exact = sum(r.golden_equal for r in result.recordings)
    total = result.steps.get("total", 0.0)
    if result.ok:
        console.print(f"[green]device == host golden model[/] on {exact}/{n} recordings (bit-exact); "
                      f"done in {total:.1f} s")
    else:
        console.print(f"[bold red]FAIL[/]: the device differs from the host golden model on {n - exact}/{n} "
                      "recordings")
    console.print(f"report: {outdir / 'index.html'}")
    if not result.ok:
        sys.exit(1)
