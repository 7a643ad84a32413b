"""`cimsdk data kws-synth`, the labelled-folder loader and `cimsdk data accuracy`."""

import json
import shutil
import subprocess
import sys
import wave

import numpy as np
import pytest

from cimconv.errors import UserError
from cimsdk.data import folder
from cimsdk.inputs import InputSpec

LABELS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown"]

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "cimsdk.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "kws"
    r = _cli("data", "kws-synth", "-o", out, "--per-word", 3, "--seed", 7)
    assert r.returncode == 0, r.stderr
    return out


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wav"))


def test_layout_labels_and_wav_format(small_set):
    assert (small_set / "labels.txt").read_text().split() == LABELS
    for label in LABELS:
        wavs = sorted((small_set / label).glob("*.wav"))
        assert len(wavs) == 3, label
        for p in wavs:
            with wave.open(str(p)) as w:
                assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
                    1,
                    2,
                    16000,
                    16000,
                )
                x = np.frombuffer(w.readframes(16000), "<i2")
            assert np.abs(x.astype(np.int32)).max() > 0, p
    manifest = json.loads((small_set / "manifest.json").read_text())
    assert manifest["seed"] == 7 and len(manifest["clips"]) == 36


def test_same_seed_same_bytes_other_seed_differs(small_set, tmp_path):
    from cimsdk.data.synth import generate

    again = tmp_path / "again"
    generate(again, per_word=3, seed=7, workers=1, progress=False)  # the CLI used 2 workers
    assert _files(again) == _files(small_set)
    for rel in _files(small_set):
        assert (again / rel).read_bytes() == (small_set / rel).read_bytes(), rel
    other = tmp_path / "other"
    generate(other, per_word=3, seed=8, workers=1, progress=False)
    same = sum((other / rel).read_bytes() == (small_set / rel).read_bytes() for rel in _files(small_set))
    assert same == 0


def test_keywords_are_speech_and_silence_is_quiet(small_set):
    """A spoken word has a loud part and quiet surroundings; a silence clip is stationary."""

    def frame_rms(p):
        with wave.open(str(p)) as w:
            x = np.frombuffer(w.readframes(16000), "<i2").astype(np.float64)
        return np.sqrt(np.mean(x.reshape(50, 320) ** 2, axis=1))

    for p in (small_set / "yes").glob("*.wav"):
        r = frame_rms(p)
        assert r.max() > 5 * np.median(r), p  # a word stands well above the background noise
    for p in (small_set / "silence").glob("*.wav"):
        r = frame_rms(p)
        assert r.max() < 3 * np.median(r), p


def test_folder_loader_returns_model_ready_batch(small_set, models_dir):
    spec = InputSpec.from_tflite(models_dir / "kws_ref_model.tflite")
    data = folder.load_folder(small_set, spec)
    x, y, names = data
    assert x.shape == (36, 49, 10, 1) and x.dtype == np.int8
    assert [n.lower() for n in names] == LABELS
    assert sorted(np.bincount(y).tolist()) == [3] * 12
    for f, label in zip(data.files, y, strict=True):
        assert f.parent.name == LABELS[label]


def test_label_order_rules(tmp_path, small_set):
    # KWS names without labels.txt: the KWS output order, not alphabetical
    kws = tmp_path / "kws"
    for name in ["Yes", "down"]:
        (kws / name).mkdir(parents=True)
        shutil.copy(next((small_set / name.lower()).glob("*.wav")), kws / name / "a.wav")
    files, labels, names = folder.list_folder(kws)
    assert names[0] == "Down" and names[9] == "Yes" and len(names) == 12
    assert labels == [9, 0]  # folders in byte order ("Yes" < "down"), each mapped to its KWS index
    # other names: sorted
    other = tmp_path / "other"
    for name in ["zebra", "apple"]:
        (other / name).mkdir(parents=True)
        shutil.copy(next((small_set / "yes").glob("*.wav")), other / name / "a.wav")
    assert folder.list_folder(other)[2] == ["apple", "zebra"]
    # labels.txt wins, and a folder it does not list is an error
    (other / "labels.txt").write_text("zebra\napple\n")
    assert folder.list_folder(other)[2] == ["zebra", "apple"]
    (other / "labels.txt").write_text("zebra\n")
    with pytest.raises(UserError, match="not among the labels"):
        folder.list_folder(other)
    with pytest.raises(UserError, match="not found"):
        folder.list_folder(tmp_path / "missing")


def test_image_folder(tmp_path, data_dir, models_dir):
    root = tmp_path / "vww"
    for label, img in [("no_person", "no_person.bmp"), ("person", "person.bmp")]:
        (root / label).mkdir(parents=True)
        shutil.copy(data_dir / img, root / label / img)
    x, y, names = folder.load_folder(root, InputSpec.from_tflite(models_dir / "vww_96_int8.tflite"))
    assert x.shape == (2, 96, 96, 3) and names == ["no_person", "person"] and y.tolist() == [0, 1]


def test_accuracy_command_reports_and_writes_json(small_set, models_dir, tmp_path):
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    out = tmp_path / "acc.json"
    r = _cli("data", "accuracy", models_dir / "kws_ref_model.tflite", small_set, "--json", out)
    assert r.returncode == 0, r.stderr
    assert "top-1 accuracy" in r.stdout
    rep = json.loads(out.read_text())
    assert rep["n"] == 36 and np.sum(rep["confusion"]) == 36
    assert rep["correct"] == int(np.trace(np.array(rep["confusion"])))
    assert rep["frontend"] == "mfcc"


def test_cli_errors_are_one_line(tmp_path, models_dir):
    r = _cli("data", "accuracy", models_dir / "kws_ref_model.tflite", tmp_path / "missing")
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    r = _cli("data", "kws-synth", "-o", tmp_path / "x", "--per-word", 0)
    assert r.returncode == 64 and "Traceback" not in r.stderr  # out of range: a usage error


@pytest.mark.slow
def test_kws_model_scores_85_percent_on_1200_synthetic_clips(tmp_path, models_dir):
    """The issue's bar: >= 85 % top-1 on >= 1,000 clips, reported by `cimsdk data accuracy`."""
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    data = tmp_path / "kws1200"
    r = _cli("data", "kws-synth", "-o", data, "--per-word", 100, "--seed", 0)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "acc.json"
    r = _cli("data", "accuracy", models_dir / "kws_ref_model.tflite", data, "--json", out)
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["n"] >= 1000
    assert rep["top1"] >= 0.85, rep["per_label"]
