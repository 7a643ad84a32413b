"""The golden model: runs a weight image on the host as the hardware does, batched over inputs.

It is the single source of truth for what the device computes: the firmware, the C soft backend and
the emulated coprocessor are checked against it, and it is checked against TFLM.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimconv.errors import UserError
from cimconv.image import STORE_CONST, Image, OpRec, TensorRec, parse_image
from cimsdk.golden import cim_ops
from cimsdk.golden.kernels import KERNELS

Kernel = Callable[[OpRec, list[np.ndarray], list[TensorRec], TensorRec], np.ndarray]


class Executor:
    """Run an image's layer program. Arrays carry a leading batch dimension in place of dim 0."""

    def __init__(self, image: bytes | Image, cim: cim_ops.CimModel | None = None, backend: str = "fast"):
        """`cim` models the macros (default: exact, `backend` "fast" or "tiles", see `cimsdk.mac`)."""
        self.image = image if isinstance(image, Image) else parse_image(image)
        self.cim = cim or cim_ops.CimModel.ideal(self.image, backend)
        for op in self.image.ops:
            if not op.cim and op.opcode not in KERNELS:
                raise UserError(f"image op {op.opcode} has no host kernel; update cimsdk")

    # -- one op ---------------------------------------------------------------------------------
    def _operand(self, t: int, values: dict[int, np.ndarray]) -> np.ndarray:
        rec = self.image.tensors[t]
        if rec.storage == STORE_CONST:
            return self.image.const_array(t)
        return values[t]

    def run_op(self, index: int, inputs: list[np.ndarray]) -> np.ndarray:
        """Execute op `index` on batched inputs (const operands are filled in when omitted)."""
        op = self.image.ops[index]
        recs = [self.image.tensors[t] for t in op.inputs]
        if len(inputs) < len(op.inputs):
            it = iter(inputs)
            inputs = [self.image.const_array(t) if r.storage == STORE_CONST else next(it)
                      for t, r in zip(op.inputs, recs, strict=True)]
        out_rec = self.image.tensors[op.outputs[0]]
        if op.cim:
            return self.cim.run(index, op, inputs, recs, out_rec)
        return KERNELS[op.opcode](op, inputs, recs, out_rec)

    def op_counters(self, index: int, batch: int = 1) -> dict[str, int]:
        """Macro operation counts of one CiM op (empty for CPU ops)."""
        op = self.image.ops[index]
        return self.cim.counters(index, op, batch) if op.cim else {}

    # -- whole program --------------------------------------------------------------------------
    def _batch(self, x: np.ndarray, tensor: int | None = None) -> np.ndarray:
        rec = self.image.tensors[self.image.input_tensor if tensor is None else tensor]
        x = np.asarray(x)
        want = tuple(rec.shape[1:])
        if x.shape == tuple(rec.shape):
            pass
        elif x.shape[1:] != want:
            raise UserError(f"input has shape {x.shape}, the model takes {tuple(rec.shape)} "
                            f"(a leading batch dimension is allowed)")
        if x.dtype != np.dtype(rec.dtype):
            raise UserError(f"input dtype {x.dtype}, the model takes {rec.dtype}")
        return x

    def run_all(self, xs: list[np.ndarray], capture: bool = False
                ) -> list[np.ndarray] | tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """The program on int8 codes of every model input (batched alike); int8 codes of every output."""
        ins = self.image.inputs
        if len(xs) != len(ins):
            raise UserError(f"{len(xs)} input arrays for a model of {len(ins)} inputs")
        values = {io.tensor: self._batch(x, io.tensor) for io, x in zip(ins, xs, strict=True)}
        if len({v.shape[0] for v in values.values()}) > 1:
            raise UserError(f"the model's inputs hold different numbers of items "
                            f"({', '.join(str(v.shape[0]) for v in values.values())}); give each the same batch")
        for i, op in enumerate(self.image.ops):
            args = [self._operand(t, values) for t in op.inputs]
            values[op.outputs[0]] = self.run_op(i, args)
        outs = [values[io.tensor] for io in self.image.outputs]
        return (outs, values) if capture else outs

    def run(self, x: np.ndarray, capture: bool = False) -> np.ndarray | tuple[np.ndarray, dict[int, np.ndarray]]:
        """A one-input model's program on int8 codes; its first output (`run_all` gives every output)."""
        if len(self.image.inputs) != 1:
            raise UserError(f"the model has {len(self.image.inputs)} inputs; give one array per input (run_all)")
        outs, values = self.run_all([x], capture=True)
        return (outs[0], values) if capture else outs[0]

    def predict(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """What the model returns for its inputs in their edge dtypes (float32 in, float32 out for a
        float-edged model): the host runs the edge QUANTIZE/DEQUANTIZE as TFLM does (cimsdk.golden.edges)."""
        from cimsdk.golden import edges

        return edges.model_outputs(self.image, self.run_all(edges.program_inputs(self.image, xs)))
