"""Reference interpreters: TFLM (the ground truth for bit-exactness) and LiteRT's reference kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimconv.errors import UserError


def _tflm():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise UserError("the TFLM interpreter is not installed; `pip install tflite-micro` "
                        "(or `pip install cimsdk[ref]`)") from None
    return runtime


#: The largest arena tried for the TFLM interpreter before giving up.
MAX_ARENA = 1 << 30


def tflm_interpreter(data: bytes, preserve_all: bool = False):
    """A TFLM interpreter with an arena that fits: the package's default (10x the model's size) is
    too small for models whose activations dwarf their weights, and more so when every tensor is
    preserved, so the arena doubles until allocation succeeds."""
    rt = _tflm()
    cfg = rt.InterpreterConfig.kPreserveAllTensors if preserve_all else rt.InterpreterConfig.kAllocationRecording
    size = max(10 * len(data), 1 << 16)
    while True:
        try:
            return rt.Interpreter.from_bytes(data, arena_size=size, intrepreter_config=cfg)
        except RuntimeError as exc:
            if size >= MAX_ARENA:
                raise UserError(f"the TFLM interpreter cannot prepare this model ({exc}); "
                                "check that TFLM supports all its ops and types") from None
            size *= 2


class TFLM:
    """The `tflite-micro` Python interpreter, one input at a time (it has no batch support)."""

    def __init__(self, model: str | Path | bytes, preserve_all: bool = False):
        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.interp = tflm_interpreter(data, preserve_all)
        self.input = self.interp.get_input_details(0)
        self.output = self.interp.get_output_details(0)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        self.interp.set_input(x.reshape(self.input["shape"]).astype(self.input["dtype"]), 0)
        self.interp.invoke()
        return self.interp.get_output(0).copy()

    def run(self, xs: np.ndarray) -> np.ndarray:
        """Batch (B, ...) one by one; returns (B, ...) outputs."""
        outs = [self.invoke(x[None]) for x in xs]
        return np.concatenate(outs, axis=0)

    def tensor(self, index: int) -> np.ndarray:
        t = self.interp.GetTensor(index, 0)
        return np.asarray(t["tensor_data"]).copy()

    def run_capture(self, x: np.ndarray, tensors: list[int]) -> dict[int, np.ndarray]:
        """One input; the listed intermediate tensors (needs preserve_all=True)."""
        self.invoke(x)
        return {t: self.tensor(t) for t in tensors}


class LiteRTRef:
    """LiteRT (or tflite_runtime) with its reference kernels: a second, independent reference."""

    def __init__(self, model: str | Path):
        try:
            from ai_edge_litert import interpreter as lite
        except ImportError:
            try:
                from tflite_runtime import interpreter as lite  # older installs, same API
            except ImportError:
                raise UserError("neither ai-edge-litert nor tflite_runtime is installed; "
                                "`pip install ai-edge-litert`") from None
        self.interp = lite.Interpreter(model_path=str(model),
                                       experimental_op_resolver_type=lite.OpResolverType.BUILTIN_REF,
                                       experimental_preserve_all_tensors=True)
        self.interp.allocate_tensors()
        self.input = self.interp.get_input_details()[0]
        self.output = self.interp.get_output_details()[0]

    def invoke(self, x: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self.input["index"], x.reshape(self.input["shape"]).astype(self.input["dtype"]))
        self.interp.invoke()
        return self.interp.get_tensor(self.output["index"]).copy()

    def run(self, xs: np.ndarray) -> np.ndarray:
        return np.concatenate([self.invoke(x[None]) for x in xs], axis=0)

    def tensor(self, index: int) -> np.ndarray:
        return self.interp.get_tensor(index).copy()
