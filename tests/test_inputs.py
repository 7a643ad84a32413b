"""`cimsdk.inputs.load_input`: .npy, .wav (both audio routes) and images, and clear errors for bad files."""

import struct
import wave

import numpy as np
import pytest
from PIL import Image

from cimconv.errors import ModelError, UserError
from cimsdk.inputs import InputSpec, load_input

KWS_LABELS = ["Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown"]
MICRO_SPEECH_LABELS = ["silence", "unknown", "yes", "no"]


@pytest.fixture(scope="module")
def kws_spec(models_dir):
    return InputSpec.from_tflite(models_dir / "kws_ref_model.tflite")


@pytest.fixture(scope="module")
def vww_spec(models_dir):
    return InputSpec.from_tflite(models_dir / "vww_96_int8.tflite")


def _run(model, x):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    interp = runtime.Interpreter.from_file(str(model))
    interp.set_input(x, 0)
    interp.invoke()
    return interp.get_output(0)


def _read_int16(path):
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


# --- InputSpec -------------------------------------------------------------------------------------


def test_spec_from_tflite_matches_the_documented_inputs(kws_spec, vww_spec, models_dir):
    assert kws_spec.shape == (1, 49, 10, 1) and kws_spec.dtype == "int8"
    assert kws_spec.scale == pytest.approx(0.5847, abs=1e-4) and kws_spec.zero_point == 83
    assert kws_spec.audio_frontend == "mfcc"
    assert vww_spec.shape == (1, 96, 96, 3) and vww_spec.zero_point == -128
    assert vww_spec.scale == pytest.approx(1 / 255, rel=1e-5)
    ms = InputSpec.from_tflite(models_dir / "micro_speech_quantized.tflite")
    assert ms.shape == (1, 1960) and ms.audio_frontend == "micro_speech"
    f32 = InputSpec.from_tflite(models_dir / "kws_ref_model_float32.tflite")
    assert f32.dtype == "float32" and f32.audio_frontend == "mfcc"


def test_spec_from_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ModelError, match="not a TFLite model"):
        InputSpec.from_tflite(bad)
    with pytest.raises(ModelError, match="cannot read"):
        InputSpec.from_tflite(tmp_path / "missing.tflite")


# --- .npy -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(49, 10, 1), (1, 49, 10, 1), (3, 49, 10, 1), (2, 1, 49, 10, 1)])
def test_npy_with_and_without_batch(tmp_path, kws_spec, shape):
    x = np.arange(np.prod(shape)).reshape(shape).astype(np.int8)
    p = tmp_path / "x.npy"
    np.save(p, x)
    out = load_input(p, kws_spec)
    n = int(np.prod(shape)) // 490
    assert out.shape == (n, 49, 10, 1) and out.dtype == np.int8
    np.testing.assert_array_equal(out.reshape(-1), x.reshape(-1))


def test_npy_wrong_shape_or_dtype(tmp_path, kws_spec):
    p = tmp_path / "x.npy"
    np.save(p, np.zeros((49, 11, 1), np.int8))
    with pytest.raises(UserError, match="shape"):
        load_input(p, kws_spec)
    np.save(p, np.zeros((1, 49, 10, 1), np.float32))
    with pytest.raises(UserError, match="dtype"):
        load_input(p, kws_spec)
    p.write_bytes(b"garbage")
    with pytest.raises(UserError, match="npy"):
        load_input(p, kws_spec)


# --- .wav -------------------------------------------------------------------------------------------


def test_wav_mfcc_route_classifies_yes(data_dir, models_dir, kws_spec):
    x = load_input(data_dir / "yes_1000ms.wav", kws_spec)
    assert x.shape == (1, 49, 10, 1) and x.dtype == np.int8
    assert KWS_LABELS[int(np.argmax(_run(models_dir / "kws_ref_model.tflite", x)))] == "Yes"


def test_wav_micro_speech_route(data_dir, models_dir):
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    model = models_dir / "micro_speech_quantized.tflite"
    spec = InputSpec.from_tflite(model)
    for word in ["yes", "no", "silence"]:  # ../shared/README.md: yes -> yes, no -> no, silence -> silence
        x = load_input(data_dir / f"{word}_1000ms.wav", spec)
        assert x.shape == (1, 1960) and x.dtype == np.int8
        assert MICRO_SPEECH_LABELS[int(np.argmax(_run(model, x)))] == word


