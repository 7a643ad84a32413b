"""Fuzzing the converter with damaged models: the only outcomes are a converted model or a one-line UserError.

Models are the shared real ones, damaged by `fuzzing.mutate_model` (byte damage and structure-aware
flatbuffer field edits) with fixed seeds: a failure prints its seed, case number and mutation, and
`mutate_model(name, base, np.random.default_rng([seed, case]))` rebuilds it. Most cases run the pipeline
`cimsdk convert` uses in-process; a few go through the real CLI (exit status, stderr, output folder).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fuzzing import Tally, load_models, message_problem, mutate_model, pick_model, set_field

from cimconv.errors import ModelError
from cimconv.pipeline import convert
from cimconv.target import load_target

SEED = 20240611
TARGETS = ("sram-dcim", "nor-acim")


def fuzz_in_process(models_dir: Path, tmp: Path, seed: int, n: int) -> Tally:
    models = load_models(models_dir)
    assert models, f"no models in {models_dir}"
    targets = [load_target(t) for t in TARGETS]
    tally = Tally("fuzz models")
    for case in range(n):
        rng = np.random.default_rng([seed, case])
        name, base = pick_model(models, rng)
        data, what = mutate_model(name, base, rng)
        path = tmp / f"case{case % 8}.tflite"
        path.write_bytes(data)
        target = targets[case % len(targets)]
        tally.run(f"seed {seed} case {case} ({name}, {target.name}: {what})", lambda p=path, t=target: convert(p, t),
                  timeout=60)
    return tally


def test_fuzz_models_in_process(models_dir: Path, tmp_path: Path) -> None:
    tally = fuzz_in_process(models_dir, tmp_path, SEED, 400)
    assert tally.ok > 0 and tally.rejected > 0, tally.line()  # the mutations reach both outcomes
    tally.check()


@pytest.mark.slow
def test_fuzz_models_in_process_10k(models_dir: Path, tmp_path: Path) -> None:
    tally = fuzz_in_process(models_dir, tmp_path, SEED + 1, 10_000)
    tally.check()


def test_fuzz_models_cli(models_dir: Path, tmp_path: Path) -> None:
    """The real `cimsdk convert`: exit 0 or 2, one stderr line, no traceback, no half-written folder, no hang."""
    models = load_models(models_dir)
    seed = SEED + 2
    bad = []
    counts = {0: 0, 2: 0}
    n = 20
    for case in range(n):
        rng = np.random.default_rng([seed, case])
        name, base = pick_model(models, rng)
        data, what = mutate_model(name, base, rng)
        work = tmp_path / f"c{case}"
        work.mkdir()
        (work / "m.tflite").write_bytes(data)
        label = f"seed {seed} case {case} ({name}: {what})"
        try:
            res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "convert", "m.tflite", "-o", "out", "-q",
                                  "-t", TARGETS[case % 2]], cwd=work, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            bad.append(f"{label}: no result after 120 s")
            continue
        err = res.stderr.strip()
        leftovers = sorted(p.name for p in work.iterdir() if p.name.startswith(".out"))
        if res.returncode not in counts or "Traceback" in res.stderr or leftovers:
            bad.append(f"{label}: exit {res.returncode}, leftovers {leftovers}, stderr {err[-500:]!r}")
        elif res.returncode == 2 and (len(err.splitlines()) != 1 or not err.startswith("error: ")
                                      or (work / "out").exists()):
            bad.append(f"{label}: exit 2 with stderr {err[:500]!r}, out exists {(work / 'out').exists()}")
        elif res.returncode == 0 and not (work / "out" / "model.cimg").is_file():
            bad.append(f"{label}: exit 0 but no out/model.cimg")
        else:
            counts[res.returncode] += 1
    print(f"fuzz models CLI: {n} mutated, {counts[0]} converted, {counts[2]} rejected, {len(bad)} crashes")
    assert not bad, "\n".join(bad)


# --- one regression test per kind of crash the adversarial run found --------------------------------------
def _convert_bytes(tmp: Path, data: bytes, target: str = "sram-dcim"):
    path = tmp / "damaged.tflite"
    path.write_bytes(data)
    return convert(path, target)


def _rejects(tmp: Path, data: bytes, *words: str) -> str:
    with pytest.raises(ModelError) as exc:
        _convert_bytes(tmp, data)
    msg = str(exc.value)
    assert message_problem(exc.value) is None, msg
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)
    return msg


@pytest.fixture(scope="module")
def hello(models_dir: Path) -> bytes:
    """hello_world_int8: three FULLY_CONNECTED ops 0 -> 7 -> 8 -> 9; tensor 6 is op 0's (16, 1) weights."""
    return (models_dir / "hello_world_int8.tflite").read_bytes()


