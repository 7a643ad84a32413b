"""The golden model equals TFLM on every element: shared models, real inputs, and models of our own."""

from __future__ import annotations

import numpy as np
import pytest
from paths import DATA, INT8_MODELS, MODELS, TARGETS

from cimconv.pipeline import convert
from cimsdk.golden import Executor
from cimsdk.reference import TFLM

N_RANDOM = 100


def random_inputs(exe: Executor, n: int, seed: int) -> np.ndarray:
    rec = exe.image.tensors[exe.image.input_tensor]
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, *rec.shape[1:])).astype(np.int8)


def assert_equal_tflm(model, conv, xs: np.ndarray) -> None:
    ours = Executor(conv.image_bytes).run(xs)
    ref = TFLM(model).run(xs)
    assert ours.shape == ref.shape
    bad = int((ours != ref).sum())
    assert bad == 0, f"{bad} of {ref.size} elements differ from TFLM"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", INT8_MODELS)
def test_shared_models_random_inputs(name, target):
    model = MODELS / f"{name}.tflite"
    conv = convert(model, target)
    xs = random_inputs(Executor(conv.image_bytes), N_RANDOM, seed=hash(name) % 1000)
    assert_equal_tflm(model, conv, xs)


@pytest.mark.parametrize("target", TARGETS)
def test_vww_real_images(target):
    from cimsdk.inputs import InputSpec, load_input

    model = MODELS / "vww_96_int8.tflite"
    conv = convert(model, target)
    spec = InputSpec.from_tflite(model)
    xs = np.concatenate([load_input(DATA / f, spec) for f in ("person.bmp", "no_person.bmp")])
    assert_equal_tflm(model, conv, xs)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", ["kws_ref_model", "micro_speech_quantized"])
def test_audio_models_real_recordings(name, target):
    from cimsdk.inputs import InputSpec, load_input

    model = MODELS / f"{name}.tflite"
    conv = convert(model, target)
    spec = InputSpec.from_tflite(model)
    xs = np.concatenate([load_input(w, spec) for w in sorted(DATA.glob("*.wav"))])
    assert len(xs) == 4
    assert_equal_tflm(model, conv, xs)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    pytest.importorskip("tensorflow")
    import tfmodels

    out = tmp_path_factory.mktemp("zoo")
    paths = {}
    for i, (name, shape, factory) in enumerate(tfmodels.architectures()):
        p = out / f"{name}.tflite"
        p.write_bytes(tfmodels.build(name, shape, factory, seed=i))
        paths[name] = p
    return paths


@pytest.mark.parametrize("target", TARGETS)
def test_own_models(zoo, target):
    for name, path in zoo.items():
        conv = convert(path, target)
        assert conv.report["totals"]["cim_macs"] > 0, name
        xs = random_inputs(Executor(conv.image_bytes), N_RANDOM, seed=7)
        assert_equal_tflm(path, conv, xs)


def test_own_models_use_many_tiles(zoo):
    conv = convert(zoo["wide_conv"], "sram-dcim")
    assert any(len(m.tiles) > 4 for m in conv.image.matrices)
