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
    edge: bool = False  # a QUANTIZE/DEQUANTIZE at the model's edge, run on the host (docs/edges.md)


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


def compare(model: Path, img: Image, xs: np.ndarray | list[np.ndarray], litert: bool = True) -> Comparison:
    """Every op's output of the golden model against the same tensor in TFLM (and LiteRT's reference kernels).

    `xs`: one batch per model input in the edge dtype (float32 for a float-edged model), or one array for a
    one-input model. Both references get exactly these values; the golden model gets their int8 codes from
    the host-side edge QUANTIZE (cimsdk.golden.edges), as TFLM's own QUANTIZE makes them."""
    from cimsdk.golden import edges

    xs = [xs] if isinstance(xs, np.ndarray) else list(xs)
    src = img.meta.get("source_tensors")
    ex = Executor(img)
    prog = edges.program_inputs(img, xs)
    if ex.stateful:  # consecutive frames of one stream, as the one TFLM interpreter below sees them
        state = set(img.state_tensors)
        frames = [ex.run_all([x[k : k + 1] for x in prog], capture=True)[1] for k in range(len(prog[0]))]
        values = {t: np.concatenate([f[t] for f in frames]) for t in frames[0] if t not in state}
    else:
        _, values = ex.run_all(prog, capture=True)
    tflm = TFLM(model, preserve_all=True)
    ref2 = None
    # LiteRT's SVDF kernel takes int16 state only; on an int8-state SVDF model (TFLM's keyword model) its
    # reference interpreter corrupts memory, so stateful images are compared with TFLM alone.
    if litert and not ex.stateful:
        try:
            ref2 = LiteRTRef(model)
        except Exception:  # LiteRT is optional; TFLM is the ground truth
            ref2 = None
    n = len(xs[0])
    comp = Comparison(inputs=n)
    # Host edges: the input QUANTIZEs (their int8 output is the program's input) and the output
    # DEQUANTIZE/QUANTIZEs (compared on what the model returns).
    in_edges = [(io.tensor, f"QUANTIZE {io.edge_dtype}->int8") for io in img.inputs
                if io.edge_dtype in edges.HOST_EDGES]
    out_edges = [(j, f"{'DEQUANTIZE' if io.edge_dtype == 'float32' else 'QUANTIZE'} int8->{io.edge_dtype}")
                 for j, io in enumerate(img.outputs) if io.edge_dtype in edges.HOST_EDGES]
    finals = edges.model_outputs(img, [values[io.tensor] for io in img.outputs]) if out_edges else []
    checks = [(t, name, -1) for t, name in in_edges] + [(op.outputs[0], op.opcode, i) for i, op in enumerate(img.ops)]
    diffs = [LayerDiff(i, name, 0, edge=i < 0) for _, name, i in checks]
    out_diffs = [LayerDiff(len(img.ops) + j, name, 0, edge=True) for j, name in out_edges]
    for k in range(n):
        item = [x[k : k + 1] for x in xs]
        theirs_out = tflm.invoke_all(item)
        if ref2 is not None:
            ref2.invoke_all(item)
        for d, (j, _) in zip(out_diffs, out_edges, strict=True):
            io = img.outputs[j]
            ours = finals[j][k]
            scale = io.scale if io.edge_dtype == "float32" else 1.0
            err = np.abs(ours.astype(np.float64) - theirs_out[j].reshape(ours.shape).astype(np.float64)) / scale
            d.elements += ours.size
            d.mismatches += int((err != 0).sum())
            d.max_err = max(d.max_err, int(np.ceil(err.max(initial=0))))
        for d, (t, _, _) in zip(diffs, checks, strict=True):
            if src[t] < 0:  # a tensor of the lowering's own (SVDF's feature vector): TFLM has none
                continue
            ours = values[t][k]
            theirs = tflm.tensor(src[t]).reshape(ours.shape)
            mm, mx = _diff(ours, theirs)
            d.elements += ours.size
            d.mismatches += mm
            d.max_err = max(d.max_err, mx)
            if ref2 is not None:
                other = ref2.tensor(src[t]).reshape(ours.shape)
                mm2, mx2 = _diff(ours, other)
                d.litert_mismatches = (d.litert_mismatches or 0) + mm2
                d.litert_max_err = max(d.litert_max_err or 0, mx2)
    comp.layers = diffs + out_diffs
    return comp
