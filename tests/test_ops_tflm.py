"""CPU ops added through the op specification, against TFLM (golden) and the golden kernels (C).

Per op: batches of random one-op cases built with TensorFlow (tests/optests.py), at least 200 cases per op in
the default run, more under `slow`. Each case's C kernel runs on the same records and inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from optests import OpCase, build, build_kernels, check_batch, rand_range, reshapes_to_squeezes

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tflite_micro")

PER_MODEL = 40  # cases in one TensorFlow-built model


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build_kernels(tmp_path_factory.mktemp("opkernels"))


def _shape(rng: np.random.Generator, rank: int, hi: int = 7) -> tuple[int, ...]:
    return (1, *(int(d) for d in rng.integers(1, hi, rank - 1)))


# -- case generators: one random case per call -------------------------------------------------------
def gen_transpose(rng: np.random.Generator) -> OpCase:
    """3-D or 4-D, dimension 0 kept; a permutation that only moves size-1 axes is a reshape (TensorFlow
    makes it one), so those are drawn again."""
    while True:
        rank = int(rng.integers(3, 5))
        shape = _shape(rng, rank)
        perm = [0, *(int(a) + 1 for a in rng.permutation(rank - 1))]
        order = np.arange(int(np.prod(shape))).reshape(shape).transpose(perm).reshape(-1)
        if (np.diff(order) < 0).any():
            return OpCase(lambda x, p=perm: tf.transpose(x, p), [shape], [rand_range(rng)])


def _bcast_pair(rng: np.random.Generator, const_b: bool = False) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two broadcast-compatible shapes of rank 2-4 with dimension 0 = 1; the second may have a lower rank
    (right-aligned; an activation keeps a leading 1, its batch)."""
    rank = int(rng.integers(2, 5))
    out = _shape(rng, rank)
    a = tuple(d if rng.random() < 0.7 else 1 for d in out)
    b = tuple(d if rng.random() < 0.5 else 1 for d in out)
    a = tuple(o if x != o and y != o else x for x, y, o in zip(a, b, out, strict=True))  # out is their shape
    if rng.random() < 0.3 and rank > 2:
        b = b[1:] if const_b and rng.random() < 0.5 else (1, *b[2:])
    return a, b


ACTS = [tf.identity, tf.nn.relu, tf.nn.relu6]


def gen_binary(tf_op: Callable, fused: bool = True) -> Callable[[np.random.Generator], OpCase]:
    """A binary op on broadcast shapes; a third of the cases take a constant for one operand, some a fused
    activation (`fused`)."""
    def make(rng: np.random.Generator) -> OpCase:
        const = rng.random() < 0.33
        a, b = _bcast_pair(rng, const)
        act = ACTS[int(rng.integers(1, 3))] if fused and rng.random() < 0.3 else tf.identity
        mid = act is not tf.identity  # a RELU after the op: both inputs take both signs
        if const:
            lo, hi = rand_range(rng, straddle=mid)
            const = rng.uniform(lo, hi, b).astype(np.float32)
            if rng.random() < 0.5:
                return OpCase(lambda x, c=const: act(tf_op(x, c)), [a], [rand_range(rng, straddle=mid)])
            return OpCase(lambda x, c=const: act(tf_op(c, x)), [a], [rand_range(rng, straddle=mid)])
        return OpCase(lambda x, y: act(tf_op(x, y)), [a, b], [rand_range(rng, straddle=mid), rand_range(rng, straddle=mid)])
    return make


def gen_squeeze(rng: np.random.Generator) -> OpCase:
    """Size-1 axes after dimension 0 squeezed (TensorFlow writes a RESHAPE, made a SQUEEZE again)."""
    rank = int(rng.integers(3, 5))
    shape = list(_shape(rng, rank))
    ones = sorted(int(a) for a in rng.choice(np.arange(1, rank), size=int(rng.integers(1, rank - 1)), replace=False))
    for a in ones:
        shape[a] = 1
    return OpCase(lambda x, ax=ones: tf.squeeze(x, axis=ax), [tuple(shape)], [rand_range(rng)],
                  rewrite=reshapes_to_squeezes)


