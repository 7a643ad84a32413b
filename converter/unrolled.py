"""Graph shapes TensorFlow's converter gives a recurrent layer unrolled over time, rewritten to run.

A Keras RNN layer with `unroll=True` (GRU, SimpleRNN, LSTM) exports its loop as one step per time step;
TensorFlow's converter takes the steps' inputs from the [1, T, F] sequence by a RESHAPE to [T, 1, F]
(time into dimension 0) and an UNPACK along axis 0 into T tensors of [1, F]. cimsdk keeps dimension 0 as
the batch (the golden model runs independent inputs there, and the lowering refuses a RESHAPE that changes
it), and with a batch of one the two ops are the same as one UNPACK along axis 1 of the sequence: step t
gets x[0, t, ...] either way, byte for byte. This pass makes it that UNPACK.

Between two stacked recurrent layers (the first with `return_sequences=True`) the converter packs the
first layer's T step outputs along axis 0 into [T, 1, U] and the second layer unpacks them again along
axis 0: PACK then UNPACK, the identity on each step's bytes (TFLM copies, neither requantizes). The pass
lets the second layer read the first's step outputs directly.

An unrolled Keras LSTM adds a step's recurrent product to its input product through a RESHAPE [1, 4n] ->
[4n] (the batch dimension dropped) and an ADD broadcasting it back to [1, 4n]. The RESHAPE moves no byte
and the broadcast gives the same result from [1, 4n], so the pass lets the ADD read the RESHAPE's input
(cimsdk's lowering refuses a RESHAPE that changes dimension 0).
"""

from __future__ import annotations

import numpy as np

from cimconv.ir import Graph, Quant


def unstack_time_through_batch(g: Graph) -> int:
    """RESHAPE [1, T, ...] -> [T, 1, ...] read only by an UNPACK along axis 0: one UNPACK along axis 1 of
    the RESHAPE's input. How many were rewritten."""
    done = 0
    for reshape in [op for op in g.operators if op.opcode == "RESHAPE"]:
        x, y = g.tensors[reshape.inputs[0]], g.tensors[reshape.outputs[0]]
        if len(x.shape) < 2 or x.shape[0] != 1 or y.shape != (x.shape[1], 1, *x.shape[2:]):
            continue
        if reshape.outputs[0] in g.outputs:
            continue
        readers = [op for op in g.operators if reshape.outputs[0] in op.inputs]
        if len(readers) != 1 or readers[0].opcode != "UNPACK":
            continue
        unpack = readers[0]
        axis = int(unpack.options.get("axis", 0))
        if axis not in (0, -len(y.shape)) or unpack.inputs[0] != reshape.outputs[0]:
            continue
        unpack.inputs = [reshape.inputs[0]]
        unpack.options = {**unpack.options, "axis": 1}
        g.operators = [op for op in g.operators if op is not reshape]
        done += 1
    return done


def _same_quant(a: Quant | None, b: Quant | None) -> bool:
    return a is not None and b is not None and np.array_equal(a.scale, b.scale) \
        and np.array_equal(a.zero_point, b.zero_point)


def pack_then_unpack(g: Graph) -> int:
    """PACK read only by an UNPACK along the same axis into as many tensors, every tensor of one
    quantization: the UNPACK's readers read the PACK's inputs. How many pairs were removed."""
    done = 0
    for pack in [op for op in g.operators if op.opcode == "PACK"]:
        packed = g.tensors[pack.outputs[0]]
        if pack.outputs[0] in g.outputs:
            continue
        readers = [op for op in g.operators if pack.outputs[0] in op.inputs]
        if len(readers) != 1 or readers[0].opcode != "UNPACK" or readers[0].inputs != [pack.outputs[0]]:
            continue
        unpack = readers[0]
        rank = len(packed.shape)
        axes = [int(o.options.get("axis", 0)) for o in (pack, unpack)]
        if len({a + rank if a < 0 else a for a in axes}) != 1 or len(unpack.outputs) != len(pack.inputs):
            continue
        pieces = [*pack.inputs, *unpack.outputs]
        if any(not _same_quant(g.tensors[t].quant, packed.quant) or g.tensors[t].dtype != packed.dtype
               for t in pieces):
            continue
        if any(t in g.outputs for t in unpack.outputs):
            continue
        rename = dict(zip(unpack.outputs, pack.inputs, strict=True))
        g.operators = [op for op in g.operators if op is not pack and op is not unpack]
        for op in g.operators:
            op.inputs = [rename.get(i, i) for i in op.inputs]
        done += 1
    return done


BROADCASTING = ("ADD", "SUB", "MUL", "MINIMUM", "MAXIMUM", "SQUARED_DIFFERENCE")


def reshape_dropping_batch_before_broadcast(g: Graph) -> int:
    """RESHAPE [1, ...] -> [...] read only by broadcasting binary ops whose outputs keep their shapes when
    they read the RESHAPE's input instead: they do, and the RESHAPE goes. How many went."""
    done = 0
    for reshape in [op for op in g.operators if op.opcode == "RESHAPE"]:
        x, y = g.tensors[reshape.inputs[0]], g.tensors[reshape.outputs[0]]
        if len(x.shape) < 2 or x.shape[0] != 1 or tuple(x.shape[1:]) != tuple(y.shape):
            continue
        if reshape.outputs[0] in g.outputs:
            continue
        readers = [op for op in g.operators if reshape.outputs[0] in op.inputs]
        if not readers or any(op.opcode not in BROADCASTING for op in readers):
            continue
        ok = True
        for op in readers:
            shapes = [x.shape if i == reshape.outputs[0] else g.tensors[i].shape for i in op.inputs]
            try:
                ok = ok and tuple(np.broadcast_shapes(*shapes)) == tuple(g.tensors[op.outputs[0]].shape)
            except ValueError:
                ok = False
        if not ok:
            continue
        for op in readers:
            op.inputs = [reshape.inputs[0] if i == reshape.outputs[0] else i for i in op.inputs]
        g.operators = [op for op in g.operators if op is not reshape]
        done += 1
    return done
