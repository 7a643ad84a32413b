"""16x8 property tests (TFLM's int16 activations with int8 weights): building the models and cutting them.

A batch of random one-op cases (tests/optests.py's `OpCase`) is built with TensorFlow as ONE model in TFLite's
16x8 mode (EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8: int16 activations with zero point 0,
int8 weights, int64 conv/FC biases). A program takes at most 8 inputs and outputs, so the batch is cut into
sub-models of up to 8 cases (each case's ops, inputs and outputs; the flatbuffer otherwise unchanged) through
TensorFlow's flatbuffer object API. Each sub-model is converted with `convert` (the converter's whole path),
run by the golden model and by TFLM on the same random int16 inputs, and by the firmware runtime built natively
on a few of them. Expected values come only from TFLM.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from optests import OpCase, run_tflm

from cimconv.pipeline import convert
from cimsdk.golden import Executor

GROUP = 8  # cases per sub-model (a program's inputs and outputs, cimconv.passes.MAX_IO)
I16_MIN, I16_MAX = -32768, 32767


def build16(cases: list[OpCase], seed: int) -> bytes:
    """One 16x8 TFLite model holding every case (inputs and outputs in case order)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shapes = [s for c in cases for s in c.shapes]
    ranges = [r for c in cases for r in c.ranges]
    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]

    def model(*xs):
        outs, i = [], 0
        for c in cases:
            y = c.fn(*xs[i : i + len(c.shapes)])
            outs += list(y) if isinstance(y, (list, tuple)) else [y]
            i += len(c.shapes)
        return outs

    f = tf.function(model, input_signature=specs)

    def rep():
        for k in range(32):
            row = []
            for s, (lo, hi) in zip(shapes, ranges, strict=True):
                x = rng.uniform(lo, hi, s).astype(np.float32)
                if k < 2:
                    x[...] = lo if k == 0 else hi
                row.append(x)
            yield row

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = tf.int16
    conv.inference_output_type = tf.int16
    return conv.convert()


def cut(model: bytes, group: int = GROUP) -> list[bytes]:
    """The model cut into sub-models of at most `group` outputs and `group` inputs each: every output with the
    ops that compute it from the model's inputs, and those inputs."""
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    sg = m.subgraphs[0]
    producer = {int(t): i for i, op in enumerate(sg.operators) for t in op.outputs}
    inputs = [int(t) for t in sg.inputs]
    outputs = [int(t) for t in sg.outputs]

    def reach(t_out: int) -> tuple[set[int], set[int]]:
        """(ops, model inputs) that compute output `t_out`."""
        ops: set[int] = set()
        ins: set[int] = set()
        todo = [t_out]
        while todo:
            t = todo.pop()
            if t in inputs:
                ins.add(t)
            elif t in producer and producer[t] not in ops:
                ops.add(producer[t])
                todo += [int(u) for u in sg.operators[producer[t]].inputs if u >= 0]
        return ops, ins

    groups: list[tuple[list[int], set[int], set[int]]] = []
    for t in outputs:
        ops, ins = reach(t)
        if groups and len(groups[-1][0]) < group and len(groups[-1][2] | ins) <= group:
            groups[-1][0].append(t)
            groups[-1][1].update(ops)
            groups[-1][2].update(ins)
        else:
            groups.append(([t], ops, ins))
    parts = []
    for outs, ops, ins in groups:
        sub = copy.deepcopy(m)
        ssg = sub.subgraphs[0]
        ssg.operators = [ssg.operators[i] for i in sorted(ops)]
        ssg.inputs = [t for t in inputs if t in ins]
        ssg.outputs = outs
        parts.append(bytes(flatbuffer_utils.convert_object_to_bytearray(sub)))
    return parts


def random_int16(shape: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """n random int16 samples, the first two all extremes (saturation), the third all one value."""
    x = rng.integers(I16_MIN, I16_MAX + 1, size=(n, *shape[1:]), dtype=np.int32)
    x[0], x[1], x[2] = I16_MAX, I16_MIN, rng.integers(I16_MIN, I16_MAX + 1)
    return x.astype(np.int16)


def check_submodel(model: bytes, opcode: str, target: str, host_runtime, tmp: Path, n: int = 16,
                   c_samples: int = 3, seed: int = 0) -> int:
    """Convert a sub-model; golden == TFLM on `n` random int16 inputs, the native firmware runtime == golden on
    the first `c_samples`. Returns the number of `opcode` ops the image holds (the cases checked)."""
    path = tmp / "sub.tflite"
    path.write_bytes(model)
    conv = convert(path, target)
    img = conv.image
    cases = sum(1 for op in img.ops if op.opcode == opcode)
    assert all(img.tensors[op.inputs[0]].dtype == "int16" for op in img.ops if op.opcode == opcode)
    rng = np.random.default_rng(seed)
    xs = [random_int16(img.tensors[r.tensor].shape, n, rng) for r in img.inputs]
    want = run_tflm(model, xs)
    golden = Executor(conv.image_bytes).run_all(xs)
    assert len(golden) == len(want)
    for j, (g, w) in enumerate(zip(golden, want, strict=True)):
        assert g.shape == w.shape, f"{opcode} output {j}: shape {g.shape}, TFLM {w.shape}"
        bad = np.argwhere(g != w)
        assert bad.size == 0, (f"{opcode} output {j} on {target}: {len(bad)} of {w.size} elements differ from TFLM, "
                               f"first at {bad[0].tolist()}: golden {g[tuple(bad[0])]} TFLM {w[tuple(bad[0])]}")
    if host_runtime is not None:
        rb, exe = host_runtime
        image, inputs, outputs = tmp / "sub.cimg", tmp / "in.bin", tmp / "out.bin"
        image.write_bytes(conv.image_bytes)
        inputs.write_bytes(b"".join(x[b].tobytes() for b in range(c_samples) for x in xs))
        res = rb.run_host(exe, image, inputs, outputs)
        assert res.returncode == 0, f"{opcode}: C runtime failed: {res.stdout} {res.stderr}"
        per = np.frombuffer(outputs.read_bytes(), np.int16).reshape(c_samples, -1)
        sizes = np.cumsum([0] + [g[0].size for g in golden])
        for j, g in enumerate(golden):
            c = per[:, sizes[j] : sizes[j + 1]].reshape(g[:c_samples].shape)
            assert np.array_equal(c, g[:c_samples]), f"{opcode} output {j}: the C runtime differs from the golden model"
    return cases