def gen_expand_dims(rng: np.random.Generator) -> OpCase:
    """A size-1 axis inserted after dimension 0 (positive or negative index); with static shapes TensorFlow
    writes a RESHAPE, so dimension 0 is left open (TFLM runs it with the flatbuffer's shape, 1)."""
    rank = int(rng.integers(2, 4))
    shape = _shape(rng, rank)
    axis = int(rng.integers(1, rank + 1))
    if rng.random() < 0.5:
        axis -= rank + 1
    return OpCase(lambda x, a=axis: tf.expand_dims(x, a), [shape], [rand_range(rng)], dynamic_batch=True)


def gen_unary(tf_op: Callable, rank_hi: int = 5) -> Callable[[np.random.Generator], OpCase]:
    """A one-input elementwise op on a random 2-4-D shape and a random input range (zero anywhere in it)."""
    def make(rng: np.random.Generator) -> OpCase:
        return OpCase(tf_op, [_shape(rng, int(rng.integers(2, rank_hi)))], [rand_range(rng, 1e-2, 30.0)])
    return make


def gen_leaky_relu(rng: np.random.Generator) -> OpCase:
    alpha = float(rng.choice([0.01, 0.1, 0.2, 0.3, 0.5, 0.9, float(rng.uniform(0, 1))]))
    return OpCase(lambda x, a=alpha: tf.nn.leaky_relu(x, a), [_shape(rng, int(rng.integers(2, 5)))],
                  [rand_range(rng, 1e-2, 30.0)])


def gen_slice(rng: np.random.Generator) -> OpCase:
    """A random box of a 2-4-D input (dimension 0 whole), sizes given or -1 (to the end); never the whole input
    (TensorFlow drops an identity slice)."""
    while True:
        rank = int(rng.integers(2, 5))
        shape = _shape(rng, rank, 8)
        begin, size, out = [0], [1 if rng.random() < 0.5 else -1], [1]
        for d in shape[1:]:
            b = int(rng.integers(0, d))
            s = int(rng.integers(1, d - b + 1))
            begin.append(b)
            size.append(-1 if rng.random() < 0.2 else s)
            out.append(d - b if size[-1] == -1 else s)
        if tuple(out) != shape:
            return OpCase(lambda x, b=begin, s=size: tf.slice(x, b, s), [shape], [rand_range(rng)])


def gen_strided_slice(rng: np.random.Generator) -> OpCase:
    """Random begin/end/strides (negative indices and strides), begin/end/shrink masks over a 2-4-D input,
    dimension 0 kept whole; never the whole input (TensorFlow drops an identity slice)."""
    while True:
        rank = int(rng.integers(2, 5))
        shape = _shape(rng, rank, 9)
        n = int(rng.integers(1, rank + 1))  # sliced leading axes; the rest are whole
        begin, end, strides = [0], [1], [1]
        bmask = emask = smask = 0
        for i in range(1, n):
            d = shape[i]
            s = int(rng.choice([1, 1, 2, 3, -1, -2]))
            b, e = int(rng.integers(-d, d)), int(rng.integers(-d - 1, d + 1))
            begin.append(b)
            end.append(e)
            strides.append(s)
            r = rng.random()
            if r < 0.15:
                bmask |= 1 << i
            elif r < 0.3:
                emask |= 1 << i
            elif r < 0.4:
                smask |= 1 << i
                strides[-1], begin[-1], end[-1] = 1, b, b + 1 if b != -1 else 0
        x = np.arange(int(np.prod(shape))).reshape(shape)
        try:
            y = tf.strided_slice(x, begin, end, strides, begin_mask=bmask, end_mask=emask, shrink_axis_mask=smask)
        except Exception:  # noqa: BLE001 - an invalid combination: draw again
            continue
        if 0 < int(tf.size(y)) and y.shape != shape and y.shape.rank >= 1 and y.shape[0] == 1:
            return OpCase(lambda t, a=(begin, end, strides, bmask, emask, smask): tf.strided_slice(
                t, a[0], a[1], a[2], begin_mask=a[3], end_mask=a[4], shrink_axis_mask=a[5]), [shape],
                [rand_range(rng)])


