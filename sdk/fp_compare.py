"""A floating-point target's image against its float model: the error the macro's arithmetic introduces.

A BF16 macro is not bit-exact with float32 (that is the point of comparing), so `cimsdk compare` on a
floating-point image (META `fp`, docs/targets.md) reports error statistics instead of mismatches:

- end to end, every op's output against the same tensor of the float model run by LiteRT's reference kernels
  (TFLM refuses TFLite's hybrid layers, int8 weights with float activations, which the shared float KWS model
  has): the largest absolute error and the relative RMS error ||y - ref|| / ||ref||, accumulated through the
  layers; and the top-1 agreement of the model's output;
- layer by layer for each CiM op, fed the reference's own input (no error carried in), against the exact
  float64 result of the model's float weights: the error of BF16 rounding alone (inputs and weights rounded,
  products exact, no alignment: an alignment group of one row), of the macro (its group), and what the
  alignment adds (the macro's output against the unaligned BF16 one), each relative to ||exact||.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cimconv.image import MATRIX_DEPTHWISE, Image
from cimconv.reader import read_model
from cimsdk.golden import Executor
from cimsdk.golden.fp_cim import FpCim, align_group, float_param
from cimsdk.mac import geometry


@dataclass
class FloatLayer:
    index: int
    op: str
    elements: int
    max_abs: float = 0.0  # end to end against the float model
    rel_rms: float = 0.0
    bf16_rel_rms: float | None = None  # CiM ops, isolated: BF16 rounding alone, against exact float64
    macro_rel_rms: float | None = None  # the macro (alignment included), against exact float64
    alignment_rel_rms: float | None = None  # the macro against unaligned BF16: what the alignment adds


@dataclass
class FloatComparison:
    layers: list[FloatLayer] = field(default_factory=list)
    inputs: int = 0
    top1_agree: int = 0
    align_group: int = 0

    @property
    def agreement(self) -> float:
        return self.top1_agree / max(1, self.inputs)


def is_float_image(img: Image) -> bool:
    return bool(img.meta.get("fp"))


def _rel(err: np.ndarray, ref: np.ndarray) -> float:
    norm = float(np.sqrt(np.sum(np.square(ref, dtype=np.float64))))
    return float(np.sqrt(np.sum(np.square(err, dtype=np.float64)))) / norm if norm else 0.0


def exact_op(model_graph, img: Image, index: int, x: np.ndarray) -> np.ndarray:
    """A CiM op of the float model in float64 from its own float weights (hybrid layers dequantized)."""
    from cimconv.float_model import _weights

    op = img.ops[index]
    p = op.params
    m = img.matrices[p["matrix"]]
    src = model_graph.operators[op.source_index]
    w_t = model_graph.tensors[src.inputs[1]]
    w = _weights(src, w_t, 0).astype(np.float64)
    if src.opcode == "DEPTHWISE_CONV_2D":
        w = w.reshape(-1, m.cols).T
    w = w.reshape(m.cols, m.rows)
    bias = m.float_bias.astype(np.float64)
    out_rec = img.tensors[op.outputs[0]]
    out_hw = None if op.opcode == "FULLY_CONNECTED" else (out_rec.shape[1], out_rec.shape[2])
    x = x.astype(np.float64)
    if m.kind == MATRIX_DEPTHWISE:
        y = np.einsum("mkn,nk->mn", geometry.depthwise_windows(x, p, out_hw), w)
    else:
        y = geometry.dense_rows(op.opcode, x, p, m.rows, out_hw) @ w.T
    y = np.clip(y + bias, float(float_param(p["act_min"])), float(float_param(p["act_max"])))
    return y.reshape((x.shape[0], *out_rec.shape[1:]))


def compare_float(model: Path, img: Image, xs: np.ndarray) -> FloatComparison:
    """The golden model of a floating-point image against the float model on the float32 inputs `xs`."""
    from cimsdk.reference import LiteRTRef

    xs = np.asarray(xs, np.float32)
    ex = Executor(img)
    _, values = ex.run_all([xs], capture=True)
    src = img.meta.get("source_tensors")
    ref = LiteRTRef(model)
    ref_values: dict[int, list[np.ndarray]] = {}
    finals = []
    for x in xs:
        finals.append(ref.invoke(x[None]))
        for t in range(len(img.tensors)):
            s = src[t] if src else -1
            if s >= 0 and img.tensors[t].storage == 0:
                ref_values.setdefault(t, []).append(ref.interp.get_tensor(s).copy())
    refs = {t: np.concatenate(v) for t, v in ref_values.items()}
    graph = read_model(model)
    unaligned = FpCim(img, group=1)
    comp = FloatComparison(inputs=len(xs), align_group=align_group(img))
    for i, op in enumerate(img.ops):
        t = op.outputs[0]
        y, r = values[t], refs.get(t)
        row = FloatLayer(i, op.opcode, int(y.size))
        if r is not None:
            err = y.astype(np.float64) - r.reshape(y.shape)
            row.max_abs, row.rel_rms = float(np.abs(err).max(initial=0.0)), _rel(err, r)
        if op.cim and op.inputs[0] in refs:
            x_ref = refs[op.inputs[0]].astype(np.float32)
            exact = exact_op(graph, img, i, x_ref)
            macro = ex.run_op(i, [x_ref]).astype(np.float64)
            plain = unaligned.run(op, x_ref, img.tensors[t]).astype(np.float64)
            row.bf16_rel_rms = _rel(plain - exact, exact)
            row.macro_rel_rms = _rel(macro - exact, exact)
            row.alignment_rel_rms = _rel(macro - plain, exact)
        comp.layers.append(row)
    out = values[img.outputs[0].tensor]
    final = np.concatenate(finals).reshape(out.shape)
    comp.top1_agree = int((out.reshape(len(xs), -1).argmax(-1) == final.reshape(len(xs), -1).argmax(-1)).sum())
    return comp
