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

    def __init__(self, image: bytes | Image, cim: cim_ops.CimModel | None = None, backend: str = "fast"):
        """`cim` models the macros (default: exact, `backend` "fast" or "tiles", see `cimsdk.mac`)."""
        self.image = image if isinstance(image, Image) else parse_image(image)
        self.cim = cim or cim_ops.CimModel.ideal(self.image, backend)
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
        """A one-input model's sequence of frames (T, ...) through one stream, from the current state: its first
        output (T, ...). A frame is the model's input with or without its leading dimension of 1."""
        return self.run_frames_all([xs])[0]

    def run_frames_all(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Frames (T, ...) of every model input through one stream, from the current state: every output
        (T, ...). A stateless program runs them as one batch."""
        if not self.stateful:
            return self.run_all(xs)
        xs = [np.asarray(x) for x in xs]
        ones = [(1, *self.image.tensors[io.tensor].shape[1:]) for io in self.image.inputs]
        if len(xs) != len(ones) or len({len(x) for x in xs}) > 1:
            raise UserError(f"{len(xs)} input arrays of {', '.join(str(len(x)) for x in xs)} frames for a model of "
                            f"{len(ones)} inputs; give each input the same number of frames")
        frames = [self.run_all([x[k].reshape(one) for x, one in zip(xs, ones, strict=True)])
                  for k in range(len(xs[0]))]
        return [np.concatenate([f[j] for f in frames], axis=0) for j in range(len(self.image.outputs))]

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
        if self.stateful:  # state tensors carried from the previous run (each batch item its own stream)
            values.update(self._state(next(iter(values.values())).shape[0]))
        for i, op in enumerate(self.image.ops):
            args = [self._operand(t, values) for t in op.inputs]
            values[op.outputs[0]] = self.run_op(i, args)
        for t, v in self.state.items():  # a state tensor written as an op's output (ASSIGN_VARIABLE)
            if values.get(t) is not v:
                self.state[t] = values[t]
        outs = [values[io.tensor] for io in self.image.outputs]
        return (outs, values) if capture else outs

    def run(self, x: np.ndarray, capture: bool = False) -> np.ndarray | tuple[np.ndarray, dict[int, np.ndarray]]:
        """A one-input model's program on int8 codes; its first output (`run_all` gives every output)."""
        if len(self.image.inputs) != 1:
            raise UserError(f"the model has {len(self.image.inputs)} inputs; give one array per input (run_all)")
        outs, values = self.run_all([x], capture=True)
        return (outs[0], values) if capture else outs[0]

    def predict(self, xs: list[np.ndarray], frames: bool = False) -> list[np.ndarray]:
        """What the model returns for its inputs in their edge dtypes (float32 in, float32 out for a
        float-edged model): the host runs the edge QUANTIZE/DEQUANTIZE as TFLM does (cimsdk.golden.edges).
        `frames`: the items are consecutive frames of one stream (`run_frames_all`), not independent inputs."""
        from cimsdk.golden import edges

        prog = edges.program_inputs(self.image, xs)
        return edges.model_outputs(self.image, self.run_frames_all(prog) if frames else self.run_all(prog))