def gen_pack(rng: np.random.Generator) -> OpCase:
    """2-4 inputs of one 1-3-D shape (one calibration range, as TFLite quantizes PACK) stacked at a random
    axis after dimension 0; sometimes one input is a constant."""
    rank = int(rng.integers(2, 4))
    shape = _shape(rng, rank)
    n = int(rng.integers(2, 5))
    axis = int(rng.integers(1, rank + 1))
    axis = axis - rank - 1 if rng.random() < 0.3 else axis
    r = rand_range(rng)
    if rng.random() < 0.25:
        const = rng.uniform(*r, shape).astype(np.float32)
        return OpCase(lambda *xs, a=axis, c=const: tf.stack([*xs, c], axis=a), [shape] * (n - 1), [r] * (n - 1))
    return OpCase(lambda *xs, a=axis: tf.stack(xs, axis=a), [shape] * n, [r] * n)


def gen_gather(rng: np.random.Generator) -> OpCase:
    """Constant indices (repeats, any order; 1-D or 2-D) along a random axis after dimension 0."""
    while True:
        rank = int(rng.integers(2, 5))
        shape = _shape(rng, rank, 8)
        axis = int(rng.integers(1, rank))
        idx_shape = (int(rng.integers(1, 7)),) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(1, 4, 2))
        if rank - 1 + len(idx_shape) <= 4:
            break
    idx = rng.integers(0, shape[axis], idx_shape).astype(np.int32)
    neg = axis - rank if rng.random() < 0.3 else axis
    return OpCase(lambda x, i=idx, a=neg: tf.gather(x, i, axis=a), [shape], [rand_range(rng)])


def _split_axis(rng: np.random.Generator, rank: int) -> tuple[int, int]:
    """A random axis after dimension 0, and how a case names it (negative sometimes)."""
    axis = int(rng.integers(1, rank))
    return axis, (axis - rank if rng.random() < 0.3 else axis)


def gen_split(rng: np.random.Generator) -> OpCase:
    """2-4-D, an axis after dimension 0 cut into 1-4 equal pieces."""
    rank = int(rng.integers(2, 5))
    shape = list(_shape(rng, rank))
    axis, named = _split_axis(rng, rank)
    n = int(rng.integers(1, 5))
    shape[axis] = n * int(rng.integers(1, 4))
    return OpCase(lambda x, k=n, a=named: tf.split(x, k, axis=a), [tuple(shape)], [rand_range(rng)])


def gen_split_v(rng: np.random.Generator) -> OpCase:
    """2-4-D, an axis after dimension 0 cut into 2-4 pieces of random sizes, one of them sometimes -1."""
    rank = int(rng.integers(2, 5))
    shape = list(_shape(rng, rank))
    axis, named = _split_axis(rng, rank)
    sizes = [int(v) for v in rng.integers(1, 5, int(rng.integers(2, 5)))]
    shape[axis] = sum(sizes)
    if rng.random() < 0.3:
        sizes[int(rng.integers(len(sizes)))] = -1
    return OpCase(lambda x, z=sizes, a=named: tf.split(x, z, axis=a), [tuple(shape)], [rand_range(rng)])


def gen_unpack(rng: np.random.Generator) -> OpCase:
    """2-4-D, an axis after dimension 0 of size 2-5 unstacked."""
    rank = int(rng.integers(2, 5))
    shape = list(_shape(rng, rank))
    axis, named = _split_axis(rng, rank)
    shape[axis] = int(rng.integers(2, 6))
    return OpCase(lambda x, a=named: tf.unstack(x, axis=a), [tuple(shape)], [rand_range(rng)])


def gen_depth_to_space(rng: np.random.Generator) -> OpCase:
    """4-D, block size 2-4 (TensorFlow's least is 2), the channels a multiple of its square."""
    bs = int(rng.integers(2, 5))
    shape = (1, int(rng.integers(1, 5)), int(rng.integers(1, 5)), bs * bs * int(rng.integers(1, 4)))
    return OpCase(lambda x, b=bs: tf.nn.depth_to_space(x, b), [shape], [rand_range(rng)])


