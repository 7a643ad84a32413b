"""The golden model: runs a weight image on the host as the hardware does, batched over inputs.

It is the single source of truth for what the device computes: the firmware, the C soft backend and
the emulated coprocessor are checked against it, and it is checked against TFLM.

Stateful models (SVDF's activation state, a TFLite variable tensor) keep their state tensors between
`run` calls, as TFLM keeps variable tensors between invocations: each call is the next frame, and the
batch is that many independent streams (a change of batch size, or `reset_state`, starts them afresh).
`run_frames` feeds a sequence of frames to one stream.
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

    def __init__(self, image: bytes | Image, cim: cim_ops.CimModel | None = None):
        self.image = image if isinstance(image, Image) else parse_image(image)
        self.cim = cim or cim_ops.CimModel.ideal(self.image)
        self.state: dict[int, np.ndarray] = {}  # state tensor -> (streams, ...) values, updated in place
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
    def _batch(self, x: np.ndarray) -> np.ndarray:
        rec = self.image.tensors[self.image.input_tensor]
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

    @property
    def stateful(self) -> bool:
        return bool(self.image.state_tensors)

    def reset_state(self) -> None:
        """Back to the state at load (TFLM's ResetVariableTensors): the next run is every stream's first frame."""
        self.state = {}

    def _state(self, streams: int) -> dict[int, np.ndarray]:
        if any(v.shape[0] != streams for v in self.state.values()):
            self.state = {}
        for t in self.image.state_tensors:
            if t not in self.state:
                init = self.image.state_initial(t)
                self.state[t] = np.repeat(init[None], streams, axis=0).reshape((streams, *init.shape[1:]))
        return self.state

    def run_frames(self, xs: np.ndarray) -> np.ndarray:
        """A sequence of frames (T, ...) through one stream, from the current state: outputs (T, ...).

        A frame is the model's input with or without its leading dimension of 1."""
        xs = np.asarray(xs)
        if not self.stateful:
            return self.run(xs)
        one = (1, *self.image.tensors[self.image.input_tensor].shape[1:])
        return np.concatenate([self.run(x.reshape(one)) for x in xs], axis=0)

    def run(self, x: np.ndarray, capture: bool = False) -> np.ndarray | tuple[np.ndarray, dict[int, np.ndarray]]:
        x = self._batch(x)
        values = {self.image.input_tensor: x}
        if self.stateful:
            values.update(self._state(x.shape[0]))
        for i, op in enumerate(self.image.ops):
            ins = [self._operand(t, values) for t in op.inputs]
            values[op.outputs[0]] = self.run_op(i, ins)
        out = values[self.image.output_tensor]
        return (out, values) if capture else out
