"""Layer-by-layer comparison of the golden model with TFLM (and LiteRT's reference kernels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cimconv.image import Image
from cimsdk.golden import Executor
from cimsdk.reference import TFLM, LiteRTRef


@dataclass
class LayerDiff:
    index: int
    op: str
    elements: int
    mismatches: int = 0
    max_err: int = 0
    litert_mismatches: int | None = None
    litert_max_err: int | None = None


@dataclass
class Comparison:
    layers: list[LayerDiff] = field(default_factory=list)
    inputs: int = 0

    @property
    def mismatches(self) -> int:
        return sum(d.mismatches for d in self.layers)


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return int((d != 0).sum()), int(d.max(initial=0))


def compare(model: Path, img: Image, xs: np.ndarray, litert: bool = True) -> Comparison:
    src = img.meta.get("source_tensors")
    ex = Executor(img)
    if ex.stateful:  # consecutive frames of one stream, as the one TFLM interpreter below sees them
        frames = [ex.run(x[None], capture=True)[1] for x in xs]
        values = {op.outputs[0]: np.concatenate([f[op.outputs[0]] for f in frames]) for op in img.ops}
    else:
        _, values = ex.run(xs, capture=True)
    tflm = TFLM(model, preserve_all=True)
    ref2 = None
    # LiteRT's SVDF kernel takes int16 state only; on an int8-state SVDF model (TFLM's keyword model) its
    # reference interpreter corrupts memory, so stateful images are compared with TFLM alone.
    if litert and not ex.stateful:
        try:
            ref2 = LiteRTRef(model)
        except Exception:  # LiteRT is optional; TFLM is the ground truth
            ref2 = None
    comp = Comparison(inputs=len(xs))
    diffs = [LayerDiff(i, op.opcode, 0) for i, op in enumerate(img.ops)]
    for n, x in enumerate(xs):
        tflm.invoke(x[None])
        if ref2 is not None:
            ref2.invoke(x[None])
        for i, op in enumerate(img.ops):
            t = op.outputs[0]
            if src[t] < 0:  # a tensor of the lowering's own (SVDF's feature vector): TFLM has none
                continue
            ours = values[t][n]
            theirs = tflm.tensor(src[t]).reshape(ours.shape)
            mm, mx = _diff(ours, theirs)
            d = diffs[i]
            d.elements += ours.size
            d.mismatches += mm
            d.max_err = max(d.max_err, mx)
            if ref2 is not None:
                other = ref2.tensor(src[t]).reshape(ours.shape)
                mm2, mx2 = _diff(ours, other)
                d.litert_mismatches = (d.litert_mismatches or 0) + mm2
                d.litert_max_err = max(d.litert_max_err or 0, mx2)
    comp.layers = diffs
    return comp
