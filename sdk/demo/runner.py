"""`cimsdk demo`: the whole pipeline on the embedded default, as one command a newcomer runs first.

convert (KWS model -> nor-acim image) -> host front end and golden model -> firmware build
(PlatformIO, qemu-virt-rv32) -> emulated board (QEMU + CiM coprocessor process) -> image upload ->
one on-device inference per real recording -> device == golden check -> HTML report.

Everything is written into a temporary sibling of the output folder and moved into place at the
end (`cimconv.atomic.output_dir`), so an interrupted demo leaves no half report; the emulated
board is a context manager, so no QEMU or coprocessor process outlives the demo.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cimconv.errors import UserError

RECORDINGS = ("yes_1000ms.wav", "no_1000ms.wav", "silence_1000ms.wav")
MODEL = "kws_ref_model.tflite"
BOARD = "qemu-virt-rv32"
#: Seconds between the emulated board's UART opening and the first byte we send: the firmware must
#: have initialised its UART first (a byte that arrives before the FIFO reset can stall QEMU's
#: 16550 receive path until the guest reads RBR).
BOOT_SETTLE_S = 0.3


def shared_dir() -> Path:
    """The sample models and recordings: bundled with an installed cimsdk, `../shared` beside a checkout."""
    from cimcontracts.resources import sample

    return sample(f"models/{MODEL}").parent.parent


@dataclass
class DemoOptions:
    outdir: Path = Path("cimsdk-demo")
    backend: str = "mailbox"
    target: str = "nor-acim"
    board: str = BOARD
    model: Path | None = None
    recordings: list[Path] | None = None
    power: bool = True
    baseline: bool = True
    data: Path | None = None


@dataclass
class RecordingResult:
    """What the device did with one recording, and how it compares with the host."""

    file: str
    label: str
    score: float
    output: list[int]
    golden_equal: bool
    golden_label: str
    tflm_label: str | None
    cycles: int
    instret: int
    cpu_instructions: int
    host_wait_instructions: int
    cim_ops: int
    macs: int | None
    energy_uj: float
    energy_split_uj: dict[str, float]
    time_us: float
    count_problems: list[str] = field(default_factory=list)


@dataclass
class DemoResult:
    ok: bool
    outdir: Path
    recordings: list[RecordingResult]
    info: dict
    steps: dict[str, float]
    extra: dict


class _Steps:
    """Prints one tidy line per pipeline step (a spinner while it runs) and keeps its wall time."""

    def __init__(self, console) -> None:
        self.console = console
        self.times: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, doing: str) -> Iterator[dict]:
        note: dict = {"text": ""}
        t0 = time.monotonic()
        with self.console.status(f"{doing} ...", spinner="dots"):
            yield note
        dt = time.monotonic() - t0
        self.times[name] = round(dt, 3)
        self.console.print(f" [green]✓[/] [bold]{name:<9}[/] {note['text']}  [dim]{dt:.1f} s[/]")


def _labels(n: int, model: Path) -> list[str]:
    from cimsdk.frontend.mfcc import KWS_LABELS

    if n == len(KWS_LABELS) and model.name.startswith("kws"):
        return list(KWS_LABELS)
    return [str(i) for i in range(n)]


def _tflm_top1(model: Path, x: np.ndarray) -> list[int] | None:
    """TFLM's top-1 for each input, when the interpreter is installed (a second opinion)."""
    try:
        from cimsdk.reference import TFLM

        return [int(v) for v in TFLM(model).run(x).reshape(x.shape[0], -1).argmax(1)]
    except (UserError, ImportError):
        return None


def _mailbox_counters(board) -> dict[str, int]:
    return {k.split(".", 1)[1]: v for k, v in board.mailbox().items() if k.startswith("counter.")}


