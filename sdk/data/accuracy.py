"""Top-1 accuracy of a TFLite model on a labelled folder, with the TFLM interpreter as the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimconv.errors import UserError


def tflm_outputs(model: str | Path, inputs: np.ndarray, progress: bool = False) -> np.ndarray:
    """Output 0 of the model for every row x[i:i+1] of `inputs`, run by TFLM: [N, *output shape[1:]]."""
    from cimsdk.reference import TFLM

    try:
        ref = TFLM(Path(model))
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"TFLM cannot load {model}: {exc}; check that it is an int8 TFLite model") from exc
    outs = []
    rows = range(inputs.shape[0])
    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(transient=True, console=Console(stderr=True))
        bar.start()
        task = bar.add_task("running TFLM", total=len(rows))
    try:
        for i in rows:
            outs.append(ref.invoke(np.ascontiguousarray(inputs[i : i + 1])).reshape(1, -1))
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return np.concatenate(outs)


def evaluate(model: str | Path, folder: str | Path, progress: bool = False) -> dict:
    """Accuracy report: top-1, per-label accuracy, confusion matrix, and the most frequent confusions."""
    from cimsdk.data.folder import load_folder
    from cimsdk.inputs import InputSpec

    spec = InputSpec.from_tflite(model)
    data = load_folder(folder, spec)
    out = tflm_outputs(model, data.inputs, progress=progress)
    if out.shape[1] < len(data.names):
        raise UserError(
            f"{model} has {out.shape[1]} outputs but {folder} has {len(data.names)} labels; check labels.txt"
        )
    pred = out.argmax(axis=1)
    n = max(out.shape[1], len(data.names))
    names = list(data.names) + [f"#{i}" for i in range(len(data.names), n)]
    conf = np.zeros((n, n), dtype=np.int64)
    np.add.at(conf, (data.labels, pred), 1)
    per_label = {}
    for i, name in enumerate(names):
        total = int(conf[i].sum())
        if total:
            per_label[name] = {"n": total, "correct": int(conf[i, i]), "accuracy": conf[i, i] / total}
    errors = [
        {"true": names[t], "predicted": names[p], "count": int(conf[t, p])}
        for t in range(n)
        for p in range(n)
        if t != p and conf[t, p]
    ]
    errors.sort(key=lambda e: -e["count"])
    correct = int(np.trace(conf))
    return {
        "model": str(model),
        "data": str(folder),
        "frontend": spec.audio_frontend or ("image" if len(spec.item_shape) == 3 else "npy"),
        "n": int(len(pred)),
        "correct": correct,
        "top1": correct / len(pred),
        "labels": names,
        "per_label": per_label,
        "confusion": conf.tolist(),
        "top_confusions": errors[:10],
    }
