"""LOGISTIC and TANH on int16 (TFLM's 16x8 mode): TFLM's Prepare for its 16-bit table kernels.

The input (zero point 0) goes onto the table's grid of 1/(3 x 4096): a power-of-two input scale whose shift
TFLM takes as it is (input multiplier 0), else a multiplier of up to 15 bits and a left shift found by doubling;
the output is Q0.15 (scale 2^-15, zero point 0). CheckedLog2 is float32 arithmetic, as TFLM's.
"""

from __future__ import annotations

import numpy as np

from cimconv.ir import Operator, Tensor
from cimconv.lowering._cpu_common import fail

INPUT_INTEGER_BITS = 3
OUTPUT_FRACTIONAL_BITS = 15


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLM CheckedLog2: (x is a power of two within 1e-3 in log2, the rounded log2), in float32."""
    x_log2 = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(np.copysign(np.floor(abs(x_log2) + np.float32(0.5)), x_log2))  # TfLiteRound
    return bool(abs(np.float32(x_log2 - rounded)) < np.float32(1e-3)), int(rounded)


def params16(op: Operator, x: Tensor, y: Tensor, pot_shifts: tuple[int, ...]) -> dict[str, int]:
    """(in_zp, input_range_radius, input_mult, input_left_shift) of the int16 kernel; `pot_shifts`: the left
    shifts TFLM's op takes as a power-of-two scale (LOGISTIC 0; TANH 0 or 1)."""
    for t in (x, y):
        if t.quant is None or t.quant.per_channel or t.quant.zp != 0:
            raise fail(op, f"int16 tensor {t.label} needs one scale and zero point 0 (TFLM's 16x8 mode)")
    ok, out_log2 = checked_log2(y.quant.s)
    if not ok or out_log2 != -OUTPUT_FRACTIONAL_BITS:
        raise fail(op, f"int16 output scale {y.quant.s:g}; TFLM's int16 {op.opcode} writes Q0.15 (scale 2^-15)")
    pot, in_log2 = checked_log2(x.quant.s)
    left_shift = (15 - INPUT_INTEGER_BITS) + in_log2
    if pot and left_shift in pot_shifts:
        return {"in_zp": 0, "input_range_radius": 0, "input_mult": 0, "input_left_shift": left_shift}
    multiplier = float(np.float32(x.quant.s)) * 4096.0 * 3.0
    left_shift = 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    if multiplier > 32767.0:
        raise fail(op, f"input scale {x.quant.s:g} is beyond the range of TFLM's int16 {op.opcode} (multiplier "
                       f"{multiplier:.0f} > 32767); check the model's quantization")
    return {"in_zp": 0, "input_range_radius": 0, "input_mult": int(multiplier), "input_left_shift": left_shift}