def test_weights_shape_larger_than_buffer(hello: bytes, tmp_path: Path) -> None:
    """Was: ValueError from a reshape in lowering/fully_connected.py."""
    _rejects(tmp_path, set_field(hello, "shape", 6, 17), "tensor 6", "needs 17 bytes", "buffer")


@pytest.mark.parametrize("scale", [0.0, -0.5, float("nan"), float("inf")])
def test_bad_quantization_scale(hello: bytes, tmp_path: Path, scale: float) -> None:
    """Was: ZeroDivisionError / NaN / OverflowError in qmath.py."""
    _rejects(tmp_path, set_field(hello, "scale", 7, scale), "tensor 7", "scale", "positive finite")


def test_zero_point_out_of_range(hello: bytes, tmp_path: Path) -> None:
    _rejects(tmp_path, set_field(hello, "zp", 7, 300), "zero point 300", "int8")


def test_extreme_scales(hello: bytes, tmp_path: Path) -> None:
    """A denormal weight scale gives TFLM's zero multiplier, equal to TFLM. Input x weight scales beyond
    float32's range were an OverflowError in qmath.quantize_multiplier; multiplied in double, as TFLM
    does, they saturate the multiplier: the converter gives an image or a one-line ModelError, never a
    crash (TFLM itself refuses this model at prepare)."""
    from cimsdk.golden import Executor
    from cimsdk.reference import TFLM

    denormal = set_field(hello, "scale", 6, 1e-45)
    xs = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    conv = _convert_bytes(tmp_path, denormal)
    assert np.array_equal(Executor(conv.image_bytes).run(xs), TFLM(denormal).run(xs))
    try:
        _convert_bytes(tmp_path, set_field(set_field(hello, "scale", 0, 3e38), "scale", 6, 3e38))
    except ModelError as exc:
        assert message_problem(exc) is None, str(exc)


def test_zero_dimension(hello: bytes, tmp_path: Path) -> None:
    """Was: ZeroDivisionError in lowering."""
    _rejects(tmp_path, set_field(hello, "shape", 7, 0, element=1), "tensor 7", "at least 1")


def test_operator_input_index_out_of_range(hello: bytes, tmp_path: Path) -> None:
    _rejects(tmp_path, set_field(hello, "op_in", 1, 99), "operator 1", "tensor 99", "10 tensors")


def test_operator_reads_a_tensor_written_later(hello: bytes, tmp_path: Path) -> None:
    """Was: KeyError in the planner (a tensor without an arena offset)."""
    _rejects(tmp_path, set_field(hello, "op_in", 1, 8), "operator 1", "no earlier operator writes")


def test_model_output_index_out_of_range(hello: bytes, tmp_path: Path) -> None:
    """Was: IndexError in passes.py."""
    _rejects(tmp_path, set_field(hello, "sg_out", -1, 12), "model output", "tensor 12")


def test_operator_with_no_inputs(hello: bytes, tmp_path: Path) -> None:
    """Was: IndexError in _conv_common / fully_connected (op.inputs[1] of an empty list)."""
    _rejects(tmp_path, set_field(hello, "op_in_len", 0, 0), "operator 0", "0 inputs")


def test_five_dimensional_activation(models_dir: Path, tmp_path: Path) -> None:
    """Was: struct.error writing a tensor record (the image holds up to 4 dims)."""
    kws = (models_dir / "kws_ref_model.tflite").read_bytes()
    msg = _rejects(tmp_path, set_field(kws, "shape_len", 0, 5))
    assert "tensor 0" in msg or "corrupt" in msg, msg


def test_long_tensor_name_is_clipped(models_dir: Path, tmp_path: Path) -> None:
    """A 600-character (garbage) input tensor name and an int16 input: the message names it in one short line."""
    kws = (models_dir / "kws_ref_model.tflite").read_bytes()
    data = set_field(set_field(kws, "name_len", 0, 600), "ttype", 0, 7)  # 7: INT16
    msg = _rejects(tmp_path, data, "tensor 0", "int16")
    assert "..." in msg and len(msg) < 400, msg


def test_unknown_fused_activation(hello: bytes, tmp_path: Path) -> None:
    """An activation code the schema does not define is named, not read as NONE."""
    from fuzzing import model_sites

    op0 = [s for s in model_sites(hello) if s.kind == "opt_field"][0]  # FullyConnectedOptions' first field
    data = bytearray(hello)
    data[op0.pos] = 77
    _rejects(tmp_path, bytes(data), "activation")
