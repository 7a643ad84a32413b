"""The firmware runtime (firmware/runtime + the soft CiM kernels + the CPU kernels) built natively with gcc,
checked element for element against the host golden model, and fed corrupt images.

The golden model (cimsdk.golden) is an independent implementation in numpy; the C side is the code the
device runs. Images come from `cimsdk convert` on the shared models and from tests/c/synth_images.py
for geometries those models lack.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import cimsdk

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / "c" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


rb = _load("runtime_build")
synth = _load("synth_images")

pytestmark = pytest.mark.skipif(not rb.have_gcc(), reason="needs gcc")

CIM_OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE"]
MODELS = ["hello_world_int8", "micro_speech_quantized", "kws_ref_model", "vww_96_int8"]


def _rt_codes() -> dict[str, int]:
    """Error codes as the C header defines them (parsed, not restated)."""
    text = (cimsdk.project_root() / "firmware" / "runtime" / "cim_runtime.h").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"#define (CIM_RT_E_\w+) \((-\d+)\)", text)}


RC = _rt_codes()


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rt")


@pytest.fixture(scope="module")
def cim_exe(build_dir: Path) -> Path:
    """Runtime with only the CiM ops and RESHAPE linked (as a model-specific firmware would be)."""
    return rb.build_host(build_dir, CIM_OPS)


@pytest.fixture(scope="module")
def full_exe(build_dir: Path) -> Path:
    """Runtime with every op (the default firmware)."""
    return rb.build_host(build_dir, None)


def _golden(image: bytes, x: np.ndarray) -> np.ndarray:
    from cimsdk.golden.executor import Executor

    return np.asarray(Executor(image).run(x))


def _run_c(exe: Path, image_path: Path, x: np.ndarray, out_shape: tuple[int, ...], tmp: Path) -> np.ndarray:
    inp, outp = tmp / "in.bin", tmp / "out.bin"
    np.ascontiguousarray(x).tofile(inp)
    proc = rb.run_host(exe, image_path, inp, outp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = x.size // int(np.prod(_input_rec(image_path.read_bytes()).shape))  # the model's batch per invoke
    assert f"ran {runs}\n" in proc.stdout
    return np.fromfile(outp, dtype=np.int8).reshape(out_shape)


def _input_rec(image: bytes):
    from cimconv.image import parse_image

    img = parse_image(image)
    return img.tensors[img.input_tensor]


def _random_inputs(image: bytes, n: int, seed: int) -> np.ndarray:
    rec = _input_rec(image)
    n = -(-n // rec.shape[0]) * rec.shape[0]  # whole invocations of a batched model
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, *rec.shape[1:]), dtype=np.int8)


def _check(exe: Path, image: bytes, tmp: Path, n: int, seed: int = 0) -> None:
    path = tmp / "model.cimg"
    path.write_bytes(image)
    x = _random_inputs(image, n, seed)
    want = _golden(image, x)
    got = _run_c(exe, path, x, want.shape, tmp)
    bad = int(np.count_nonzero(got != want))
    assert bad == 0, f"{bad} of {want.size} outputs differ from the golden model"


@pytest.mark.parametrize("name", ["two_heads", "two_in_two_out"])
def test_several_inputs_and_outputs_equal_golden(full_exe: Path, tmp_path: Path, name: str) -> None:
    """Models of two heads and of two inputs and two outputs (built with TensorFlow): the C runtime reads
    every input and writes every output, each equal to the golden model's."""
    import edge_models

    from cimconv.pipeline import convert
    from cimsdk.golden.executor import Executor

    model = tmp_path / f"{name}.tflite"
    model.write_bytes(getattr(edge_models, name)(seed=2))
    conv = convert(model, "sram-dcim")
    img = conv.image
    path = tmp_path / "model.cimg"
    path.write_bytes(conv.image_bytes)
    rng = np.random.default_rng(6)
    n = 40
    xs = [rng.integers(-128, 128, size=(n, *img.tensors[io.tensor].shape[1:]), dtype=np.int8) for io in img.inputs]
    want = Executor(img).run_all(xs)
    inp, outp = tmp_path / "in.bin", tmp_path / "out.bin"
    np.concatenate([x.reshape(n, -1) for x in xs], axis=1).tofile(inp)
    proc = rb.run_host(full_exe, path, inp, outp)
    assert proc.returncode == 0 and f"ran {n}\n" in proc.stdout, proc.stdout + proc.stderr
    got = np.fromfile(outp, dtype=np.int8).reshape(n, -1)
    assert np.array_equal(got, np.concatenate([y.reshape(n, -1) for y in want], axis=1))


