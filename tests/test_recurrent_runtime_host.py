"""The firmware runtime built natively (tests/c/runtime_build.py) on SVDF images: frames in order through
one loaded image equal the golden model's stream, and the loader rejects a damaged state flag."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from svdf_models import SvdfLayer, svdf_model
from test_recurrent_svdf import KEYWORD, keyword_frames
from test_runtime_host import RC, _load_rc, _patch_section, rb

from cimconv.image import TENSOR_RECORD_SIZE, parse_image
from cimconv.pipeline import convert
from cimsdk.golden import Executor

pytestmark = pytest.mark.skipif(not rb.have_gcc(), reason="needs gcc")
SEC_TENSORS = 2
FLAGS = 3  # byte of the flags field in a tensor record (docs/image-format.md)


@pytest.fixture(scope="module")
def exe(tmp_path_factory) -> Path:
    return rb.build_host(tmp_path_factory.mktemp("rt"), ["FULLY_CONNECTED", "SVDF", "QUANTIZE", "SOFTMAX"])


@pytest.fixture(scope="module")
def own_image(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("m") / "svdf.tflite"
    path.write_bytes(svdf_model([SvdfLayer(48, 24, 2, 10), SvdfLayer(32, 20, 1, 14)], seed=6))
    return convert(path, "sram-dcim").image_bytes


def _frames_in_c(exe: Path, image: bytes, xs: np.ndarray, tmp: Path) -> np.ndarray:
    img = parse_image(image)
    out = img.tensors[img.output_tensor]
    (tmp / "m.cimg").write_bytes(image)
    np.ascontiguousarray(xs).tofile(tmp / "in.bin")
    proc = rb.run_host(exe, tmp / "m.cimg", tmp / "in.bin", tmp / "out.bin")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ran {len(xs)}\n" in proc.stdout
    return np.fromfile(tmp / "out.bin", dtype=out.dtype).reshape((len(xs), *out.shape[1:]))


def test_own_svdf_frames_equal_golden(exe: Path, own_image: bytes, tmp_path: Path) -> None:
    xs = np.random.default_rng(1).integers(-128, 128, size=(40, 48)).astype(np.int8)
    want = Executor(own_image).run_frames(xs)
    got = _frames_in_c(exe, own_image, xs, tmp_path)
    assert int((got != want).sum()) == 0 and len(np.unique(want)) > 50


def test_int16_state_svdf_frames_equal_golden(exe: Path, tmp_path: Path) -> None:
    """int16 state: the soft macro writes the int16 feature values, the C SVDF kernel keeps the int16 state."""
    path = tmp_path / "svdf16.tflite"
    path.write_bytes(svdf_model([SvdfLayer(48, 24, 2, 10, state="int16"), SvdfLayer(32, 20, 1, 14, state="int16")],
                                seed=7))
    image = convert(path, "nor-acim").image_bytes
    xs = np.random.default_rng(3).integers(-128, 128, size=(40, 48)).astype(np.int8)
    want = Executor(image).run_frames(xs)
    got = _frames_in_c(exe, image, xs, tmp_path)
    assert int((got != want).sum()) == 0 and len(np.unique(want)) > 50


def test_keyword_frames_equal_golden(exe: Path, tmp_path: Path) -> None:
    image = convert(KEYWORD, "nor-acim").image_bytes
    xs = keyword_frames(30, seed=2)[:, 0]
    want = Executor(image).run_frames(xs)
    got = _frames_in_c(exe, image, xs, tmp_path)
    assert got.dtype == np.int32 and int((got != want).sum()) == 0


def _state_and_const(image: bytes) -> tuple[int, int]:
    img = parse_image(image)
    state = img.state_tensors[0]
    const = next(i for i, t in enumerate(img.tensors) if t.storage == 1)
    return state, const


def test_loader_checks_the_state_flag(exe: Path, own_image: bytes, tmp_path: Path) -> None:
    state, const = _state_and_const(own_image)
    assert _load_rc(exe, own_image, tmp_path) == 0
    cleared = _patch_section(own_image, SEC_TENSORS, state * TENSOR_RECORD_SIZE + FLAGS, b"\0")
    assert _load_rc(exe, cleared, tmp_path) == RC["CIM_RT_E_PROGRAM"]  # SVDF's state must be a state tensor
    on_const = _patch_section(own_image, SEC_TENSORS, const * TENSOR_RECORD_SIZE + FLAGS, b"\1")
    assert _load_rc(exe, on_const, tmp_path) == RC["CIM_RT_E_TENSOR"]
    undefined = _patch_section(own_image, SEC_TENSORS, state * TENSOR_RECORD_SIZE + FLAGS, struct.pack("B", 3))
    assert _load_rc(exe, undefined, tmp_path) == RC["CIM_RT_E_TENSOR"]


def test_host_checker_agrees_on_the_state_flag(own_image: bytes) -> None:
    """The host parser (cimconv.image_check) refuses the same damaged images, resealed so its SHA-256 holds."""
    import hashlib

    from cimconv.image import ImageError

    def resealed(data: bytes) -> bytes:
        return data[:-32] + hashlib.sha256(data[:-32]).digest()

    state, const = _state_and_const(own_image)
    for where, value, what in ((state, 0, "reads tensor .* before any op writes it"), (const, 1, "flags"),
                               (state, 3, "flags")):
        bad = resealed(_patch_section(own_image, SEC_TENSORS, where * TENSOR_RECORD_SIZE + FLAGS, bytes([value])))
        with pytest.raises(ImageError, match=what):
            parse_image(bad)