def run_demo(opts: DemoOptions, console) -> DemoResult:
    """Run the demo; the report is in `opts.outdir` afterwards, also when the device disagrees."""
    from cimcontracts.resources import sample
    from cimconv.atomic import output_dir

    if opts.model is not None and opts.recordings is None:
        raise UserError(f"demo --model {opts.model}: also pass its inputs with --input FILE (WAV, image, .npy "
                        "or .bin, as `cimsdk run` reads them); the bundled recordings fit only the KWS model")
    model = Path(opts.model) if opts.model is not None else sample(f"models/{MODEL}")
    recordings = [Path(p) for p in opts.recordings] if opts.recordings else [sample(f"data/{n}") for n in RECORDINGS]
    for path in [model, *recordings]:
        if path.is_dir():
            raise UserError(f"demo input {path} is a folder; pass a file (repeat --input for several)")
        if not path.is_file():
            raise UserError(f"demo input missing: {path}; check the path")
    if opts.backend not in ("mailbox", "soft"):
        raise UserError(f"--backend {opts.backend}: choose mailbox or soft")
    from cimsdk.extras import require

    for module in ("platformio", "SCons", "matplotlib"):  # before minutes of work, not after
        require(module, "cimsdk demo")

    what = "keyword spotting" if opts.model is None else model.name
    console.print(f"[bold]cimsdk demo[/]: {what} on the emulated board "
                  f"({opts.board}, {opts.backend} backend, {opts.target} target)")
    steps = _Steps(console)
    t_start = time.monotonic()
    with output_dir(opts.outdir) as work:
        result = _run(opts, model, recordings, work, steps, console)
        total = time.monotonic() - t_start
        result.steps["total"] = round(total, 3)
        from cimsdk.demo.report import write_report

        write_report(work, result)
    result.outdir = opts.outdir
    result.steps["total"] = round(time.monotonic() - t_start, 3)
    return result


