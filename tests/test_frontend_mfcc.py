"""The numpy MFCC front end against TensorFlow's tf.signal, and against the model's known answers."""

import wave

import numpy as np
import pytest

from cimsdk.frontend import mfcc

RECORDINGS = ["yes", "no", "silence", "noise"]
# From ../shared/README.md (measured there with TensorFlow's front end and TFLM).
EXPECTED = {"yes": "Yes", "silence": "Silence", "noise": "Unknown", "no": "Go"}
KWS_LABELS = ["Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown"]
SCALE, ZERO_POINT = 0.5847029, 83


def _read(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


@pytest.fixture(scope="module")
def recordings(data_dir):
    return {name: _read(data_dir / f"{name}_1000ms.wav") for name in RECORDINGS}


@pytest.fixture(scope="module")
def kws(models_dir):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    interp = runtime.Interpreter.from_file(str(models_dir / "kws_ref_model.tflite"))

    def classify(features: np.ndarray) -> np.ndarray:
        out = []
        for f in features:
            interp.set_input(f.reshape(1, 49, 10, 1), 0)
            interp.invoke()
            out.append(int(np.argmax(interp.get_output(0))))
        return np.array(out)

    return classify


@pytest.fixture(scope="module")
def synthetic_clips():
    """200+ espeak-ng clips (all 12 labels), or a skip when espeak-ng is missing."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from cimsdk.data import synth

    plans = synth.plan_clips(17, seed=123)  # 204 clips
    return np.stack([synth.render(p) for p in plans])


def _tf_mfcc(clips: np.ndarray) -> np.ndarray:
    """The MLPerf Tiny KWS front end written with tf.signal (reference, float)."""
    tf = pytest.importorskip("tensorflow")
    x = tf.constant(clips.astype(np.float32) / 32768.0)
    x = x / tf.reduce_max(tf.abs(x), axis=1, keepdims=True)
    x = x[:, :16000]
    x = tf.pad(x, [[0, 0], [0, 16000 - x.shape[1]]])
    stft = tf.signal.stft(x, frame_length=480, frame_step=320, fft_length=512)  # periodic Hann by default
    mel_w = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 4000.0)
    mel = tf.tensordot(tf.abs(stft), mel_w, 1)
    log_mel = tf.math.log(mel + 1e-6)
    return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10].numpy()


def _tflite_quantize(x: np.ndarray) -> np.ndarray:
    """TFLite's QUANTIZE rounding (half away from zero), written independently of cimsdk."""
    v = np.asarray(x, np.float64) / SCALE
    return np.clip(np.trunc(v + np.copysign(0.5, v)) + ZERO_POINT, -128, 127).astype(np.int8)


def _compare(ours_q: np.ndarray, theirs_f: np.ndarray) -> tuple[float, int]:
    theirs_q = _tflite_quantize(theirs_f)
    diff = np.abs(ours_q.astype(np.int32) - theirs_q.astype(np.int32))
    return float(np.mean(diff == 0)), int(diff.max())


def test_real_recordings_classify_as_documented(recordings, kws):
    batch = np.stack([recordings[n] for n in RECORDINGS])
    pred = kws(mfcc.mfcc_features(batch, SCALE, ZERO_POINT))
    assert [KWS_LABELS[p] for p in pred] == [EXPECTED[n] for n in RECORDINGS]


def test_features_shape_dtype_and_batch_consistency(recordings):
    one = mfcc.mfcc_features(recordings["yes"])
    batch = mfcc.mfcc_features(np.stack([recordings["no"], recordings["yes"]]))
    assert one.shape == (1, 49, 10, 1) and one.dtype == np.int8
    assert batch.shape == (2, 49, 10, 1)
    np.testing.assert_array_equal(batch[1], one[0])


def test_short_and_long_clips_are_padded_or_cut(recordings):
    yes = recordings["yes"]
    long = np.concatenate([yes, yes[:4000]])
    np.testing.assert_array_equal(mfcc.mfcc_float(long), mfcc.mfcc_float(yes))
    short = mfcc.mfcc_float(yes[:8000])
    assert short.shape == (1, 49, 10) and np.all(np.isfinite(short))


def test_all_zero_clip_is_finite():
    f = mfcc.mfcc_float(np.zeros(16000, np.int16))
    assert np.all(np.isfinite(f))


def test_mel_matrix_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    ref = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 4000.0).numpy()
    np.testing.assert_allclose(mfcc.mel_matrix(), ref, atol=1e-5)


def test_quantized_features_match_tensorflow_on_real_recordings(recordings, kws):
    batch = np.stack([recordings[n] for n in RECORDINGS])
    ref = _tf_mfcc(batch)
    ours = mfcc.mfcc_float(batch)
    np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=0)
    ours_q = mfcc.mfcc_features(batch, SCALE, ZERO_POINT)[..., 0]
    equal, worst = _compare(ours_q, ref)
    assert equal >= 0.99 and worst <= 1
    ref_q = _tflite_quantize(ref)[..., None]
    np.testing.assert_array_equal(kws(mfcc.mfcc_features(batch, SCALE, ZERO_POINT)), kws(ref_q))


def test_quantized_features_match_tensorflow_on_200_synthetic_clips(synthetic_clips, kws):
    ref = _tf_mfcc(synthetic_clips)
    ours_q = mfcc.mfcc_features(synthetic_clips, SCALE, ZERO_POINT)
    assert ours_q.shape[0] >= 200
    equal, worst = _compare(ours_q[..., 0], ref)
    assert equal >= 0.99, f"only {equal:.4%} of quantized values equal TensorFlow's"
    assert worst <= 1
    np.testing.assert_array_equal(kws(ours_q), kws(_tflite_quantize(ref)[..., None]))