def gen_space_to_depth(rng: np.random.Generator) -> OpCase:
    """4-D, block size 2-4 (TensorFlow's least is 2), the spatial axes multiples of it."""
    bs = int(rng.integers(2, 5))
    shape = (1, bs * int(rng.integers(1, 4)), bs * int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    return OpCase(lambda x, b=bs: tf.nn.space_to_depth(x, b), [shape], [rand_range(rng)])


def gen_resize_nearest(rng: np.random.Generator) -> OpCase:
    """4-D, each spatial size scaled up or down (1-12 from 1-8), the three flag combinations TFLite has."""
    shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 5)))
    size = [int(rng.integers(1, 13)), int(rng.integers(1, 13))]
    align, half = [(False, False), (True, False), (False, True)][int(rng.integers(3))]
    return OpCase(lambda x, z=size, a=align, h=half: tf.compat.v1.image.resize_nearest_neighbor(
        x, z, align_corners=a, half_pixel_centers=h), [shape], [rand_range(rng)])


def gen_prelu(rng: np.random.Generator) -> OpCase:
    """2-4-D, a constant alpha (values of either sign, some axes shared) in the form TensorFlow's converter
    makes one PRELU of: relu(x) + relu(-x) * (-alpha)."""
    rank = int(rng.integers(2, 5))
    shape = _shape(rng, rank)
    # Keras's alpha: the input's shape without the batch, some axes shared (1); the converter fuses only these
    alpha_shape = tuple(d if rng.random() < 0.6 else 1 for d in shape[1:])
    alpha = rng.uniform(-0.5, 1.5, alpha_shape).astype(np.float32) * float(rng.choice([0.1, 1.0, 3.0]))
    return OpCase(lambda x, na=-alpha: tf.nn.relu(x) + tf.nn.relu(-x) * na, [shape],
                  [rand_range(rng, straddle=True)])


def gen_resize_bilinear(rng: np.random.Generator) -> OpCase:
    """4-D, each spatial size scaled up or down (1-12 from 1-8), the three flag combinations TFLite has."""
    shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 5)))
    size = [int(rng.integers(1, 13)), int(rng.integers(1, 13))]
    align, half = [(False, False), (True, False), (False, True)][int(rng.integers(3))]
    return OpCase(lambda x, z=size, a=align, h=half: tf.compat.v1.image.resize_bilinear(
        x, z, align_corners=a, half_pixel_centers=h), [shape], [rand_range(rng)])


def gen_batch_matmul(rng: np.random.Generator) -> OpCase:
    """3-D or 4-D operands (activations, or a constant right operand TensorFlow keeps as a BATCH_MATMUL), the
    batch dimensions broadcast, either operand transposed."""
    rank = int(rng.integers(3, 5))
    m, k, n = (int(v) for v in rng.integers(1, 9, 3))
    batch = [1, *(int(v) for v in rng.integers(1, 4, rank - 3))]
    b_batch = [d if rng.random() < 0.6 else 1 for d in batch]
    adj_x, adj_y = bool(rng.random() < 0.3), bool(rng.random() < 0.3)
    a_shape = tuple(batch + ([k, m] if adj_x else [m, k]))
    b_shape = tuple(b_batch + ([n, k] if adj_y else [k, n]))

    def mm(x, y, ax=adj_x, ay=adj_y):
        return tf.matmul(x, y, transpose_a=ax, transpose_b=ay)

    if rng.random() < 0.3:
        const = rng.uniform(-2, 2, b_shape).astype(np.float32)
        return OpCase(lambda x, c=const: mm(x, c), [a_shape], [rand_range(rng)])
    return OpCase(mm, [a_shape, b_shape], [rand_range(rng), rand_range(rng)])


