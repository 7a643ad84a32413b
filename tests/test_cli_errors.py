"""Every command, given what users give by mistake, answers in one line, never a traceback (issue 10).

The sweep feeds each command's file and folder arguments the wrong things (a missing path, a folder
where a file is meant and the reverse, an empty file, garbage, a path through a file, a path that
cannot be created, a port that is not a board) and checks the one-line error and its exit status;
then the cases found by hand: a convert output folder accepted wherever an image is taken, outputs
under a file, concurrent converts into one folder, an interrupted convert, two emulators on one
flash file, and an installed bootloader kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from paths import DATA, MODELS

from cimsdk import procs

KWS = MODELS / "kws_ref_model.tflite"


# Bounds against a hang, not speed targets: on a 2-core machine with a dozen jobs running (CI beside a
# parallel load), a command of 25 s CPU time took 290 s of wall time.
HANG_S = 1200


def cimsdk(*args: str | Path, cwd: Path | None = None, timeout: float = HANG_S) -> subprocess.CompletedProcess:
    return subprocess.run(["cimsdk", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def one_line_error(res: subprocess.CompletedProcess, statuses: tuple[int, ...] = (2,)) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in statuses, (res.returncode, res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and len(lines[0]) <= 400, lines[0]
    assert "internal error" not in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-errors") / "kws"
    res = cimsdk("convert", KWS, "-o", out, "-q")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "empty").write_bytes(b"")
    (d / "garbage").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (d / "folder").mkdir()
    (d / "afile").write_bytes(b"x")
    return {"missing": d / "missing.bin", "folder": d / "folder", "empty": d / "empty",
            "garbage": d / "garbage", "through-file": d / "afile" / "inner"}


def _refused_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"socket://127.0.0.1:{s.getsockname()[1]}"  # closed when we return: connection refused


# (command line with {BAD} where the wrong thing goes) - every command's file and folder arguments
INPUT_CASES = [
    ("inspect", "{BAD}"),
    ("run", "{BAD}", "-i", "{X}"),
    ("run", "{IMG}", "-i", "{BAD}"),
    ("compare", "{BAD}", "{IMG}"),
    ("compare", "{MODEL}", "{BAD}"),
    ("compare", "{MODEL}", "{IMG}", "--input", "{BAD}"),
    ("convert", "{BAD}", "-o", "{OUT}"),
    ("convert", "{MODEL}", "--target", "{BAD}", "-o", "{OUT}"),
    ("convert", "{MODEL}", "--calib", "{BAD}", "-o", "{OUT}"),
    ("simulate", "{BAD}", "--data", "{DATA}"),
    ("simulate", "{IMG}", "--data", "{BAD}"),
    ("validate", "{BAD}", "--port", "{PORT}"),
    ("device", "run", "--port", "{PORT}", "--image", "{BAD}", "-i", "{X}"),
    ("sign", "{BAD}", "--key", "{BAD}", "-o", "{OUT}/x.cpkg"),
    ("firmware", "build", "{OUT}", "--embed-image", "{BAD}"),
    ("profile", "--from", "{BAD}", "-o", "{OUT}"),
    ("data", "accuracy", "{BAD}", "{DATA}"),
    ("demo", "--model", "{BAD}", "-o", "{OUT}"),
]


def _fill(case: tuple[str, ...], values: dict[str, str]) -> list[str]:
    out = []
    for arg in case:
        for key, val in values.items():
            arg = arg.replace("{" + key + "}", val)
        out.append(arg)
    return out


KINDS = ["missing", "folder", "empty", "garbage", "through-file"]


def _sweep(converted: Path, bad: dict[str, Path], tmp_path: Path, pairs: list[tuple[tuple[str, ...], str]]) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 49, 10, 1), np.int8))
    for case, kind in pairs:
        values = {"BAD": str(bad[kind]), "IMG": str(converted / "model.cimg"), "MODEL": str(KWS), "X": str(x),
                  "DATA": str(DATA), "OUT": str(tmp_path / "out"), "PORT": _refused_port()}
        res = cimsdk(*_fill(case, values), cwd=tmp_path)
        one_line_error(res, (1, 2))
        assert not (tmp_path / "out").exists() or case[0] == "firmware", (case, kind, "half-written output")
    print(f"wrong input paths: {len(pairs)} command lines, each one line, exit 1 or 2")


def test_wrong_input_paths_give_one_line(converted, bad, tmp_path):
    """Every command once, the kinds of wrong path taken in turn."""
    _sweep(converted, bad, tmp_path, [(case, KINDS[i % len(KINDS)]) for i, case in enumerate(INPUT_CASES)])


@pytest.mark.slow
def test_wrong_input_paths_give_one_line_every_kind(converted, bad, tmp_path):
    _sweep(converted, bad, tmp_path, [(case, kind) for case in INPUT_CASES for kind in KINDS])


@pytest.mark.parametrize("where", ["existing-file", "through-file", "uncreatable"])
@pytest.mark.parametrize("cmd", ["convert", "run", "compare-json", "data-kws", "demo", "simulate", "profile"])
def test_wrong_output_paths_give_one_line(converted, bad, tmp_path, cmd, where):
    target = {"existing-file": bad["through-file"].parent, "through-file": bad["through-file"],
              "uncreatable": Path("/proc/cimsdk-no/such")}[where]
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 49, 10, 1), np.int8))
    img = converted / "model.cimg"
    args = {
        "convert": ["convert", KWS, "-o", target],
        "run": ["run", img, "-i", x, "-o", target / "y.npy" if where != "existing-file" else target / "y.npy"],
        "compare-json": ["compare", KWS, img, "--inputs", "1", "--json", target / "c.json"],
        "data-kws": ["data", "kws-synth", "-o", target, "--per-word", "1"],
        "demo": ["demo", "-o", target],
        "simulate": ["simulate", img, "--data", DATA, "--trials", "1", "-o", target],
        "profile": ["profile", "--port", _refused_port(), "--meter", "emulated", "-o", target],
    }[cmd]
    before = set(bad["through-file"].parent.parent.iterdir())
    res = cimsdk(*args, cwd=tmp_path)
    one_line_error(res)
    assert set(bad["through-file"].parent.parent.iterdir()) == before  # no temporaries left beside it


@pytest.mark.parametrize("cmd", ["inspect", "run", "compare", "simulate"])
def test_convert_output_folder_is_taken_as_the_image(converted, tmp_path, cmd):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 49, 10, 1), np.int8))
    frames = tmp_path / "frames.npy"
    np.save(frames, np.random.default_rng(0).integers(-128, 128, (128, 49, 10, 1)).astype(np.int8))
    args = {"inspect": ["inspect", converted, "--json"], "run": ["run", converted, "-i", x],
            "compare": ["compare", KWS, converted, "--inputs", "2", "--no-litert"],
            "simulate": ["simulate", converted, "--data", frames, "--trials", "1", "--no-sweeps"]}[cmd]
    res = cimsdk(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    if cmd == "inspect":
        assert json.loads(res.stdout)["sha256"] == hashlib.sha256((converted / "model.cimg").read_bytes()).hexdigest()


@pytest.mark.parametrize("port", ["/dev/cimsdk-no-such-port", "refused", "/dev/null"])
def test_ports_that_are_not_boards(converted, tmp_path, port):
    url = _refused_port() if port == "refused" else port
    for args in (["device", "info", "--port", url], ["validate", converted, "--port", url, "--inputs", "1"],
                 ["flash", "--port", url, converted / "model.cimg"]):
        res = cimsdk(*args, cwd=tmp_path)
        one_line_error(res)


def test_compare_gives_tflm_an_arena_that_fits(tmp_path):
    """TFLM's default arena is 10x the model's bytes: too small for a model whose activations dwarf
    its weights (this one: 0.3 KB of weights, 512 KB of activations)."""
    from tfmodels import quantize

    tf = pytest.importorskip("tensorflow")
    inp = tf.keras.Input((128, 128, 8), batch_size=1)
    out = tf.keras.layers.Conv2D(8, 1, activation="relu")(inp)
    model = tmp_path / "wide.tflite"
    model.write_bytes(quantize(tf.keras.Model(inp, out), (128, 128, 8), seed=3))
    assert len(model.read_bytes()) * 10 < 128 * 128 * 8 * 2
    res = cimsdk("convert", model, "--target", "sram-dcim", "-o", tmp_path / "wide", "-q")
    assert res.returncode == 0, res.stderr
    res = cimsdk("compare", model, tmp_path / "wide", "--inputs", "2", "--no-litert", cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_two_converts_into_one_folder_leave_one_complete_output(tmp_path):
    """Concurrent converts (two targets) into one folder: the folder holds one convert's files, all of
    them, never a mix (image from one, report from the other)."""
    out = tmp_path / "out"
    for round_ in range(3):
        procs = [subprocess.Popen(["cimsdk", "convert", str(KWS), "--target", t, "-o", str(out), "-q"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for t in ("nor-acim", "sram-dcim")]
        for p in procs:
            assert p.wait(120) == 0, p.stderr.read()
        fw = json.loads((out / "firmware.json").read_text())
        report = json.loads((out / "report.json").read_text())
        sha = hashlib.sha256((out / "model.cimg").read_bytes()).hexdigest()
        assert fw["image_sha256"] == sha, f"round {round_}: image and firmware.json from different converts"
        assert report["target"] == fw["target"], f"round {round_}: report and firmware.json differ"
        assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _wait_until_catching(pid: int, sig: int, bound_s: float = HANG_S) -> None:
    """Until process `pid` has a handler for `sig` (its SigCgt mask in /proc), a bounded wait."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        if "\nState:\tZ" in status:  # already finished (not yet reaped)
            return
        caught = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")), 16)
        if caught >> (sig - 1) & 1:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never caught signal {sig}")


