"""The golden model run through the image's arena, byte for byte where the device keeps its activations.

`Executor` keeps every tensor as its own array, so it cannot notice a bad memory plan. `ArenaReplay`
runs the same kernels but reads every activation from one flat arena at the offsets the image gives and
writes every output back there, as the firmware does. A convolution whose output overlaps its input
(the planner's in-place layers) is written pixel by pixel in raster order, the order of every device
executor (last to first for an op flagged `CIMG_OPF_REVERSE`), and after each pixel is written the replay checks that the input bytes its own and the
neighbouring pixels read are still the input's: a plan that would let the device read an already
overwritten byte raises `ArenaHazard` naming the op, instead of giving a plausible wrong answer.
"""

from __future__ import annotations

import numpy as np

from cimconv.errors import UserError
from cimconv.image import STORE_ARENA, Image, OpRec, TensorRec, parse_image
from cimsdk.golden.executor import Executor

STREAMING_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")  # CiM ops the device may run over their own input


class ArenaHazard(UserError):
    """A layer of the plan would overwrite input bytes the device has yet to read."""


def _field(rec_in: TensorRec, op: OpRec, oy: int, ox: int) -> np.ndarray:
    """Byte offsets (from the input's start) of the input pixels output pixel (oy, ox) reads."""
    p = op.params
    _, H, W, C = rec_in.shape
    es = np.dtype(rec_in.dtype).itemsize
    rows = [oy * p["stride_h"] - p["pad_top"] + k * p["dil_h"] for k in range(p["kernel_h"])]
    cols = [ox * p["stride_w"] - p["pad_left"] + k * p["dil_w"] for k in range(p["kernel_w"])]
    pix = [r * W + c for r in rows if 0 <= r < H for c in cols if 0 <= c < W]
    if not pix:
        return np.zeros(0, np.int64)
    return (np.asarray(pix)[:, None] * C * es + np.arange(C * es)[None, :]).reshape(-1)


class ArenaReplay:
    """Run a stateless image with all activations in one arena laid out as the image says (one input at a time)."""

    def __init__(self, image: bytes | Image):
        self.image = image if isinstance(image, Image) else parse_image(image)
        if self.image.state_tensors:
            raise UserError("ArenaReplay runs stateless images only")
        self.ex = Executor(self.image)
        self.arena = np.zeros(self.image.arena_size, np.uint8)
        self.streamed: list[int] = []  # ops written over their own input in the last run

    def _span(self, t: int) -> tuple[int, int]:
        rec = self.image.tensors[t]
        return rec.offset, rec.offset + rec.nbytes

    def _read(self, t: int) -> np.ndarray:
        rec = self.image.tensors[t]
        a, b = self._span(t)
        return self.arena[a:b].copy().view(rec.dtype).reshape((1, *rec.shape[1:]))

    def _write_streaming(self, index: int, op: OpRec, src: int, out: np.ndarray) -> None:
        """Output pixels in raster order (last to first for an op flagged reverse); once pixel j is written,
        pixels j-1, j and j+1 must still find their input bytes (a kernel may write a pixel's first channels
        while it still reads its input, and the soft CONV_2D kernel works on pairs of pixels); a pixel further
        on is checked when its turn comes."""
        rec_in, rec_out = self.image.tensors[src], self.image.tensors[op.outputs[0]]
        if op.opcode not in STREAMING_OPS or len(rec_in.shape) != 4 or rec_in.shape[0] != 1:
            raise ArenaHazard(f"op {index} ({op.opcode}) writes over its input but does not run pixel by pixel")
        in0, _ = self._span(src)
        out0, _ = self._span(op.outputs[0])
        snapshot = self.arena.copy()
        _, OH, OW, _ = rec_out.shape
        pix_bytes = out.nbytes // (OH * OW)
        raw = np.ascontiguousarray(out).view(np.uint8).reshape(-1)
        fields = [_field(rec_in, op, j // OW, j % OW) + in0 for j in range(OH * OW)]
        walk = range(OH * OW - 1, -1, -1) if op.reverse else range(OH * OW)  # CIMG_OPF_REVERSE: last to first
        for j in walk:
            self.arena[out0 + j * pix_bytes : out0 + (j + 1) * pix_bytes] = raw[j * pix_bytes : (j + 1) * pix_bytes]
            for k in (j - 1, j, j + 1):
                if 0 <= k < OH * OW and not np.array_equal(self.arena[fields[k]], snapshot[fields[k]]):
                    raise ArenaHazard(f"op {index} ({op.opcode}): writing output pixel {j} overwrites input bytes "
                                      f"that pixel {k} reads (the arena plan is unsafe)")
        self.streamed.append(index)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """One input (the model input's shape, with or without its leading 1): every output, read from the arena."""
        img = self.image
        xs = [np.asarray(x)] if len(img.inputs) == 1 else list(x)
        self.streamed = []
        for io, v in zip(img.inputs, xs, strict=True):
            a, b = self._span(io.tensor)
            self.arena[a:b] = np.ascontiguousarray(v, dtype=img.tensors[io.tensor].dtype).view(np.uint8).reshape(-1)
        for i, op in enumerate(img.ops):
            acts = [t for t in op.inputs if img.tensors[t].storage == STORE_ARENA]
            out = self.ex.run_op(i, [self._read(t) for t in acts])
            o0, o1 = self._span(op.outputs[0])
            over = [t for t in acts if self._span(t)[0] < o1 and o0 < self._span(t)[1]]
            same = [t for t in over if self._span(t) == (o0, o1) and op.opcode == "RESHAPE"]
            if over and not same:
                self._write_streaming(i, op, over[0], out)
            else:
                self.arena[o0:o1] = np.ascontiguousarray(out, dtype=img.tensors[op.outputs[0]].dtype).view(
                    np.uint8).reshape(-1)
        return [self._read(io.tensor) for io in img.outputs]
