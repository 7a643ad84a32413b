"""The op specification: every TFLite op cimsdk runs, declared once for the converter, golden model and firmware.

Each entry gives the op's program opcode and int32 parameter names (their order is the order in the
image's op record), where it runs, the TFLite operator's arity and options table, and which
implementations exist. `python -m cimcontracts.gen` derives from this table: `firmware/include/cimg_ops.h`
(opcodes, parameter indexes), `firmware/runtime/cim_ops_select.h` and `cim_dispatch.c` (the firmware's
op selection and kernel table), `sdk/golden/kernels/registry.py` (the golden model's kernel table), the
supported-ops tables of README.md and `cimsdk convert --supported-ops`. `--check` fails when any is stale.

Adding a CPU op (docs/contracts.md, "Adding an op"): its lowering `converter/lowering/<op>.py`, its golden
kernel `sdk/golden/kernels/<op>.py`, its C kernel `firmware/kernels/<op>.c` (kernel and load-time check),
its entry below, its tests; then run the generator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpSpec:
    code: int | None  # program opcode (CIM_OP_*); None when the op runs as another op (`runs_as`)
    name: str  # TFLite builtin name
    where: str  # "cim" (matrix-vector on macros) or "cpu"
    params: tuple[str, ...]
    constraints: str = ""
    inputs: tuple[int, int] = (1, 1)  # fewest and most TFLite inputs
    optional: tuple[int, ...] = ()  # TFLite inputs that may be omitted (-1)
    options: str = ""  # the builtin options table the operator carries ("" for none)
    c_check: bool = False  # the C kernel file also defines cim_check_<op>, the runtime's load-time check
    runs_as: str | None = None  # lowered to this op's program record (e.g. SQUEEZE runs as RESHAPE)
    outputs: int = 1  # most TFLite outputs (SPLIT: one program record per output)

    @property
    def program(self) -> bool:
        """Has its own program opcode (and golden kernel when it runs on the CPU)."""
        return self.code is not None

    @property
    def runs_on(self) -> str:
        return "CiM macro" if self.where == "cim" else "MCU CPU"


_CIM_TAIL = ("in_zp", "out_zp", "act_min", "act_max")
_POOL = ("filter_h", "filter_w", "stride_h", "stride_w", "pad_top", "pad_left", "act_min", "act_max")
_CONV = ("matrix", "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "kernel_h", "kernel_w")

OPS: dict[str, OpSpec] = {
    s.name: s
    for s in [
        OpSpec(1, "CONV_2D", "cim", _CONV + _CIM_TAIL,
               "int8 in/out, per-channel or per-tensor int8 weights, int32 bias; any stride, dilation, padding; "
               "16x8: int16 in/out (zero point 0), int64 bias, twice the bit-serial input cycles",
               (2, 3), (2,), "Conv2DOptions"),
        OpSpec(2, "DEPTHWISE_CONV_2D", "cim", _CONV + ("depth_mult",) + _CIM_TAIL,
               "as CONV_2D (16x8 too); block-diagonal placement (one column per output channel); any depth multiplier",
               (2, 3), (2,), "DepthwiseConv2DOptions"),
        OpSpec(3, "FULLY_CONNECTED", "cim", ("matrix",) + _CIM_TAIL,
               "int8 in/out, int8 weights (per-tensor or per-channel), optional int32 bias; 16x8: int16 in/out "
               "(zero point 0), int64 bias",
               (2, 3), (2,), "FullyConnectedOptions"),
        OpSpec(10, "AVERAGE_POOL_2D", "cpu", _POOL, "int8; windows inside the input (VALID) run on the CiM macro as a "
               "depthwise pass whose output stage divides exactly (docs/energy-model.md), others on the CPU",
               options="Pool2DOptions"),
        OpSpec(11, "MAX_POOL_2D", "cpu", _POOL, "int8 or int16 (16x8)", options="Pool2DOptions"),
        OpSpec(12, "ADD", "cpu",
               ("in1_offset", "in2_offset", "out_offset", "left_shift", "in1_mult", "in1_shift",
                "in2_mult", "in2_shift", "out_mult", "out_shift", "act_min", "act_max"),
               "int8, 4-D broadcasting; int16 (16x8: zero points 0, left shift 15)", (2, 2), options="AddOptions"),
        OpSpec(13, "MUL", "cpu",
               ("in1_offset", "in2_offset", "out_offset", "out_mult", "out_shift", "act_min", "act_max"),
               "int8, 4-D broadcasting; int16 (16x8: zero points 0)", (2, 2), options="MulOptions"),
        OpSpec(14, "RESHAPE", "cpu", (), "any dtype; a copy, or nothing when planned in place; not along the batch dimension",
               (1, 2), (1,), "ReshapeOptions"),
        OpSpec(15, "SOFTMAX", "cpu", ("input_mult", "input_left_shift", "diff_min"), "int8 in, int8 or int16 out (int16: zero point -32768); TFLM fixed-point arithmetic",
               options="SoftmaxOptions"),
        OpSpec(16, "PAD", "cpu",
               ("before0", "before1", "before2", "before3", "after0", "after1", "after2", "after3", "pad_value"),
               "int8 or int16 (16x8), constant paddings, up to 4-D; not along the batch dimension", (2, 2),
               options="PadOptions"),
        OpSpec(17, "CONCATENATION", "cpu", ("axis",),
               "int8 or int16 (16x8), inputs with the output's scale and zero point, up to 4-D; not along the batch "
               "dimension", (1, 10), options="ConcatenationOptions"),
        OpSpec(18, "MEAN", "cpu",
               ("axis_mask", "in_zp", "out_zp", "mult", "shift", "keep_dims"),
               "int8, constant axes; over H and W of a 4-D tensor on the CiM macro as a depthwise pass", (2, 2),
               options="ReducerOptions"),
        OpSpec(19, "LOGISTIC", "cpu", ("in_zp", "input_range_radius", "input_mult", "input_left_shift"),
               "int8 in, int8 out (scale 1/256, zero point -128); TFLM fixed-point arithmetic; int16 (16x8: Q0.15 out, "
               "TFLM's 16-bit table)"),
        OpSpec(20, "QUANTIZE", "cpu", ("in_zp", "out_zp", "mult", "shift"),
               "int8 -> int8 and int16 -> int8/int16/int32 requantization inside the graph; float edges run on the host",
               options="QuantizeOptions"),
        OpSpec(21, "DEQUANTIZE", "cpu", (), "graph edge only: int8 output, float conversion on the host",
               options="DequantizeOptions"),
        OpSpec(22, "TRANSPOSE", "cpu", ("perm0", "perm1", "perm2", "perm3"),
               "int8, constant permutation up to 4-D that keeps dimension 0 (the batch)", (2, 2),
               options="TransposeOptions", c_check=True),
        OpSpec(23, "SUB", "cpu",
               ("in1_offset", "in2_offset", "out_offset", "left_shift", "in1_mult", "in1_shift",
                "in2_mult", "in2_shift", "out_mult", "out_shift", "act_min", "act_max"),
               "int8, 4-D broadcasting", (2, 2), options="SubOptions", c_check=True),
        OpSpec(None, "SQUEEZE", "cpu", (), "any dtype; runs as RESHAPE; not along the batch dimension",
               options="SqueezeOptions", runs_as="RESHAPE"),
        OpSpec(None, "EXPAND_DIMS", "cpu", (), "any dtype; runs as RESHAPE; not along the batch dimension", (2, 2),
               options="ExpandDimsOptions", runs_as="RESHAPE"),
        OpSpec(24, "MAXIMUM", "cpu", (), "int8 (one scale), 4-D broadcasting", (2, 2),
               options="MaximumMinimumOptions", c_check=True),
        OpSpec(25, "MINIMUM", "cpu", (), "int8 (one scale), 4-D broadcasting", (2, 2),
               options="MaximumMinimumOptions", c_check=True),
        OpSpec(26, "RELU", "cpu", ("in_zp", "out_zp", "mult", "shift", "act_min", "act_max"),
               "int8, standalone (a fused RELU folds into its producer)", c_check=True),
        OpSpec(27, "RELU6", "cpu", ("zero", "six"), "int8, standalone; clamps codes of the input's quantization",
               c_check=True),
        OpSpec(28, "LEAKY_RELU", "cpu",
               ("in_zp", "out_zp", "alpha_mult", "alpha_shift", "identity_mult", "identity_shift"),
               "int8, alpha >= 0", options="LeakyReluOptions", c_check=True),
        OpSpec(29, "HARD_SWISH", "cpu", ("in_zp", "out_zp", "out_mult", "out_exp", "reluish_mult", "reluish_exp"),
               "int8; TFLM's 16-bit fixed-point arithmetic", c_check=True),
        OpSpec(30, "TANH", "cpu", ("in_zp", "input_range_radius", "input_mult", "input_left_shift"),
               "int8 in, int8 out (scale 1/128, zero point 0); TFLM fixed-point arithmetic; int16 (16x8: Q0.15 out, "
               "TFLM's 16-bit table)", c_check=True),
        OpSpec(31, "SLICE", "cpu", ("begin0", "begin1", "begin2", "begin3"),
               "int8 or int16 (16x8), constant begin and size, up to 4-D; not along the batch dimension", (3, 3),
               options="SliceOptions", c_check=True),
        OpSpec(32, "STRIDED_SLICE", "cpu",
               tuple(f"{what}{i}" for what in ("start", "step", "count") for i in range(4)),
               "int8 or int16 (16x8), constant begin/end/strides, begin/end/shrink masks, up to 4-D; not along the "
               "batch dimension",
               (4, 4), options="StridedSliceOptions", c_check=True),
        OpSpec(33, "PACK", "cpu", ("axis",),
               "int8, inputs with the output's scale and zero point, up to 4-D out; not along the batch dimension",
               (1, 8), options="PackOptions", c_check=True),
        OpSpec(34, "GATHER", "cpu", ("axis",),
               "int8, constant int32 indices, up to 4-D; not along the batch dimension", (2, 2),
               options="GatherOptions", c_check=True),
        OpSpec(None, "SPLIT", "cpu", (), "int8 or int16 (16x8), constant axis, 2-D to 4-D; not along the batch dimension; one "
               "STRIDED_SLICE record per output", (2, 2), options="SplitOptions", runs_as="STRIDED_SLICE", outputs=64),
        OpSpec(None, "SPLIT_V", "cpu", (), "int8, constant sizes and axis, 2-D to 4-D; not along the batch dimension; "
               "one STRIDED_SLICE record per output", (3, 3), options="SplitVOptions", runs_as="STRIDED_SLICE",
               outputs=64),
        OpSpec(None, "UNPACK", "cpu", (), "int8, 2-D to 4-D; not along the batch dimension; one STRIDED_SLICE "
               "record per output", options="UnpackOptions", runs_as="STRIDED_SLICE", outputs=64),
        OpSpec(40, "DEPTH_TO_SPACE", "cpu", ("block_size",), "int8, 4-D (NHWC)", options="DepthToSpaceOptions",
               c_check=True),
        OpSpec(41, "SPACE_TO_DEPTH", "cpu", ("block_size",), "int8, 4-D (NHWC)", options="SpaceToDepthOptions",
               c_check=True),
        OpSpec(42, "RESIZE_NEAREST_NEIGHBOR", "cpu", ("align_corners", "half_pixel_centers"),
               "int8, 4-D (NHWC), constant size", (2, 2), options="ResizeNearestNeighborOptions", c_check=True),
        OpSpec(43, "PRELU", "cpu",
               ("in_zp", "alpha_zp", "out_zp", "identity_mult", "identity_shift", "alpha_mult", "alpha_shift"),
               "int8, per-tensor alpha broadcast over 4-D", (2, 2), c_check=True),
        OpSpec(44, "RESIZE_BILINEAR", "cpu", ("align_corners", "half_pixel_centers"),
               "int8, 4-D (NHWC), constant size; TFLM's 10-bit integer interpolation", (2, 2),
               options="ResizeBilinearOptions", c_check=True),
        OpSpec(45, "BATCH_MATMUL", "cpu", ("adj_x", "adj_y", "lhs_zp", "rhs_zp", "out_zp", "mult", "shift"),
               "int8, 2-D to 4-D, batch dimensions broadcast, adj_x/adj_y; on the CPU (TensorFlow makes a matmul by a "
               "constant a FULLY_CONNECTED, which runs on the macro)", (2, 2), options="BatchMatMulOptions",
               c_check=True),
        OpSpec(35, "SVDF", "cpu", ("rank", "state_zp", "out_zp", "mult", "shift"),
               "int8 with int8 or int16 state and time weights: the feature matrix runs on the CiM macro as a "
               "FULLY_CONNECTED (int16 out for int16 state), state shift, time filter and rank sum on the CPU; state "
               "kept in the arena; as TFLM's integer SVDF, the fused activation is not applied", (5, 5), (3,), "SVDFOptions"),
        OpSpec(36, "UNIDIRECTIONAL_SEQUENCE_LSTM", "cpu",
               tuple(f"h{g}_{what}" for g in "ifco" for what in ("mult", "shift"))
               + ("forget_mult", "forget_shift", "input_mult", "input_shift", "hidden_mult", "hidden_shift",
                  "hidden_zp", "cell_clip", "tanh_mult", "tanh_shift"),
               "int8 input, weights and hidden state, int16 cell state (TFLM's integer LSTM: Q3.12 gates, 16-bit "
               "sigmoid/tanh); batch-major, no peephole, projection or layer norm (TFLM has none); states kept in "
               "the arena; the input products of all steps run on the CiM macro as a FULLY_CONNECTED with int16 output, "
               "the recurrent products and the gates on the CPU", (24, 24), (9, 10, 11, 16, 17, 20, 21, 22, 23),
               "UnidirectionalSequenceLSTMOptions", c_check=True),
        OpSpec(60, "ASSIGN_VARIABLE", "cpu", (),
               "a resource variable (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, zero-initialised by CALL_ONCE) becomes "
               "an int8 state tensor kept in the arena; the write copies the new value into it (through a 256-entry "
               "table of TFLM's float round trip when the writer's quantization differs), last in the program "
               "(converter/resource_vars.py)", (1, 2), c_check=True),
    ]
}

BY_CODE: dict[int, OpSpec] = {s.code: s for s in OPS.values() if s.code is not None}

# Fused activations are folded into act_min/act_max of the producing op.
FOLDED = {"RELU", "RELU6"}

# Ops evaluated at convert time when their inputs are constants or static shapes (converter/fold.py).
CONSTANT_FOLDED = ("SHAPE", "STRIDED_SLICE", "PACK", "GATHER", "CAST", "CONCATENATION", "RESHAPE", "EXPAND_DIMS",
                   "SQUEEZE")


def supported_table() -> list[tuple[str, str, str]]:
    """(op, where it runs, constraints): `cimsdk convert --supported-ops` and the README's table."""
    rows = [(s.name, s.runs_on, s.constraints) for s in OPS.values()]
    rows += [(f"{name} (fused)", "folded", "into the producing op's activation range") for name in sorted(FOLDED)]
    rows.append((", ".join(CONSTANT_FOLDED) + " on constants or static shapes", "folded at convert time",
                 "into constants, as TFLite's converter and Vela do (`converter/fold.py`)"))
    return rows