def test_float32_stereo_44k_wav_is_mixed_and_resampled(tmp_path, data_dir, models_dir, kws_spec):
    """A recording as editors export it (float, stereo, 44.1 kHz) still reads as the same word."""
    yes = _read_int16(data_dir / "yes_1000ms.wav").astype(np.float64) / 32768.0
    t_new = np.arange(44100) / 44100.0
    up = np.interp(t_new, np.arange(16000) / 16000.0, yes).astype("<f4")
    stereo = np.stack([up, 0.5 * up], axis=1).reshape(-1)
    fmt = struct.pack("<HHIIHH", 3, 2, 44100, 44100 * 8, 8, 32)
    data = stereo.tobytes()
    riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    p = tmp_path / "yes_float.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    x = load_input(p, kws_spec)
    assert KWS_LABELS[int(np.argmax(_run(models_dir / "kws_ref_model.tflite", x)))] == "Yes"


def test_wav_errors(tmp_path, data_dir, kws_spec, vww_spec, models_dir):
    with pytest.raises(UserError, match="audio model"):
        load_input(data_dir / "yes_1000ms.wav", vww_spec)
    fake = tmp_path / "fake.wav"
    fake.write_bytes(b"this is not audio")
    with pytest.raises(UserError, match="not a WAV"):
        load_input(fake, kws_spec)
    hello = InputSpec.from_tflite(models_dir / "hello_world_int8.tflite")
    with pytest.raises(UserError, match="audio model"):
        load_input(data_dir / "yes_1000ms.wav", hello)


# --- images -----------------------------------------------------------------------------------------


def test_bmp_for_vww_is_pixel_minus_128(data_dir, vww_spec):
    x = load_input(data_dir / "person.bmp", vww_spec)
    pixels = np.asarray(Image.open(data_dir / "person.bmp").convert("RGB"), dtype=np.int16)
    assert x.shape == (1, 96, 96, 3) and x.dtype == np.int8
    np.testing.assert_array_equal(x[0].astype(np.int16), pixels - 128)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_png_jpeg_are_resized_and_converted(tmp_path, vww_spec, suffix):
    img = Image.new("RGB", (160, 120), (255, 0, 0))
    p = tmp_path / f"red{suffix}"
    img.save(p)
    x = load_input(p, vww_spec)
    assert x.shape == (1, 96, 96, 3)
    # pure red: R near 255 - 128 = 127, G and B near 0 - 128 = -128 (JPEG may shift a few levels)
    assert np.all(x[0, :, :, 0] >= 120) and np.all(x[0, :, :, 1:] <= -120)
    gray = InputSpec(shape=(1, 32, 32, 1), dtype="int8", scale=1 / 255, zero_point=-128)
    g = load_input(p, gray)
    assert g.shape == (1, 32, 32, 1)
    # ITU-R 601 luma of pure red is 0.299 * 255 = 76 -> 76 - 128 = -52
    assert np.all(np.abs(g.astype(int) + 52) <= 3)


def test_image_errors(tmp_path, data_dir, vww_spec, kws_spec):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match="cannot read image"):
        load_input(bad, vww_spec)
    with pytest.raises(UserError, match="vision model"):
        load_input(data_dir / "person.bmp", kws_spec)


def test_missing_and_unknown_files(tmp_path, kws_spec):
    with pytest.raises(UserError, match="not found"):
        load_input(tmp_path / "nope.wav", kws_spec)
    other = tmp_path / "x.txt"
    other.write_text("1 2 3")
    with pytest.raises(UserError, match="unknown input type"):
        load_input(other, kws_spec)


def test_wav_for_float_model_gives_float_features(data_dir, models_dir):
    """The float KWS model takes the unquantized MFCCs (run by LiteRT: TFLM rejects this hybrid model)."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    model = models_dir / "kws_ref_model_float32.tflite"
    spec = InputSpec.from_tflite(model)
    interp = litert.Interpreter(model_path=str(model))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    for word, label in [("yes", "Yes"), ("silence", "Silence")]:
        x = load_input(data_dir / f"{word}_1000ms.wav", spec)
        assert x.dtype == np.float32 and x.shape == (1, 49, 10, 1)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        assert KWS_LABELS[int(np.argmax(interp.get_tensor(out["index"])))] == label
