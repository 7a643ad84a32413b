"""Write a TFLite flatbuffer with the schema's generated builders (the `tflite` package) and `flatbuffers`.

The quantizer describes the model it wants (tensors with quantization and data, operators with their
options as the reader decodes them); this module turns that into a standard .tflite file: one subgraph,
buffer 0 empty, constant buffers 16-byte aligned (TFLM reads int32/int64 biases in place).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite

_TYPE = {
    "float32": tflite.TensorType.FLOAT32, "float16": tflite.TensorType.FLOAT16, "int32": tflite.TensorType.INT32,
    "uint8": tflite.TensorType.UINT8, "int64": tflite.TensorType.INT64, "bool": tflite.TensorType.BOOL,
    "int16": tflite.TensorType.INT16, "int8": tflite.TensorType.INT8,
}
# Builtin options table of each op the quantizer writes (None: the op has no options).
OPTIONS_CLASS = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
    "RESHAPE": "ReshapeOptions", "SOFTMAX": "SoftmaxOptions", "ADD": "AddOptions", "MUL": "MulOptions",
    "PAD": "PadOptions", "CONCATENATION": "ConcatenationOptions", "MEAN": "ReducerOptions",
    "QUANTIZE": "QuantizeOptions", "DEQUANTIZE": "DequantizeOptions", "LOGISTIC": None, "TANH": None,
    "RELU": None, "RELU6": None,
}
_ENUMS = {"fused_activation_function": tflite.ActivationFunctionType, "padding": tflite.Padding}


@dataclass
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray | None = None  # float32 (C,) ; None = not quantized
    zero_point: np.ndarray | None = None
    axis: int = 0
    data: np.ndarray | None = None  # constant contents


@dataclass
class OpSpec:
    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)
    version: int = 1


@dataclass
class ModelSpec:
    tensors: list[TensorSpec]
    ops: list[OpSpec]
    inputs: list[int]
    outputs: list[int]
    description: str = "cimsdk quantize"


def _int_vector(b: flatbuffers.Builder, values, dtype=np.int32) -> int:
    return b.CreateNumpyVector(np.asarray(list(values), dtype=dtype).reshape(-1))


def _data_vector(b: flatbuffers.Builder, payload: bytes, align: int = 16) -> int:
    """A ubyte vector whose first byte is `align`-aligned in the finished buffer (the library's own
    StartVector alignment; the copy is what CreateNumpyVector does for a uint8 array)."""
    b.StartVector(1, len(payload), align)
    b.head = b.head - len(payload)
    b.Bytes[b.head : b.head + len(payload)] = payload
    b.vectorNumElems = len(payload)
    return b.EndVector()


def _options(b: flatbuffers.Builder, cls: str, opts: dict) -> int:
    mod = importlib.import_module(f"tflite.{cls}")
    camel = {k: "".join(p.capitalize() for p in k.split("_")) for k in opts}
    vectors = {}
    for k, v in opts.items():
        if isinstance(v, list | tuple) and hasattr(mod, f"{cls}Add{camel[k]}"):
            vectors[k] = _int_vector(b, v)
    getattr(mod, f"{cls}Start")(b)
    for k, v in opts.items():
        add = getattr(mod, f"{cls}Add{camel[k]}", None)
        if add is None:
            continue
        if k in vectors:
            add(b, vectors[k])
        elif isinstance(v, str):
            add(b, getattr(_ENUMS[k], v))
        elif isinstance(v, bool | int | float):
            add(b, v)
    return getattr(mod, f"{cls}End")(b)


def write_model(spec: ModelSpec) -> bytes:
    """Serialize `spec` as a TFLite flatbuffer ("TFL3")."""
    B, M, Op, OC, QP, SG, T = (importlib.import_module(f"tflite.{n}") for n in (
        "Buffer", "Model", "Operator", "OperatorCode", "QuantizationParameters", "SubGraph", "Tensor"))

    b = flatbuffers.Builder(1 << 16)
    # Buffers: 0 is the empty sentinel, then one per constant tensor.
    buf_of: dict[int, int] = {}
    buffers = []
    B.BufferStart(b)
    buffers.append(B.BufferEnd(b))
    for i, t in enumerate(spec.tensors):
        if t.data is None:
            continue
        vec = _data_vector(b, np.ascontiguousarray(t.data, dtype=np.dtype(t.dtype)).tobytes())
        B.BufferStart(b)
        B.BufferAddData(b, vec)
        buf_of[i] = len(buffers)
        buffers.append(B.BufferEnd(b))

    tensors = []
    for i, t in enumerate(spec.tensors):
        name = b.CreateString(t.name)
        shape = _int_vector(b, t.shape)
        q = None
        if t.scale is not None:
            sc = b.CreateNumpyVector(np.asarray(t.scale, np.float32).reshape(-1))
            zp = b.CreateNumpyVector(np.asarray(t.zero_point, np.int64).reshape(-1))
            QP.QuantizationParametersStart(b)
            QP.QuantizationParametersAddScale(b, sc)
            QP.QuantizationParametersAddZeroPoint(b, zp)
            QP.QuantizationParametersAddQuantizedDimension(b, int(t.axis))
            q = QP.QuantizationParametersEnd(b)
        T.TensorStart(b)
        T.TensorAddShape(b, shape)
        T.TensorAddType(b, _TYPE[t.dtype])
        T.TensorAddBuffer(b, buf_of.get(i, 0))
        T.TensorAddName(b, name)
        if q is not None:
            T.TensorAddQuantization(b, q)
        tensors.append(T.TensorEnd(b))

    codes: list[tuple[str, int]] = []
    for op in spec.ops:
        if (op.opcode, op.version) not in codes:
            codes.append((op.opcode, op.version))
    ops = []
    for op in spec.ops:
        cls = OPTIONS_CLASS.get(op.opcode)
        opt = _options(b, cls, op.options) if cls else None
        ins, outs = _int_vector(b, op.inputs), _int_vector(b, op.outputs)
        Op.OperatorStart(b)
        Op.OperatorAddOpcodeIndex(b, codes.index((op.opcode, op.version)))
        Op.OperatorAddInputs(b, ins)
        Op.OperatorAddOutputs(b, outs)
        if opt is not None:
            Op.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, cls))
            Op.OperatorAddBuiltinOptions(b, opt)
        ops.append(Op.OperatorEnd(b))

    def vec(start, items: list[int]) -> int:
        start(b, len(items))
        for it in reversed(items):
            b.PrependUOffsetTRelative(it)
        return b.EndVector()

    t_vec = vec(SG.SubGraphStartTensorsVector, tensors)
    o_vec = vec(SG.SubGraphStartOperatorsVector, ops)
    sg_in, sg_out = _int_vector(b, spec.inputs), _int_vector(b, spec.outputs)
    sg_name = b.CreateString("main")
    SG.SubGraphStart(b)
    SG.SubGraphAddTensors(b, t_vec)
    SG.SubGraphAddInputs(b, sg_in)
    SG.SubGraphAddOutputs(b, sg_out)
    SG.SubGraphAddOperators(b, o_vec)
    SG.SubGraphAddName(b, sg_name)
    sg = SG.SubGraphEnd(b)

    oc_offs = []
    for name, version in codes:
        code = getattr(tflite.BuiltinOperator, name)
        OC.OperatorCodeStart(b)
        OC.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        OC.OperatorCodeAddBuiltinCode(b, code)
        OC.OperatorCodeAddVersion(b, version)
        oc_offs.append(OC.OperatorCodeEnd(b))
    oc_vec = vec(M.ModelStartOperatorCodesVector, oc_offs)
    sg_vec = vec(M.ModelStartSubgraphsVector, [sg])
    buf_vec = vec(M.ModelStartBuffersVector, buffers)
    desc = b.CreateString(spec.description)
    M.ModelStart(b)
    M.ModelAddVersion(b, 3)
    M.ModelAddOperatorCodes(b, oc_vec)
    M.ModelAddSubgraphs(b, sg_vec)
    M.ModelAddDescription(b, desc)
    M.ModelAddBuffers(b, buf_vec)
    b.Finish(M.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())