def _run(opts: DemoOptions, model: Path, recordings: list[Path], work: Path, steps: _Steps,
         console) -> DemoResult:
    from cimconv import energy
    from cimconv.pipeline import convert
    from cimsdk import janitor
    from cimsdk.build import build_firmware
    from cimsdk.device import Device, ensure_image
    from cimsdk.emulator import EmulatedBoard
    from cimsdk.golden import Executor
    from cimsdk.inputs import InputSpec, load_input
    from cimsdk.power import reconcile
    from cimsdk.power.energy_model import load_board, load_energy_table
    from cimsdk.report_view import render_text

    # 1. Convert.
    with steps.step("convert", f"converting {model.name} for {opts.target}") as note:
        conv = convert(model, opts.target, opts.board)
        tot = conv.report["totals"]
        n_cim = sum(1 for row in conv.report["layers"] if row["runs_on"] == "cim")
        (work / "model.cimg").write_bytes(conv.image_bytes)
        (work / "report.json").write_text(json.dumps(conv.report, indent=2) + "\n")
        (work / "report.txt").write_text(render_text(conv.report))
        note["text"] = (f"{model.name} -> {opts.target}: {len(conv.report['layers'])} layers, {n_cim} on CiM "
                        f"({tot['cim_macs'] / 1e6:.2f} M MACs), {tot['macros_used']}/{conv.target.macros} "
                        f"macros, image {len(conv.image_bytes):,} B, arena {tot['activation_ram_bytes']:,} B")

    # 2. Host: front end, golden model (and TFLM when installed).
    with steps.step("host", "input front end and host golden model") as note:
        spec = InputSpec.from_tflite(model)
        x = np.concatenate([load_input(p, spec)[:1] for p in recordings], axis=0)  # one input per file
        golden = np.asarray(Executor(conv.image_bytes).run(x)).astype(np.int8).reshape(x.shape[0], -1)
        tflm = _tflm_top1(model, x)
        labels = _labels(golden.shape[1], model)
        agree = "" if tflm is None else (
            f"; TFLM agrees on {sum(int(a == b) for a, b in zip(tflm, golden.argmax(1), strict=True))}"
            f"/{len(tflm)}")
        note["text"] = (f"{len(recordings)} recordings -> int8 inputs {list(spec.item_shape)}; "
                        f"golden model top-1: {', '.join(labels[i] for i in golden.argmax(1))}{agree}")

    # 3. Firmware.
    with steps.step("firmware", f"building the firmware for {opts.board} ({opts.backend}) with PlatformIO") as note:
        fw_dir = work / "firmware"
        fw_dir.mkdir()
        with janitor.temporary_directory(prefix="cimsdk-demo-build-") as build:
            elf = build_firmware(build, opts.board, opts.backend, quiet=True)
            for f in (elf, elf.with_suffix(".bin"), Path(build) / "build.log"):
                if f.is_file():
                    shutil.copy2(f, fw_dir / f.name)
        elf = fw_dir / "firmware.elf"
        code = (fw_dir / "firmware.bin").stat().st_size if (fw_dir / "firmware.bin").is_file() else 0
        note["text"] = f"firmware/app for {opts.board} ({opts.backend} CiM backend): firmware.bin {code:,} B"

    # 4. Emulated board, image upload, one inference per recording.
    out_rec = conv.image.io[1]
    out_bytes = conv.image.tensors[conv.image.output_tensor].nbytes
    mcu = load_board(opts.board)
    table = load_energy_table(opts.target if opts.backend == "mailbox" else "soft", "target")
    cim_lat = sum(r.get("cim_latency_us", 0.0) for r in conv.report["layers"])
    first_delta: dict[str, int] = {}
    results: list[RecordingResult] = []
    power = None
    with steps.step("boot", "booting QEMU and the emulated CiM coprocessor") as note:
        for attempt in range(2):
            board = EmulatedBoard(opts.board, firmware=elf, backend=opts.backend, wait_for_client=False,
                                  log_file=work / "emulator.log")
            board.start()
            time.sleep(BOOT_SETTLE_S)
            if _answers(board.url):
                break
            board.close()
            if attempt:
                raise UserError(f"the emulated board does not answer on its UART; see {opts.outdir}/emulator.log")
            console.print("   [yellow]the board's UART did not answer; restarting it once[/]")
        procs = f"QEMU pid {board.qemu.pid}" if board.qemu else "QEMU"
        if board.coproc:
            procs += f", CiM coprocessor pid {board.coproc.pid}"
        note["text"] = f"{opts.board}: {procs}, UART at {board.url}"
    try:
        pids = {"qemu": board.qemu.pid if board.qemu else None,
                "coprocessor": board.coproc.pid if board.coproc else None}
        with Device(board.url, timeout=5.0, open_timeout=5.0) as dev:
            dev.ping()
            with steps.step("load", "uploading the weight image") as note:
                ensure_image(dev, conv.image_bytes, show_progress=console.is_terminal)
                info = dev.info()
                note["text"] = (f"image on the device ({info.image_size:,} B, sha256 {info.image_sha256[:12]}), "
                                f"arena used {info.arena_used:,} B (converter predicted "
                                f"{tot['activation_ram_bytes']:,} B)")
            console.print()
            console.print(f"   [bold]{'recording':<20} {'label':<9} {'score':>5}  {'CPU cycles':>10}  "
                          f"{'CiM ops':>7}  {'MACs':>7}  {'est. uJ':>7}  device vs golden[/]")
            for i, path in enumerate(recordings):
                c0 = dev.counters()
                mb0 = _mailbox_counters(board) if opts.backend == "mailbox" else {}
                raw, cnt = dev.run(x[i].tobytes(), out_bytes, timeout=120.0)
                c1 = dev.counters()
                mb1 = _mailbox_counters(board) if opts.backend == "mailbox" else {}
                y = np.frombuffer(raw, np.int8)
                top = int(y.argmax())
                wait = int(c1.get("wait_insns", 0) - c0.get("wait_insns", 0))
                cpu = max(0, int(cnt["cycles"]) - wait)  # the device's own work (docs/energy-model.md N_cpu_device)
                cim_ops = int(c1.get("cim_ops", 0) - c0.get("cim_ops", 0))
                if opts.backend == "mailbox":
                    delta = {k: mb1[k] - mb0.get(k, 0) for k in energy.COUNT_KEYS}
                    problems = reconcile.check_counts(delta, tot["counts"])
                    est = energy.price(cpu, delta, cim_lat, mcu, table)
                    macs = int(delta.get("macs", 0))
                else:
                    delta, problems, macs = {}, [], None
                    est = energy.price(cpu, {}, 0.0, mcu, table)
                if i == 0:
                    first_delta = delta
                equal = bool(np.array_equal(y, golden[i]))
                res = RecordingResult(
                    file=path.name, label=labels[top], score=float((int(y[top]) - out_rec.zero_point) * out_rec.scale),
                    output=y.tolist(), golden_equal=equal, golden_label=labels[int(golden[i].argmax())],
                    tflm_label=None if tflm is None else labels[tflm[i]], cycles=int(cnt["cycles"]),
                    instret=int(cnt["instret"]), cpu_instructions=cpu, host_wait_instructions=wait,
                    cim_ops=cim_ops, macs=macs, energy_uj=est.total_uj,
                    energy_split_uj={"cpu": est.cpu_uj, "cim": est.cim_uj, "static": est.static_uj},
                    time_us=est.latency_us, count_problems=problems)
                results.append(res)
                verdict = "[green]bit-exact[/]" if equal else "[bold red]DIFFERS[/]"
                mac_txt = f"{macs / 1e6:.2f} M" if macs is not None else "on CPU"
                console.print(f"   {res.file:<20} [bold]{res.label:<9}[/] {res.score:5.2f}  {cpu:>10,}  "
                              f"{cim_ops:>7,}  {mac_txt:>7}  {res.energy_uj:7.2f}  {verdict}")
            console.print()
            info_d = info.as_dict()
        if opts.power:
            from cimsdk.demo import power as power_hook

            if power_hook.available():
                with steps.step("power", "profiling with the emulated power meter") as note:
                    power = power_hook.capture(board.url, work / "model.cimg", recordings[0], work,
                                               board=opts.board,
                                               target=opts.target if opts.backend == "mailbox" else "soft",
                                               compare=work / "report.json")
                    note["text"] = _power_line(power)
    finally:
        board.close()
    alive = [name for name, pid in pids.items() if pid is not None and _running(pid)]
    if alive:
        console.print(f"[yellow]warning[/]: {', '.join(alive)} still running after close")

    baseline = None
    if opts.baseline and opts.backend == "mailbox":
        from cimsdk.demo import baselines

        with steps.step("baseline", "the same model on the CPU alone (soft backend)") as note:
            with janitor.temporary_directory(prefix="cimsdk-demo-soft-") as build:
                baseline = baselines.soft_run(opts.board, conv, x[0], golden[0], mcu, Path(build))
            e = baseline["energy"]
            note["text"] = (f"soft backend: {baseline['cycles']:,} cycles, {e['total_uj']:.1f} uJ, "
                            f"{e['latency_us'] / 1e3:.2f} ms per inference"
                            + ("" if baseline["golden_equal"] else " [bold red](output differs)[/]"))
    acc = None
    if opts.data is not None:
        from cimsdk.demo import baselines

        with steps.step("accuracy", f"top-1 on {opts.data}") as note:
            acc = baselines.accuracy(model, conv.image, opts.data)
            note["text"] = (f"{acc['samples']} labelled inputs: int8 (TFLM) {acc['int8_top1']:.1%}, "
                            f"CiM image {acc['cim_top1']:.1%}")
    from cimsdk.demo.baselines import TFLM_CODE_BYTES, tflm_arena_bytes

    rows = [reconcile.converter_row(conv.report) if opts.backend == "mailbox" else None]
    if results:
        r0 = results[0]
        rows.append(reconcile.counters_row(
            r0.cpu_instructions, first_delta, cim_lat if opts.backend == "mailbox" else 0.0, mcu, table,
            f"device: {r0.file}: CPU cycles it measured"
            + (", macro operations the coprocessor counted" if opts.backend == "mailbox" else "")))
    if power is not None and power.report:
        rows.append(reconcile.meter_row(power.report))
    recon = reconcile.reconcile(rows, mcu, results[0].host_wait_instructions if results else None)

    ok = all(r.golden_equal for r in results) and (baseline is None or baseline["golden_equal"])
    extra = {
        "model": str(model), "target": opts.target, "board": opts.board, "backend": opts.backend,
        "image_bytes": len(conv.image_bytes), "image_sha256": conv.image.sha256, "firmware_bin_bytes": code,
        "processes": pids, "leftover_processes": alive,
        "energy_model": {"board": {"name": mcu.board, "clock_hz": mcu.clock_hz, "pj_per_cycle": mcu.pj_per_cycle,
                                   "idle_mw": mcu.idle_mw, "voltage_v": mcu.voltage_v},
                         "target": table, "cim_latency_us": cim_lat},
        "reconciliation": recon, "baseline_soft": baseline, "accuracy": acc,
        "tflm": {"arena_bytes": tflm_arena_bytes(model), "code_bytes": TFLM_CODE_BYTES.get(model.stem)},
        "power": None if power is None else {"png": str(power.png.relative_to(work)) if power.png else None,
                                             "report": power.report, "note": power.note},
        "power_available": opts.power and _power_available(),
        "report": conv.report, "labels": labels, "conversion": conv,
    }
    return DemoResult(ok, work, results, info_d, steps.times, extra)


def _answers(url: str) -> bool:
    """One PING: the board's console is up (a wedged UART is restarted rather than waited on)."""
    from cimsdk.device import Device

    try:
        with Device(url, timeout=2.0, retries=2, open_timeout=5.0) as dev:
            dev.ping()
        return True
    except UserError:
        return False


def _power_line(power) -> str:
    if power is None:
        return "not available"
    if power.note:
        return power.note
    r = power.report
    if "uj_per_inference" not in r:
        return "power/trace.png"
    return (f"{r.get('windows', 0)} inferences under the emulated meter: {r['uj_per_inference']:.2f} uJ/inference, "
            f"{r.get('inference_ms', 0):.2f} ms, peak {r.get('peak_mw', 0):.2f} mW -> power/trace.png")


def _power_available() -> bool:
    from cimsdk.demo import power as power_hook

    return power_hook.available()


def _running(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def result_json(result: DemoResult) -> dict:
    """The machine-readable part of the report (results.json)."""
    extra = {k: v for k, v in result.extra.items() if k not in ("conversion", "report")}
    return {"ok": result.ok, "recordings": [asdict(r) for r in result.recordings], "device": result.info,
            "steps_s": result.steps, **extra}
