"""MINIMUM lowering: the same record as MAXIMUM (raw int8 or int16 values compared, 4-D broadcasting, nothing to
precompute); only the kernels differ."""

from __future__ import annotations

from cimconv.lowering.maximum import PARAM_INPUTS, check_record, lower

__all__ = ["PARAM_INPUTS", "check_record", "lower"]
