"""TFLite flatbuffer to graph IR, through the maintained `tflite` package (no hand parsing)."""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import numpy as np
import tflite

from cimconv.errors import ModelError
from cimconv.ir import Graph, Operator, Quant, Tensor, clip_text, shape_text

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
    # Values the schema does not define stay visible, so the lowering rejects them by name.
    if "fused_activation_function" in out:
        v = out["fused_activation_function"]
        out["fused_activation_function"] = _ACTIVATIONS.get(v, f"undefined activation {v}")
    if "padding" in out:
        out["padding"] = _PADDINGS.get(out["padding"], f"undefined padding {out['padding']}")
    return out


# Zero points a tensor of each dtype can hold (TFLite writes 0 for float tensors' unused ones).
_ZP_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-(1 << 31), (1 << 31) - 1),
             "int64": (-(1 << 31), (1 << 31) - 1)}
MAX_ELEMENTS = 1 << 31  # elements of one tensor; anything larger cannot be a microcontroller model


def _quant(t: tflite.Tensor, where: str, dtype: str, shape: tuple[int, ...]) -> Quant | None:
    """The tensor's quantization, checked: finite positive scales, zero points in range, per-channel lengths."""
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).reshape(-1)
    bad = scale[~(np.isfinite(scale) & (scale > 0))]
    if bad.size:
        raise ModelError(f"{where}: quantization scale {float(bad[0])} is not a positive finite number")
    nzp = q.ZeroPointLength()
    if nzp:
        zp = np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1)
    else:
        zp = np.zeros_like(scale, dtype=np.int64)
    if zp.size == 1 and scale.size > 1:
        zp = np.repeat(zp, scale.size)
    if zp.size != scale.size:
        raise ModelError(f"{where}: {scale.size} quantization scales but {nzp} zero points")
    lo, hi = _ZP_RANGE.get(dtype, (-(1 << 31), (1 << 31) - 1))
    out = zp[(zp < lo) | (zp > hi)]
    if out.size:
        raise ModelError(f"{where}: zero point {int(out[0])} is outside the {dtype} range [{lo}, {hi}]")
    axis = int(q.QuantizedDimension())
    if scale.size > 1 and not (0 <= axis < len(shape) and shape[axis] == scale.size):
        raise ModelError(f"{where}: {scale.size} per-channel scales along dimension {axis} do not fit shape "
                         f"{shape_text(shape)}")
    return Quant(scale=scale, zero_point=zp, axis=axis)

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
        raise ModelError(f"{where}: corrupt or truncated TFLite flatbuffer ({type(exc).__name__}: "
                         f"{clip_text(str(exc), 80)}); re-export the model") from None


def _opcodes(model: tflite.Model, name: str) -> list[tuple[str, int]]:
    out = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == tflite.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            out.append(("CUSTOM:" + clip_text(custom.decode(errors="replace") if custom else "?"), oc.Version()))
        elif code in tflite.BUILTIN_OPCODE2NAME:
            out.append((tflite.opcode2name(code), oc.Version()))
        else:
            raise ModelError(f"{name}: operator code {i} is builtin op {code}, which TFLite does not define "
                             "(corrupt model?)")
    return out


