"""TFLite flatbuffer to graph IR, through the maintained `tflite` package (no hand parsing)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import tflite

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator, Quant, Tensor

_TYPES = {
    tflite.TensorType.FLOAT32: "float32",
    tflite.TensorType.FLOAT16: "float16",
    tflite.TensorType.INT32: "int32",
    tflite.TensorType.UINT8: "uint8",
    tflite.TensorType.INT64: "int64",
    tflite.TensorType.BOOL: "bool",
    tflite.TensorType.INT16: "int16",
    tflite.TensorType.INT8: "int8",
}
_OPTION_CLASSES = {
    value: name for name, value in vars(tflite.BuiltinOptions).items() if not name.startswith("_")
}
_ACTIVATIONS = {
    value: name for name, value in vars(tflite.ActivationFunctionType).items() if not name.startswith("_")
}
_PADDINGS = {value: name for name, value in vars(tflite.Padding).items() if not name.startswith("_")}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _decode_options(op: tflite.Operator) -> dict:
    """All scalar and vector fields of the op's builtin options, as snake_case keys."""
    type_id = op.BuiltinOptionsType()
    cls_name = _OPTION_CLASSES.get(type_id)
    if not type_id or cls_name is None or not hasattr(tflite, cls_name):
        return {}
    table = op.BuiltinOptions()
    if table is None:
        return {}
    obj = getattr(tflite, cls_name)()
    obj.Init(table.Bytes, table.Pos)
    out: dict = {}
    for name, fn in inspect.getmembers(obj, inspect.ismethod):
        if not name[0].isupper() or name in ("Init",) or name.startswith("GetRootAs"):
            continue
        if name.endswith(("AsNumpy", "Length", "IsNone")):
            continue
        params = inspect.signature(fn).parameters
        if hasattr(obj, name + "AsNumpy"):
            value = getattr(obj, name + "AsNumpy")()
            out[_snake(name)] = [] if isinstance(value, int) else [int(v) for v in value]
        elif not params:
            out[_snake(name)] = fn()
    if "fused_activation_function" in out:
        out["fused_activation_function"] = _ACTIVATIONS.get(out["fused_activation_function"], "NONE")
    if "padding" in out:
        out["padding"] = _PADDINGS.get(out["padding"], "SAME")
    return out


def _quant(t: tflite.Tensor) -> Quant | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).reshape(-1)
    if q.ZeroPointLength():
        zp = np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1)
    else:
        zp = np.zeros_like(scale, dtype=np.int64)
    if zp.size == 1 and scale.size > 1:
        zp = np.repeat(zp, scale.size)
    return Quant(scale=scale, zero_point=zp, axis=int(q.QuantizedDimension()))


def read_model(path: str | Path) -> Graph:
    """Read a .tflite file; every failure becomes a ModelError naming the file and what to do."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file; give the path of an int8 .tflite model")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; give the path of an int8 .tflite model")
    data = path.read_bytes()
    return parse_model(data, name=path.stem, where=str(path))


def parse_model(data: bytes, name: str = "model", where: str = "<bytes>") -> Graph:
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{where}: not a TFLite flatbuffer (no 'TFL3' identifier); give a .tflite file")
    try:
        return _parse(data, name)
    except ModelError:
        raise
    except Exception as exc:  # a truncated or corrupt flatbuffer fails deep inside the generated code
        raise ModelError(
            f"{where}: corrupt or truncated TFLite flatbuffer ({type(exc).__name__}: {exc}); re-export the model"
        ) from None


def _parse(data: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError(f"{name}: the model has no subgraph")
    opcodes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == tflite.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            opcodes.append(("CUSTOM:" + (custom.decode() if custom else "?"), oc.Version()))
        else:
            opcodes.append((tflite.opcode2name(code), oc.Version()))
    sg = model.Subgraphs(0)
    tensors: list[Tensor] = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        dtype = _TYPES.get(t.Type())
        if dtype is None:
            dtype = f"type{t.Type()}"
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        const = None
        buf = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        if buf is not None and buf.DataLength() > 0 and dtype in _TYPES.values():
            raw = buf.DataAsNumpy().tobytes()
            const = np.frombuffer(raw, dtype=np.dtype(dtype)).copy()
            const = const.reshape(shape) if shape and const.size == int(np.prod(shape)) else const
        elif buf is not None and buf.Offset() > 1:
            size = buf.Size()
            raw = data[buf.Offset() : buf.Offset() + size]
            if len(raw) != size:
                raise ModelError(f"{name}: tensor {i} data lies past the end of the file (truncated?)")
            const = np.frombuffer(raw, dtype=np.dtype(dtype)).copy().reshape(shape)
        tname = t.Name().decode(errors="replace") if t.Name() else f"t{i}"
        tensors.append(Tensor(i, tname, shape, dtype, _quant(t), const))
    ops: list[Operator] = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        opcode, version = opcodes[op.OpcodeIndex()]
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        for t in ins + outs:
            if t >= len(tensors):
                raise ModelError(f"{name}: operator {i} ({opcode}) refers to tensor {t}, which does not exist")
        ops.append(Operator(i, opcode, ins, outs, _decode_options(op), version))
    inputs = [int(v) for v in sg.InputsAsNumpy()] if sg.InputsLength() else []
    outputs = [int(v) for v in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
    desc = model.Description().decode(errors="replace") if model.Description() else ""
    return Graph(name, tensors, ops, inputs, outputs, desc)