GENERATORS: dict[str, Callable[[np.random.Generator], OpCase]] = {
    "TRANSPOSE": gen_transpose,
    "SUB": gen_binary(tf.subtract),
    "SQUEEZE": gen_squeeze,
    "EXPAND_DIMS": gen_expand_dims,
    "MAXIMUM": gen_binary(tf.maximum, fused=False),
    "MINIMUM": gen_binary(tf.minimum, fused=False),
    "RELU": gen_unary(tf.nn.relu),
    "RELU6": gen_unary(tf.nn.relu6),
    "LEAKY_RELU": gen_leaky_relu,
    "HARD_SWISH": gen_unary(lambda x: x * tf.nn.relu6(x + 3.0) / 6.0),
    "TANH": gen_unary(tf.math.tanh),
    "SLICE": gen_slice,
    "STRIDED_SLICE": gen_strided_slice,
    "PACK": gen_pack,
    "GATHER": gen_gather,
    "SPLIT": gen_split,
    "SPLIT_V": gen_split_v,
    "UNPACK": gen_unpack,
    "DEPTH_TO_SPACE": gen_depth_to_space,
    "SPACE_TO_DEPTH": gen_space_to_depth,
    "RESIZE_NEAREST_NEIGHBOR": gen_resize_nearest,
    "PRELU": gen_prelu,
    "RESIZE_BILINEAR": gen_resize_bilinear,
    "BATCH_MATMUL": gen_batch_matmul,
}
DEFAULT_MODELS = 5  # x PER_MODEL cases per op in the default run
SLOW_MODELS = 20


def _run(opcode: str, lib, model_index: int, tmp: Path) -> int:
    seed = 1000 * model_index + sum(map(ord, opcode))
    rng = np.random.default_rng(seed)
    cases = [GENERATORS[opcode](rng) for _ in range(PER_MODEL)]
    model = build(cases, seed)
    (tmp / f"{opcode.lower()}_{model_index}.tflite").write_bytes(model)  # left for a failing case's reader
    return check_batch(model, opcode, lib, seed=seed)


@pytest.mark.parametrize("opcode", list(GENERATORS))
def test_op_matches_tflm_and_c_kernel(opcode: str, lib, tmp_path: Path) -> None:
    """At least 200 cases: one more model when TensorFlow rewrote a few cases into other ops."""
    checked, i = 0, 0
    while checked < 200 and i < DEFAULT_MODELS + 2:
        checked += _run(opcode, lib, i, tmp_path)
        i += 1
    assert checked >= 200, f"{opcode}: only {checked} cases"


@pytest.mark.slow
@pytest.mark.parametrize("opcode", list(GENERATORS))
def test_op_matches_tflm_and_c_kernel_many(opcode: str, lib, tmp_path: Path) -> None:
    checked = sum(_run(opcode, lib, i, tmp_path) for i in range(DEFAULT_MODELS + 2, DEFAULT_MODELS + 2 + SLOW_MODELS))
    assert checked >= 200 * SLOW_MODELS // DEFAULT_MODELS


# -- each op end to end: converted image, golden model, the firmware runtime built natively --------------
@pytest.fixture(scope="module")
def host_runtime(tmp_path_factory):
    from test_runtime_host import rb  # tests/c/runtime_build.py, loaded once
    if not rb.have_gcc():
        pytest.skip("needs gcc")
    return rb, rb.build_host(tmp_path_factory.mktemp("ops_rt"))


@pytest.mark.parametrize("opcode", list(GENERATORS))
def test_op_end_to_end_through_the_converter_and_c_runtime(opcode: str, host_runtime, tmp_path: Path) -> None:
    """One-op models (one input, a constant for the other operand) through `convert`: the image checker and
    the C runtime's load-time checks accept the records, and the golden model and the C runtime equal TFLM."""
    from optests import run_tflm

    from cimconv.pipeline import convert
    from cimsdk.golden import Executor

    rb, exe = host_runtime
    rng = np.random.default_rng(77 + sum(map(ord, opcode)))
    done = 0
    while done < 3:
        case = GENERATORS[opcode](rng)
        if len(case.shapes) != 1:
            continue
        path = tmp_path / f"{opcode.lower()}_{done}.tflite"
        path.write_bytes(build([case], done))
        conv = convert(path, "sram-dcim")
        rec = conv.image.tensors[conv.image.input_tensor]
        xs = np.random.default_rng(done).integers(-128, 128, (16, *rec.shape[1:])).astype(np.int8)
        wants = run_tflm(path.read_bytes(), [xs])  # several for SPLIT, SPLIT_V, UNPACK
        golden = Executor(conv.image_bytes).run_all([xs])
        assert len(golden) == len(wants), f"{opcode} model {done}: {len(golden)} outputs, TFLM {len(wants)}"
        for j, (g, w) in enumerate(zip(golden, wants, strict=True)):
            assert np.array_equal(g, w), f"{opcode} model {done}: golden output {j} differs from TFLM"
        image, inputs, outputs = tmp_path / "m.cimg", tmp_path / "in.bin", tmp_path / "out.bin"
        image.write_bytes(conv.image_bytes)
        inputs.write_bytes(xs.tobytes())
        res = rb.run_host(exe, image, inputs, outputs)
        assert res.returncode == 0, f"{opcode} model {done}: C runtime failed: {res.stdout} {res.stderr}"
        # per sample, the outputs back to back
        per_sample = np.frombuffer(outputs.read_bytes(), np.int8).reshape(len(xs), -1)
        sizes = np.cumsum([0] + [w[0].size for w in wants])
        for j, w in enumerate(wants):
            c = per_sample[:, sizes[j] : sizes[j + 1]].reshape(w.shape)
            assert np.array_equal(c, w), f"{opcode} model {done}: the C runtime's output {j} differs from TFLM"
        done += 1


