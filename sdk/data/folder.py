"""Load a labelled data set kept the way users keep one: a folder per label, files inside.

Label order (= the model's output index of each label) comes from, first match wins:
1. `labels.txt` in the folder (one label per line, in output order);
2. the MLPerf KWS order (Down, Go, ..., Silence, Unknown) when every sub-folder name is one of those labels;
3. the sorted sub-folder names.
Folder names match labels case-insensitively. Files are WAV, images or .npy, read by `cimsdk.inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimsdk.frontend.image import IMAGE_SUFFIXES
from cimsdk.frontend.mfcc import KWS_LABELS
from cimsdk.inputs import InputSpec, audio_to_input, load_input

DATA_SUFFIXES = (".wav", ".npy", *IMAGE_SUFFIXES)


@dataclass
class LabelledSet:
    """Model-ready inputs [N, *item_shape], label indices [N], label names (model output order), files."""

    inputs: np.ndarray
    labels: np.ndarray
    names: list[str]
    files: list[Path]

    def __iter__(self):  # lets callers unpack: x, y, names = load_folder(...)
        return iter((self.inputs, self.labels, self.names))


def label_order(root: Path, folders: list[str]) -> list[str]:
    """Label names in model output order (see the module docstring for the rules)."""
    labels_file = root / "labels.txt"
    if labels_file.is_file():
        names = [ln.strip() for ln in labels_file.read_text().splitlines() if ln.strip()]
        if not names:
            raise UserError(f"{labels_file} is empty; list one label per line in the model's output order")
        return names
    kws = [n.lower() for n in KWS_LABELS]
    if folders and all(f.lower() in kws for f in folders):
        return list(KWS_LABELS)
    return sorted(folders)


def list_folder(root: str | Path) -> tuple[list[Path], list[int], list[str]]:
    """(files, label indices, label names) of a labelled folder, files sorted within each label."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data folder not found: {root}; give a folder with one sub-folder per label")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(f"{root} has no label sub-folders; put each label's files in a folder named after it")
    names = label_order(root, folders)
    index = {n.lower(): i for i, n in enumerate(names)}
    unknown = [f for f in folders if f.lower() not in index]
    if unknown:
        raise UserError(
            f"{root}: folders {unknown} are not among the labels {names}; rename them or fix labels.txt"
        )
    files: list[Path] = []
    labels: list[int] = []
    for f in folders:
        for p in sorted((root / f).iterdir()):
            if p.is_file() and p.suffix.lower() in DATA_SUFFIXES:
                files.append(p)
                labels.append(index[f.lower()])
    if not files:
        raise UserError(f"{root}: no .wav, image or .npy files in the label folders")
    return files, labels, names


def load_folder(
    root: str | Path, spec: InputSpec, preprocessor: str | Path | None = None, progress: bool = False
) -> LabelledSet:
    """Every file of a labelled folder as one model-ready batch, with its label index.

    WAV files are read first and run through the audio front end as one batch (fast for MFCC).
    """
    from cimsdk.frontend.wav import read_wav_16k

    files, labels, names = list_folder(root)
    out: list[np.ndarray | None] = [None] * len(files)
    wav_idx = [i for i, p in enumerate(files) if p.suffix.lower() == ".wav"]
    if wav_idx and spec.audio_frontend is None:
        raise UserError(
            f"{root}: WAV files need an audio model (input [1,49,10,1] or [1,1960]); "
            f"this model's input is {list(spec.shape)}"
        )
    if wav_idx:
        clips = []
        for i in wav_idx:
            s = read_wav_16k(files[i])
            clips.append(np.pad(s, (0, max(0, 16000 - len(s))))[:16000])
        batch = audio_to_input(np.stack(clips), spec, preprocessor)
        for k, i in enumerate(wav_idx):
            out[i] = batch[k : k + 1]
    for i, p in enumerate(files):
        if out[i] is None:
            x = load_input(p, spec, preprocessor)
            if x.shape[0] != 1:
                raise UserError(f"{p}: holds {x.shape[0]} inputs; a labelled file must hold exactly one")
            out[i] = x
    return LabelledSet(np.concatenate(out), np.asarray(labels, dtype=np.int64), names, files)