# --- synthetic CiM layers ------------------------------------------------------------------------
L = synth.Layer
SYNTH_CASES = {
    "conv3x3_same_s1": ((2, 7, 6, 5), [L("conv", 9, 3, 3)]),
    "conv3x3_same_s2_odd": ((1, 9, 7, 3), [L("conv", 6, 3, 3, stride=(2, 2))]),
    "conv_valid_rect": ((1, 8, 10, 4), [L("conv", 7, 2, 5, padding="valid", stride=(1, 2))]),
    "conv_dilated_relu": ((1, 11, 9, 2), [L("conv", 5, 3, 3, dil=(2, 3), act=(-100, 60))]),
    "conv1x1_s2": ((1, 6, 6, 12), [L("conv", 10, 1, 1, stride=(2, 2), padding="valid")]),
    "conv_k_over_patch": ((1, 6, 5, 80), [L("conv", 6, 3, 3)]),  # K = 720 > CIM_SOFT_PATCH_MAX
    "conv_leftshift": ((1, 5, 5, 2), [L("conv", 4, 2, 2, scale_boost=5.5, wmax=1, bmax=40)]),
    "dw3x3_m1": ((1, 7, 5, 10), [L("dw", kh=3, kw=3)]),
    "dw3x3_s2": ((1, 8, 9, 8), [L("dw", kh=3, kw=3, stride=(2, 2))]),
    "dw5x2_m3_dil": ((2, 9, 8, 3), [L("dw", kh=5, kw=2, depth_mult=3, dil=(1, 2))]),
    "dw_valid_m1_k4": ((1, 6, 6, 7), [L("dw", kh=2, kw=2, padding="valid")]),
    "dw_wide_channels": ((1, 3, 3, 600), [L("dw", kh=3, kw=3)]),  # C > CIM_SOFT_PATCH_MAX: checked path
    "fc_odd": ((3, 37), [L("fc", 11)]),
    "chain": ((1, 10, 8, 3), [L("conv", 8, 3, 3, stride=(2, 2)), L("dw", kh=3, kw=3),
                              L("conv", 12, 1, 1, padding="valid"), L("reshape"), L("fc", 5)]),
}


@pytest.mark.parametrize("case", sorted(SYNTH_CASES))
def test_cim_layer_matches_golden(case: str, cim_exe: Path, tmp_path: Path) -> None:
    in_shape, layers = SYNTH_CASES[case]
    image = synth.make_image(in_shape, layers, seed=zlib.crc32(case.encode()) % 1000)
    _check(cim_exe, image, tmp_path, n=4, seed=1)


def test_synthetic_outputs_are_not_all_clamped() -> None:
    """The layer tests only prove rounding when outputs land inside the activation range."""
    from cimsdk.golden.executor import Executor

    for case, (in_shape, layers) in SYNTH_CASES.items():
        image = synth.make_image(in_shape, layers, seed=zlib.crc32(case.encode()) % 1000)
        ex = Executor(image)
        y = np.asarray(ex.run(_random_inputs(image, 4, 1)))
        lo, hi = layers[-1].act if layers[-1].kind != "reshape" else (-128, 127)
        inside = np.mean((y > lo) & (y < hi))
        assert inside > 0.2, f"{case}: only {inside:.0%} of outputs inside the range"
        if case == "conv_leftshift":
            assert (ex.image.matrices[0].shift > 0).any(), "no left shift exercised"