DAMAGE = {  # a parameter the converter never writes, per op: (op, parameter, value)
    "TRANSPOSE": ("perm1", 3),  # perm3 is 3 already: not a permutation
    "SUB": ("left_shift", 19),
    "SLICE": ("begin3", 1 << 20),
    "STRIDED_SLICE": ("count3", 1 << 20),
    "RELU6": ("six", 300),
    "HARD_SWISH": ("out_exp", 3),
    "PACK": ("axis", 0),
    "GATHER": ("axis", 0),
    "DEPTH_TO_SPACE": ("block_size", 0),
    "SPACE_TO_DEPTH": ("block_size", 0),
    "RESIZE_NEAREST_NEIGHBOR": ("half_pixel_centers", 2),
    "PRELU": ("identity_shift", 40),
    "RESIZE_BILINEAR": ("align_corners", 2),
    "BATCH_MATMUL": ("adj_x", 2),
}


@pytest.mark.parametrize("opcode", list(DAMAGE))
def test_a_damaged_record_is_rejected_by_both_checkers(opcode: str, host_runtime, tmp_path: Path) -> None:
    """The host image checker (the op's check_record) and the C runtime's loader (the kernel's cim_check_<op>)
    both refuse a record the converter would never write."""
    import re

    from cimconv.image import ImageError, parse_image, write_image
    from cimconv.pipeline import convert

    rb, exe = host_runtime
    rng = np.random.default_rng(5 + sum(map(ord, opcode)))
    case = GENERATORS[opcode](rng)
    while len(case.shapes) != 1:
        case = GENERATORS[opcode](rng)
    path = tmp_path / "m.tflite"
    path.write_bytes(build([case], 0))
    img = convert(path, "sram-dcim").image
    name, value = DAMAGE[opcode]
    op = next(o for o in img.ops if o.opcode == opcode)
    assert op.params[name] != value
    op.params[name] = value
    data = write_image(img)
    with pytest.raises(ImageError):
        parse_image(data)
    image = tmp_path / "bad.cimg"
    image.write_bytes(data)
    res = rb.run_host(exe, image)
    header = (Path(rb.FW) / "runtime" / "cim_runtime.h").read_text()
    e_program = int(re.search(r"#define CIM_RT_E_PROGRAM \((-\d+)\)", header)[1])
    m = re.match(r"load (-?\d+)", res.stdout)
    assert m and int(m[1]) == e_program, f"{opcode}: the C loader answered {res.stdout!r}, not CIM_RT_E_PROGRAM"


# -- rescaling factors in the precision of the TFLM installed -------------------------------------------------
def _sub_params(s1: float, s2: float, so: float, wide: bool) -> list[int]:
    """SUB's multipliers with the factors formed in float32 (some TFLM sources) or double (test-side, only to
    pick scales that tell the two apart)."""
    from cimconv.qmath import quantize_multiplier

    f = float if wide else np.float32
    a, b, o = f(np.float32(s1)), f(np.float32(s2)), f(np.float32(so))
    tm = f(2) * max(a, b)
    reals = [a / tm, b / tm, tm / (f(1 << 20) * o)]
    return [v for r in reals for v in quantize_multiplier(float(r))]