def test_interrupted_convert_leaves_no_output(tmp_path):
    out = tmp_path / "vww"
    for delay in (0.0, 0.5, 1.0, 1.5, 2.0):
        # Python itself (no launcher script), interrupted only once cimsdk's CLI runs (it catches SIGTERM;
        # Python alone does not): earlier, SIGINT ends the launcher script or Python's own start-up, which
        # under load made this test fail by chance (exit -2).
        proc = subprocess.Popen([sys.executable, "-m", "cimsdk", "convert", str(MODELS / "vww_96_int8.tflite"),
                                 "-o", str(out), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_until_catching(proc.pid, signal.SIGTERM)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        status = proc.wait(60)
        err = proc.stderr.read()
        assert "Traceback" not in err
        if status == 0:  # finished first: then complete
            assert (out / "model.cimg").is_file() and (out / "report.json").is_file()
            break
        assert status == 130, err
        assert not out.exists()
        deadline = time.monotonic() + 5
        while [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_stale_temporaries_of_a_killed_writer_are_swept(tmp_path):
    """A writer killed outright (power cut) leaves `.NAME.PID.*.tmp`; the next writer removes it."""
    from cimconv import atomic

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".out.{dead}.abc123.tmp"
    stale.mkdir()
    (stale / "half.cimg").write_bytes(b"half")
    mine = tmp_path / f".out.{os.getpid()}.keep.tmp"
    mine.mkdir()
    with atomic.output_dir(tmp_path / "out") as d:
        (d / "x").write_text("x")
    assert not stale.exists() and mine.exists()
    assert (tmp_path / "out" / "x").read_text() == "x"


@pytest.mark.qemu
def test_two_emulators_cannot_share_a_flash_file(tmp_path):
    from cimsdk.build import build_firmware

    elf = build_firmware(tmp_path / "fw", "qemu-virt-rv32", "soft", quiet=True)
    flash = tmp_path / "flash.bin"
    first = procs.spawn(["cimsdk", "emulate", "--firmware", str(elf), "--backend", "soft", "--flash", str(flash),
                              "--no-wait"], stderr=subprocess.PIPE, text=True)
    try:
        assert "UART at" in first.stderr.readline()
        res = cimsdk("emulate", "--firmware", elf, "--backend", "soft", "--flash", flash, "--no-wait", timeout=60)
        assert "in use by another emulated board" in one_line_error(res)
    finally:
        procs.stop(first, grace=30, sig=signal.SIGINT)  # Ctrl-C; killed if it does not end, so nothing stays


@pytest.mark.qemu
def test_emulate_keeps_an_installed_bootloader(tmp_path):
    """`emulate --flash F` used to rewrite F's bootloader with the default unsigned build."""
    from cimsdk.flash.layout import layout_for

    lay = layout_for("qemu-virt-rv32")
    flash = tmp_path / "flash.bin"
    other = bytes(range(256)) * 64  # stands for another (e.g. signed-only) bootloader build
    flash.write_bytes(other + b"\xff" * (lay.flash_size - len(other)))

    def emulate(*extra: str) -> str:
        proc = procs.spawn(["cimsdk", "emulate", "--flash", str(flash), "--no-wait", *extra],
                                stderr=subprocess.PIPE, text=True)
        lines = []
        while not any("UART at" in ln for ln in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        procs.stop(proc, grace=30, sig=signal.SIGINT)  # Ctrl-C; killed if it does not end, so nothing stays
        return "".join(lines)

    assert "--install-bootloader" in emulate()
    assert flash.read_bytes()[: len(other)] == other
    emulate("--install-bootloader")
    assert flash.read_bytes()[: len(other)] != other


def test_names_with_markup_are_printed_as_they_are(tmp_path):
    """Names from the user's files were read as rich markup: `[bold]x` vanished, `m[/]x` crashed."""
    model = tmp_path / "[bold]x.tflite"
    model.write_bytes(KWS.read_bytes())
    assert cimsdk("convert", model, "-o", tmp_path / "out", "-q").returncode == 0
    res = cimsdk("inspect", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "[bold]x" in res.stdout
