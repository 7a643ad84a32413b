"""The layer-program vocabulary: opcode numbers and int32 parameter names, one definition for host and C.

`python -m cimcontracts.gen` writes these into `firmware/include/cimg_ops.h`; its `--check` (default
test run) fails when the committed header is stale. Parameter order is the order in the image's op record.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpSpec:
    code: int
    name: str  # TFLite builtin name
    where: str  # "cim" (matrix-vector on macros) or "cpu"
    params: tuple[str, ...]
    constraints: str = ""


_CIM_TAIL = ("in_zp", "out_zp", "act_min", "act_max")
_POOL = ("filter_h", "filter_w", "stride_h", "stride_w", "pad_top", "pad_left", "act_min", "act_max")

OPS: dict[str, OpSpec] = {
    s.name: s
    for s in [
        OpSpec(1, "CONV_2D", "cim",
               ("matrix", "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left",
                "kernel_h", "kernel_w") + _CIM_TAIL,
               "int8 in/out, int8 per-channel or per-tensor weights, int32 bias; any stride/dilation/padding"),
        OpSpec(2, "DEPTHWISE_CONV_2D", "cim",
               ("matrix", "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left",
                "kernel_h", "kernel_w", "depth_mult") + _CIM_TAIL,
               "as CONV_2D; block-diagonal placement, one column per output channel"),
        OpSpec(3, "FULLY_CONNECTED", "cim", ("matrix",) + _CIM_TAIL,
               "int8 in/out, int8 weights (per-tensor or per-channel), optional int32 bias"),
        OpSpec(10, "AVERAGE_POOL_2D", "cpu", _POOL, "int8"),
        OpSpec(11, "MAX_POOL_2D", "cpu", _POOL, "int8"),
        OpSpec(12, "ADD", "cpu",
               ("in1_offset", "in2_offset", "out_offset", "left_shift", "in1_mult", "in1_shift",
                "in2_mult", "in2_shift", "out_mult", "out_shift", "act_min", "act_max"),
               "int8, 4-D broadcasting"),
        OpSpec(13, "MUL", "cpu",
               ("in1_offset", "in2_offset", "out_offset", "out_mult", "out_shift", "act_min", "act_max"),
               "int8, 4-D broadcasting"),
        OpSpec(14, "RESHAPE", "cpu", (), "any dtype; a copy (or nothing when planned in place)"),
        OpSpec(15, "SOFTMAX", "cpu", ("input_mult", "input_left_shift", "diff_min"), "int8 in, int8 or int16 out"),
        OpSpec(16, "PAD", "cpu",
               ("before0", "before1", "before2", "before3", "after0", "after1", "after2", "after3", "pad_value"),
               "int8, constant paddings, up to 4-D"),
        OpSpec(17, "CONCATENATION", "cpu", ("axis",),
               "int8, inputs with the output's scale and zero point, up to 4-D"),
        OpSpec(18, "MEAN", "cpu",
               ("axis_mask", "in_zp", "out_zp", "mult", "shift", "keep_dims"),
               "int8, constant axes"),
        OpSpec(19, "LOGISTIC", "cpu", ("in_zp", "input_range_radius", "input_mult", "input_left_shift"),
               "int8 in, int8 out (scale 1/256, zero point -128)"),
        OpSpec(20, "QUANTIZE", "cpu", ("in_zp", "out_zp", "mult", "shift"),
               "int8 -> int8 and int16 -> int8/int16/int32 requantization inside the graph; float edges run on the host"),
        OpSpec(21, "DEQUANTIZE", "cpu", (), "graph edge only: int8 output, float conversion on the host"),
        OpSpec(22, "SVDF", "cpu", ("rank", "state_zp", "out_zp", "mult", "shift"),
               "int8 with int8 state and time weights: the feature matrix runs on the CiM macro as a "
               "FULLY_CONNECTED, state shift, time filter and rank sum on the CPU; state kept in the arena; as TFLM's integer "
               "SVDF, the fused activation is not applied"),
    ]
}

BY_CODE: dict[int, OpSpec] = {s.code: s for s in OPS.values()}

# Fused activations are folded into act_min/act_max; these ops are removed by the passes.
FOLDED = {"RELU", "RELU6"}


def supported_table() -> list[tuple[str, str, str]]:
    """(op, where it runs, constraints) for `cimsdk convert --supported-ops`."""
    rows = [(s.name, "CiM macro" if s.where == "cim" else "MCU CPU", s.constraints) for s in OPS.values()]
    rows += [(name, "folded", "fused into the producing op's activation range") for name in sorted(FOLDED)]
    return rows