def _tensor(model: tflite.Model, data: bytes, t: tflite.Tensor, i: int, name: str) -> Tensor:
    tname = t.Name().decode(errors="replace") if t.Name() else f"t{i}"
    where = f"{name}: tensor '{clip_text(tname)}' (tensor {i})"
    dtype = _TYPES.get(t.Type(), f"type{t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise ModelError(f"{where}: shape {shape_text(shape)} has a negative dimension")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise ModelError(f"{where}: shape {shape_text(shape)} has {count:,} elements, more than a model can use")
    if t.Buffer() >= model.BuffersLength():
        raise ModelError(f"{where}: refers to buffer {t.Buffer()}; the model has {model.BuffersLength()}")
    buf = model.Buffers(t.Buffer())
    raw = None
    if buf.DataLength() > 0:
        raw = buf.DataAsNumpy().tobytes()
    elif buf.Offset() > 1:
        off, size = buf.Offset(), buf.Size()
        raw = data[off : off + size]
        if len(raw) != size:
            raise ModelError(f"{where}: data lies past the end of the file (truncated?)")
    const = None
    if raw is not None and dtype in _TYPES.values():
        item = np.dtype(dtype).itemsize
        if len(raw) != count * item:
            raise ModelError(f"{where}: shape {shape_text(shape)} needs {count * item:,} bytes of {dtype}, its buffer "
                             f"{t.Buffer()} holds {len(raw):,}")
        const = np.frombuffer(raw, dtype=np.dtype(dtype)).copy().reshape(shape)
    return Tensor(i, tname, shape, dtype, _quant(t, where, dtype, shape), const, bool(t.IsVariable()))


def _indices(values, n: int, what: str, optional: bool = False) -> list[int]:
    out = [int(v) for v in values]
    for v in out:
        if not (0 <= v < n or (optional and v == -1)):
            raise ModelError(f"{what} refers to tensor {v}; the subgraph has {n} tensors (0..{n - 1})")
    return out


def _parse(data: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError(f"{name}: the model has no subgraph")
    opcodes = _opcodes(model, name)
    sg = model.Subgraphs(0)
    tensors = [_tensor(model, data, sg.Tensors(i), i, name) for i in range(sg.TensorsLength())]
    nt = len(tensors)
    ops: list[Operator] = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if op.OpcodeIndex() >= len(opcodes):
            raise ModelError(f"{name}: operator {i} uses operator code {op.OpcodeIndex()}; the model has "
                             f"{len(opcodes)}")
        opcode, version = opcodes[op.OpcodeIndex()]
        where = f"{name}: operator {i} ({opcode})"
        ins = _indices(op.InputsAsNumpy() if op.InputsLength() else [], nt, f"{where} input", optional=True)
        outs = _indices(op.OutputsAsNumpy() if op.OutputsLength() else [], nt, f"{where} output")
        options_type = _OPTION_CLASSES.get(op.BuiltinOptionsType(), "") if op.BuiltinOptionsType() else ""
        ops.append(Operator(i, opcode, ins, outs, _decode_options(op), version, options_type))
    inputs = _indices(sg.InputsAsNumpy() if sg.InputsLength() else [], nt, f"{name}: model input")
    outputs = _indices(sg.OutputsAsNumpy() if sg.OutputsLength() else [], nt, f"{name}: model output")
    desc = model.Description().decode(errors="replace") if model.Description() else ""
    return Graph(name, tensors, ops, inputs, outputs, desc, _variable_inits(model, data, name, opcodes, ops))


def _variable_inits(model: tflite.Model, data: bytes, name: str, opcodes: list[tuple[str, int]],
                    ops: list[Operator]) -> dict[str, np.ndarray | None]:
    """What the CALL_ONCE initialisation subgraphs assign to each resource variable (by shared name): a
    constant, or None when the value is computed."""
    inits: dict[str, np.ndarray | None] = {}
    for op in ops:
        k = op.options.get("init_subgraph_index") if op.opcode == "CALL_ONCE" else None
        if k is None or not 0 < k < model.SubgraphsLength():
            continue
        sg = model.Subgraphs(k)
        handles: dict[int, str] = {}
        for i in range(sg.OperatorsLength()):
            sop = sg.Operators(i)
            if sop.OpcodeIndex() >= len(opcodes):
                raise ModelError(f"{name}: subgraph {k} operator {i} uses operator code {sop.OpcodeIndex()}; the "
                                 f"model has {len(opcodes)}")
            code = opcodes[sop.OpcodeIndex()][0]
            ins = [int(v) for v in sop.InputsAsNumpy()] if sop.InputsLength() else []
            outs = [int(v) for v in sop.OutputsAsNumpy()] if sop.OutputsLength() else []
            if code == "VAR_HANDLE" and outs:
                shared = _decode_options(sop).get("shared_name") or b""
                handles[outs[0]] = shared.decode(errors="replace") if isinstance(shared, bytes) else str(shared)
            elif code == "ASSIGN_VARIABLE" and len(ins) == 2 and ins[0] in handles:
                if not 0 <= ins[1] < sg.TensorsLength():
                    raise ModelError(f"{name}: subgraph {k} operator {i} refers to tensor {ins[1]}; the subgraph "
                                     f"has {sg.TensorsLength()}")
                value = _tensor(model, data, sg.Tensors(ins[1]), ins[1], name)
                inits[handles[ins[0]]] = value.data
    return inits