# --- converted shared models ------------------------------------------------------------------------
def _convert(models_dir: Path, name: str, out: Path) -> Path:
    proc = subprocess.run([sys.executable, "-c", "from cimsdk.cli import main; main()", "convert",
                           str(models_dir / f"{name}.tflite"), "--target", "sram-dcim", "-o", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "model.cimg"


@pytest.fixture(scope="module")
def converted(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("conv")
    return {m: _convert(models_dir, m, base / m) for m in MODELS}


@pytest.mark.parametrize("model", MODELS)
def test_model_matches_golden(model: str, converted: dict[str, Path], build_dir: Path, tmp_path: Path) -> None:
    """The model-specific build (only the image's ops linked, as `firmware build` does) on 20 random inputs."""
    fw = json.loads((converted[model].parent / "firmware.json").read_text())
    exe = rb.build_host(build_dir, fw["ops"])
    _check(exe, converted[model].read_bytes(), tmp_path, n=20, seed=7)


def test_model_default_build_kws(converted: dict[str, Path], full_exe: Path, tmp_path: Path) -> None:
    _check(full_exe, converted["kws_ref_model"].read_bytes(), tmp_path, n=8, seed=3)


# --- corrupt and unsupported images -------------------------------------------------------------------
def _load_rc(exe: Path, data: bytes, tmp: Path) -> int:
    p = tmp / "x.cimg"
    p.write_bytes(data)
    proc = rb.run_host(exe, p)
    m = re.match(r"load (-?\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert (proc.returncode == 0) == (m[1] == "0")
    return int(m[1])


def _sections(data: bytes) -> dict[int, tuple[int, int, int]]:
    """id -> (table entry offset, section offset, size), read with the spec's layout."""
    nsec, table = struct.unpack_from("<II", data, 24)
    out = {}
    for i in range(nsec):
        sid, off, size, _crc = struct.unpack_from("<IIII", data, table + 16 * i)
        out[sid] = (table + 16 * i, off, size)
    return out


def _patch_section(data: bytes, sid: int, rel: int, new: bytes) -> bytes:
    """Overwrite bytes inside section `sid` and fix its CRC32: reaches the checks behind the CRC."""
    entry, off, size = _sections(data)[sid]
    b = bytearray(data)
    b[off + rel : off + rel + len(new)] = new
    struct.pack_into("<I", b, entry + 12, zlib.crc32(bytes(b[off : off + size])))
    return bytes(b)


@pytest.fixture(scope="module")
def good_image() -> bytes:
    return synth.make_image((1, 6, 5, 3), [L("conv", 4, 3, 3), L("dw", kh=3, kw=3), L("reshape"), L("fc", 3)])


def test_good_image_loads(cim_exe: Path, good_image: bytes, tmp_path: Path) -> None:
    assert _load_rc(cim_exe, good_image, tmp_path) == 0


def test_bad_magic(cim_exe: Path, good_image: bytes, tmp_path: Path) -> None:
    assert _load_rc(cim_exe, b"XIMG" + good_image[4:], tmp_path) == RC["CIM_RT_E_MAGIC"]


def test_other_major_version(cim_exe: Path, good_image: bytes, tmp_path: Path) -> None:
    data = bytearray(good_image)
    struct.pack_into("<H", data, 4, 2)
    assert _load_rc(cim_exe, bytes(data), tmp_path) == RC["CIM_RT_E_VERSION"]


@pytest.mark.parametrize("cut", [10, 64, 200, -33, -1])
def test_truncated(cim_exe: Path, good_image: bytes, tmp_path: Path, cut: int) -> None:
    assert _load_rc(cim_exe, good_image[:cut], tmp_path) == RC["CIM_RT_E_TRUNCATED"]


@pytest.mark.parametrize("sid", [2, 3, 4, 6, 7])  # tensors, program, matrices, cells, quant
def test_flipped_bit_fails_crc(cim_exe: Path, good_image: bytes, tmp_path: Path, sid: int) -> None:
    _entry, off, size = _sections(good_image)[sid]
    data = bytearray(good_image)
    data[off + size // 2] ^= 0x10
    assert _load_rc(cim_exe, bytes(data), tmp_path) == RC["CIM_RT_E_CRC"]


def test_section_past_end(cim_exe: Path, good_image: bytes, tmp_path: Path) -> None:
    entry, _off, _size = _sections(good_image)[6]
    data = bytearray(good_image)
    struct.pack_into("<I", data, entry + 8, len(good_image))
    assert _load_rc(cim_exe, bytes(data), tmp_path) == RC["CIM_RT_E_SECTION"]


def test_tensor_outside_arena(cim_exe: Path, good_image: bytes, tmp_path: Path) -> None:
    arena = struct.unpack_from("<I", good_image, 32)[0]
    data = _patch_section(good_image, 2, 36 + 20, struct.pack("<I", arena))  # tensor 1 offset
    assert _load_rc(cim_exe, data, tmp_path) == RC["CIM_RT_E_TENSOR"]


def test_op_with_bad_tensor_id(cim_exe: Path, good_image: bytes, tmp_path: Path) -> None:
    data = _patch_section(good_image, 3, 8, struct.pack("<H", 999))  # op 0 input id
    assert _load_rc(cim_exe, data, tmp_path) == RC["CIM_RT_E_PROGRAM"]


def test_matrix_shape_mismatch(cim_exe: Path, good_image: bytes, tmp_path: Path) -> None:
    data = _patch_section(good_image, 4, 4, struct.pack("<I", 26))  # matrix 0 rows 27 -> 26
    assert _load_rc(cim_exe, data, tmp_path) == RC["CIM_RT_E_MATRIX"]


def test_arena_too_large(build_dir: Path, good_image: bytes, tmp_path: Path) -> None:
    arena = struct.unpack_from("<I", good_image, 32)[0]
    small = rb.build_host(build_dir, CIM_OPS, extra=[f"-DCIM_ARENA_SIZE={arena - 4}u"])
    assert _load_rc(small, good_image, tmp_path) == RC["CIM_RT_E_ARENA"]
    exact = rb.build_host(build_dir, CIM_OPS, extra=[f"-DCIM_ARENA_SIZE={arena}u"])
    assert _load_rc(exact, good_image, tmp_path) == 0


def test_op_not_linked(build_dir: Path, good_image: bytes, tmp_path: Path) -> None:
    no_fc = rb.build_host(build_dir, ["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE"])
    assert _load_rc(no_fc, good_image, tmp_path) == RC["CIM_RT_E_OP_MISSING"]


def test_unlisted_kernels_are_not_linked(build_dir: Path) -> None:
    """A model-specific build references only its ops' kernels (the rest drop out at link time)."""
    exe = rb.build_host(build_dir, ["FULLY_CONNECTED", "SOFTMAX"], all_sources=True)
    syms = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    assert "cim_kernel_softmax" in syms
    assert "cim_kernel_add" not in syms and "cim_soft_conv" not in syms