def test_sub_rescaling_precision_matches_the_installed_tflm() -> None:
    """TFLM sources differ on whether SUB's rescaling factors are formed in float32 or double (1 LSB apart on
    rounding boundaries). Scales are patched into one model at random (over decades) and kept where the two
    forms give different outputs for some input pair; on the whole int8 input grid the converted op must then
    equal TFLM."""
    from optests import run_tflm, tensor_rec
    from test_scales_tflm import patch_scales

    from cimconv.image import OpRec
    from cimconv.lowering import lower_op
    from cimconv.reader import parse_model
    from cimsdk.golden.kernels import KERNELS
    from cimsdk.golden.kernels import sub as sub_kernel

    grid = np.arange(-128, 128, dtype=np.int16).astype(np.int8)
    base = build([OpCase(lambda x, y: x - y, [(1, 256, 256), (1, 256, 256)], [(-2.0, 3.0), (-1.0, 1.0)])], 0)
    xs = [np.broadcast_to(grid[:, None], (256, 256))[None].copy(), np.broadcast_to(grid[None, :], (256, 256))[None].copy()]
    g0 = parse_model(base)
    op0 = g0.operators[0]
    assert op0.opcode == "SUB"
    zps = [g0.tensors[t].quant.zp for t in (*op0.inputs, *op0.outputs)]
    rng = np.random.default_rng(31)
    checked = 0
    for _ in range(4000):
        if checked == 20:
            break
        scales = [float(np.float32(10 ** rng.uniform(-3, 0))) for _ in range(3)]
        p32, p64 = (_sub_params(*scales, w) for w in (False, True))
        if p32[5] > 0 or p64[5] > 0:
            continue
        t32, t64 = (sub_kernel.table(-zps[0], -zps[1], zps[2], 20, *p, -128, 127) for p in (p32, p64))
        if np.array_equal(t32, t64):
            continue  # this scale set does not tell the two forms apart
        model = patch_scales(base, dict(zip([*op0.inputs, *op0.outputs], [[s] for s in scales], strict=True)))
        want = run_tflm(model, xs)[0]
        g = parse_model(model)
        low = lower_op(g, g.operators[0])
        rec = OpRec(low.opcode, low.inputs, low.outputs, low.params)
        got = KERNELS["SUB"](rec, xs, [tensor_rec(g, t) for t in low.inputs], tensor_rec(g, low.outputs[0]))
        assert np.array_equal(got, want), f"SUB scales {scales}: {int((got != want).sum())} outputs differ"
        checked += 1
    assert checked == 20, f"only {checked} scale sets told the float32 and double forms apart"


def test_split_outputs_nothing_reads_get_no_record(tmp_path: Path) -> None:
    """A SPLIT whose model keeps one of three pieces: one STRIDED_SLICE record, equal to TFLM."""
    from optests import run_tflm

    from cimconv.pipeline import convert
    from cimconv.reader import parse_model
    from cimsdk.golden import Executor

    def keep_middle_output(model: bytes) -> bytes:
        """The model's outputs cut to the middle piece (TensorFlow quantizes a SPLIT only when every piece is
        an output), through TensorFlow's flatbuffer object API."""
        from tensorflow.lite.tools import flatbuffer_utils

        m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
        m.subgraphs[0].outputs = m.subgraphs[0].outputs[1:2]
        return bytes(flatbuffer_utils.convert_object_to_bytearray(m))

    path = tmp_path / "split_one.tflite"
    path.write_bytes(build([OpCase(lambda x: tf.split(x, 3, axis=2), [(1, 4, 6, 2)], [(-3.0, 5.0)],
                                   rewrite=keep_middle_output)], 0))
    split = [op for op in parse_model(path.read_bytes()).operators if op.opcode == "SPLIT"]
    assert len(split) == 1 and len(split[0].outputs) == 3  # TensorFlow kept the three-output op
    img = convert(path, "nor-acim").image
    assert [op.opcode for op in img.ops] == ["STRIDED_SLICE"]
    xs = np.random.default_rng(3).integers(-128, 128, (8, 4, 6, 2)).astype(np.int8)
    assert np.array_equal(Executor(convert(path, "nor-acim").image_bytes).run(xs), run_tflm(path.read_bytes(), [xs])[0])
