"""Float islands that only move int8 values: DEQUANTIZE, then ops that move or split them, then QUANTIZE back.

TensorFlow's converter leaves such islands in integer models: a Keras GRU unrolled over time
(`unroll=True`) starts from a zero hidden state, so its first step's recurrent product folds away, and the
input product of that step is dequantized, split into the three gates in float32, and each gate quantized
again, at the scale and zero point it had. TFLM runs the island as it is: DEQUANTIZE gives
float32(scale * (q - zero_point)) (scale as a double), SPLIT moves the floats, QUANTIZE gives
round(value / float32(scale)) + zero_point clamped to int8. When the QUANTIZE has the DEQUANTIZE's scale and
zero point, that round trip returns every int8 value unchanged (|q - zp| <= 255, so the float32 product is
within a relative 2^-24 of exact and the quotient rounds back), which this pass checks for all 256 values
with TFLM's arithmetic before it relies on it.

Such an island is rewritten to run on the int8 values: its float32 tensors become int8 with the
DEQUANTIZE input's quantization, the DEQUANTIZE and the QUANTIZEs go (their readers read the int8 tensors
directly), and the ops in between run as int8 data movement. An island with anything else in it (an op
that computes on the floats, a QUANTIZE to another scale, a float model output) is left alone, and the
converter names its DEQUANTIZE as before.
"""

from __future__ import annotations

import numpy as np

from cimconv.ir import Graph, Operator, Quant, Tensor, same_per_tensor_quant

# ops that only move values, and which of their inputs carry the data (the others must be constants)
MOVERS: dict[str, tuple[int, ...]] = {
    "SPLIT": (1,), "SPLIT_V": (0,), "RESHAPE": (0,), "STRIDED_SLICE": (0,), "SLICE": (0,), "SQUEEZE": (0,),
    "EXPAND_DIMS": (0,), "UNPACK": (0,), "TRANSPOSE": (0,), "GATHER": (0,),
}


def round_trip_is_identity(scale: float, zero_point: int) -> bool:
    """TFLM's DEQUANTIZE then QUANTIZE (same scale and zero point) on every int8 value gives it back."""
    q = np.arange(-128, 128, dtype=np.int64)
    real = (np.float64(np.float32(scale)) * (q - zero_point)).astype(np.float32)
    ratio = (real / np.float32(scale)).astype(np.float32)
    rounded = np.where(ratio >= 0, np.floor(ratio + np.float32(0.5)), -np.floor(-ratio + np.float32(0.5)))
    return bool(np.array_equal(np.clip(rounded.astype(np.int64) + zero_point, -128, 127), q))


Island = tuple[list[int], list[Operator], list[Operator]]  # float tensors, movers, exit QUANTIZEs


def _island(g: Graph, readers: dict[int, list[Operator]], deq: Operator) -> Island | None:
    """The island a DEQUANTIZE opens, or None if it computes on the floats or leaves as floats."""
    x = g.tensors[deq.inputs[0]]
    if x.dtype != "int8" or x.quant is None or x.quant.per_channel or not round_trip_is_identity(x.quant.s, x.quant.zp):
        return None
    floats, movers, exits = [deq.outputs[0]], [], []
    todo = [deq.outputs[0]]
    while todo:
        t = todo.pop()
        if t in g.outputs:
            return None
        for op in readers.get(t, []):
            if op in movers or op in exits:
                continue
            if op.opcode == "QUANTIZE":
                y = g.tensors[op.outputs[0]]
                if y.dtype != "int8" or not same_per_tensor_quant(y.quant, x.quant):
                    return None
                exits.append(op)
            elif op.opcode in MOVERS:
                data = MOVERS[op.opcode]
                for pos, i in enumerate(op.inputs):
                    if i >= 0 and pos not in data and g.tensors[i].data is None:
                        return None
                    if pos in data and i not in floats:
                        return None  # data from outside the island (or from another one)
                movers.append(op)
                for o in op.outputs:
                    if g.tensors[o].dtype != "float32":
                        return None
                    floats.append(o)
                    todo.append(o)
            else:
                return None
    return floats, movers, exits


def fold_float_islands(g: Graph) -> int:
    """Rewrite every DEQUANTIZE -> movers -> QUANTIZE island to int8 (module docstring); how many."""
    done = 0
    for deq in [op for op in g.operators if op.opcode == "DEQUANTIZE"]:
        readers: dict[int, list[Operator]] = {}
        for op in g.operators:
            for i in op.inputs:
                if i >= 0:
                    readers.setdefault(i, []).append(op)
        found = _island(g, readers, deq)
        if found is None:
            continue
        floats, _movers, exits = found
        x = g.tensors[deq.inputs[0]]
        for t in floats:
            old = g.tensors[t]
            g.tensors[t] = Tensor(old.index, old.name, old.shape, "int8",
                                  Quant(x.quant.scale.copy(), x.quant.zero_point.copy()))
        rename = {deq.outputs[0]: deq.inputs[0]}
        kept_exits = [q for q in exits if q.outputs[0] in g.outputs]  # a model output: an int8 identity QUANTIZE
        rename.update({q.outputs[0]: q.inputs[0] for q in exits if q not in kept_exits})
        g.operators = [op for op in g.operators if op is not deq and (op not in exits or op in kept_exits)]
        for op in g.operators:
            op.inputs = [rename.get(i, i) for i in op.inputs]
        done += 1
    return done
