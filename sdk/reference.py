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


def io_counts(data: bytes) -> tuple[int, int]:
    """Inputs and outputs of a TFLite model's main subgraph."""
    import tflite

    sg = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
    return sg.InputsLength(), sg.OutputsLength()


class TFLM:
    """The `tflite-micro` Python interpreter, one input at a time (it has no batch support)."""

    def __init__(self, model: str | Path | bytes, preserve_all: bool = False):
        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.interp = tflm_interpreter(data, preserve_all)
        n_in, n_out = io_counts(data)
        self.inputs = [self.interp.get_input_details(i) for i in range(n_in)]
        self.outputs = [self.interp.get_output_details(i) for i in range(n_out)]
        self.input, self.output = self.inputs[0], self.outputs[0]

    def _set(self, i: int, x: np.ndarray) -> None:
        d = self.inputs[i]
        want = np.dtype(d["dtype"])
        x = np.asarray(x)
        if x.dtype != want:
            # Same kind only (float64 -> float32, int codes that fit): never integer codes into a float input.
            fits = want.kind in "iu" and x.dtype.kind in "iu" and (x.size == 0 or (
                np.iinfo(want).min <= x.min() and x.max() <= np.iinfo(want).max))
            if not (fits or (want.kind == "f" and x.dtype.kind == "f")):
                raise UserError(f"TFLM input {i} is {want.name}, got {x.dtype} values; give the model's own input type")
            x = x.astype(want)
        self.interp.set_input(x.reshape(d["shape"]), i)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """One item of a one-input model (a leading 1 allowed); the first output."""
        self._set(0, x)
        self.interp.invoke()
        return self.interp.get_output(0).copy()

    def invoke_all(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """One item per model input, in the model's input order; every output."""
        if len(xs) != len(self.inputs):
            raise UserError(f"{len(xs)} input arrays for a model of {len(self.inputs)} inputs")
        for i, x in enumerate(xs):
            self._set(i, x)
        self.interp.invoke()
        return [self.interp.get_output(i).copy() for i in range(len(self.outputs))]

    def run(self, xs: np.ndarray) -> np.ndarray:
        """Batch (B, ...) one by one; returns (B, ...) outputs."""
        outs = [self.invoke(x[None]) for x in xs]
        return np.concatenate(outs, axis=0)

    def run_all(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Batches (B, ...) of every input, one item at a time; (B, ...) of every output."""
        per_item = [self.invoke_all([x[i : i + 1] for x in xs]) for i in range(len(xs[0]))]
        return [np.concatenate([item[j] for item in per_item], axis=0) for j in range(len(self.outputs))]

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
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()
        self.input, self.output = self.inputs[0], self.outputs[0]

    def invoke(self, x: np.ndarray) -> np.ndarray:
        return self.invoke_all([x])[0]

    def invoke_all(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """One item per model input (already in the model's input dtypes); every output."""
        for d, x in zip(self.inputs, xs, strict=True):
            self.interp.set_tensor(d["index"], np.asarray(x).reshape(d["shape"]).astype(d["dtype"]))
        self.interp.invoke()
        return [self.interp.get_tensor(d["index"]).copy() for d in self.outputs]

    def run(self, xs: np.ndarray) -> np.ndarray:
        return np.concatenate([self.invoke(x[None]) for x in xs], axis=0)

    def tensor(self, index: int) -> np.ndarray:
        return self.interp.get_tensor(index).copy()
