"""A TFLite flatbuffer writer: tensors, builtin operators and constant buffers, no TensorFlow.

The graph is built in memory (``TfliteGraph``) and serialised with the ``flatbuffers`` package and
the TFLite schema bindings of the ``tflite`` package. Every operator records the builtin op version
that its input types and options need, the way TFLite's own converter sets it
(tensorflow/lite/tools/versioning/op_version.cc), so a device check can compare the list with the
LiteRT build on the device.

The batch dimension is dynamic: tensors are written with shape 1 and shape_signature -1 in that
dimension, and the runtime resizes the input to the rows it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = 3
_DTYPES = {"float32": 0, "int32": 2, "bool": 6, "int8": 9}
_BUFFER_ALIGNMENT = 16  # LiteRT reads constants in place; SIMD kernels want them aligned


@dataclass(frozen=True)
class Quantization:
    """Affine int8 quantization: real = scale * (q - zero_point); per channel along ``axis``."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @staticmethod
    def of(scale: float | Sequence[float], zero_point: int | Sequence[int] = 0, axis: int = 0) -> Quantization:
        scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
        zeros = np.broadcast_to(np.atleast_1d(np.asarray(zero_point, dtype=np.int64)), scales.shape).copy()
        return Quantization(scales, zeros, axis)

    def describe(self) -> dict[str, float | int]:
        """A per-tensor quantization as artifact.json records it."""
        if self.scale.size != 1:
            raise ValueError("only a per-tensor quantization has one scale to describe")
        return {"scale": float(self.scale[0]), "zero_point": int(self.zero_point[0])}


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]  # -1: the batch dimension
    dtype: str
    buffer: int
    quantization: Quantization | None


@dataclass
class _Operator:
    opcode: int
    inputs: list[int]
    outputs: list[int]
    options: tuple[str, dict[str, Any]] | None


@dataclass
class TfliteGraph:
    """One subgraph with float or int8 tensors; ``serialize`` gives the .tflite bytes."""

    tensors: list[_Tensor] = field(default_factory=list)
    operators: list[_Operator] = field(default_factory=list)
    buffers: list[bytes] = field(default_factory=lambda: [b""])  # buffer 0: the empty sentinel
    opcodes: dict[tuple[str, int], int] = field(default_factory=dict)  # (op, version) -> opcode index
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def tensor(self, name: str, shape: Sequence[int], dtype: str, quantization: Quantization | None = None) -> int:
        """An activation tensor (filled at run time)."""
        if dtype not in _DTYPES:
            raise ValueError(f"TFLite writer has no dtype {dtype}")
        self.tensors.append(_Tensor(name, tuple(int(d) for d in shape), dtype, 0, quantization))
        return len(self.tensors) - 1

    def constant(self, name: str, values: np.ndarray, quantization: Quantization | None = None) -> int:
        values = np.ascontiguousarray(values)
        dtype = "bool" if values.dtype == np.bool_ else values.dtype.name
        self.buffers.append(values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes())
        self.tensors.append(_Tensor(name, values.shape, dtype, len(self.buffers) - 1, quantization))
        return len(self.tensors) - 1

    def input(self, name: str, shape: Sequence[int], dtype: str, quantization: Quantization | None = None) -> int:
        index = self.tensor(name, shape, dtype, quantization)
        self.inputs.append(index)
        return index

    def op(
        self,
        name: str,
        version: int,
        inputs: Sequence[int],
        outputs: Sequence[int],
        options: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """A builtin operator, e.g. ``op("FULLY_CONNECTED", 1, [x, w, b], [y], ("FullyConnectedOptions", {}))``;
        option fields are the schema's names (``FusedActivationFunction``); -1 in inputs means none."""
        key = (name, version)
        if key not in self.opcodes:
            self.opcodes[key] = len(self.opcodes)
        self.operators.append(_Operator(self.opcodes[key], list(inputs), list(outputs), options))

    def shape_of(self, index: int) -> tuple[int, ...]:
        return self.tensors[index].shape

    def operator_versions(self) -> list[dict[str, Any]]:
        return [{"op": op, "version": version} for op, version in sorted(self.opcodes)]

    def arena_estimate(self) -> int:
        """Bytes of all activation tensors for one row: an upper bound on LiteRT's arena, which
        reuses memory between tensors whose lifetimes do not overlap."""
        sizes = {"float32": 4, "int32": 4, "int8": 1, "bool": 1}
        return sum(
            int(np.prod([abs(d) for d in t.shape])) * sizes[t.dtype] for t in self.tensors if t.buffer == 0
        )

    def serialize(self, description: str) -> bytes:
        import flatbuffers
        import tflite

        builder = flatbuffers.Builder(1 << 16)
        vector = _SharedVectors(builder)
        buffers = [_buffer(builder, tflite, data) for data in self.buffers]
        tensors = [_tensor(builder, tflite, vector, t) for t in self.tensors]
        operators = [_operator(builder, tflite, vector, o) for o in self.operators]

        tensor_vector = _tables(builder, tensors)
        input_vector = vector(self.inputs)
        output_vector = vector(self.outputs)
        operator_vector = _tables(builder, operators)
        name = builder.CreateString("main")
        subgraph = _table(builder, tflite, "SubGraph", Tensors=tensor_vector, Inputs=input_vector, Outputs=output_vector,
                          Operators=operator_vector, Name=name)
        codes = []
        for (op, version), _ in sorted(self.opcodes.items(), key=lambda item: item[1]):
            code = getattr(tflite.BuiltinOperator, op)  # DeprecatedBuiltinCode: what older runtimes read
            codes.append(_table(builder, tflite, "OperatorCode", DeprecatedBuiltinCode=min(code, 127), BuiltinCode=code,
                                Version=version))
        code_vector = _tables(builder, codes)
        subgraph_vector = _tables(builder, [subgraph])
        buffer_vector = _tables(builder, buffers)
        text = builder.CreateString(description)
        model = _table(builder, tflite, "Model", Version=SCHEMA_VERSION, OperatorCodes=code_vector, Subgraphs=subgraph_vector,
                       Description=text, Buffers=buffer_vector)
        builder.Finish(model, file_identifier=b"TFL3")
        return bytes(builder.Output())


def _table(builder: Any, tflite: Any, name: str, **fields: Any) -> int:
    """One table of the schema, e.g. ``_table(b, tflite, "Buffer", Data=vector)``: the bindings'
    ``{name}Start``, ``{name}Add{Field}`` for every field given (None: left out), ``{name}End``."""
    getattr(tflite, f"{name}Start")(builder)
    for field_name, value in fields.items():
        if value is not None:
            getattr(tflite, f"{name}Add{field_name}")(builder, value)
    return getattr(tflite, f"{name}End")(builder)


def _tables(builder: Any, offsets: list[int]) -> int:
    """A vector of tables (tensors, operators, buffers, ...), in order."""
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


class _SharedVectors:
    """Numeric vectors written once and referenced wherever they recur (shapes, zero points):
    a per-channel int8 layer repeats the same zero points for its weights and its bias."""

    def __init__(self, builder: Any) -> None:
        self._builder = builder
        self._written: dict[tuple[str, bytes], int] = {}

    def __call__(self, values: Sequence[int] | np.ndarray, dtype: type = np.int32) -> int:
        array = np.asarray(values, dtype=dtype)
        key = (array.dtype.str, array.tobytes())
        if key not in self._written:
            self._written[key] = self._builder.CreateNumpyVector(array)
        return self._written[key]


def _buffer(builder: Any, tflite: Any, data: bytes) -> int:
    vector = None
    if data:
        builder.StartVector(1, len(data), _BUFFER_ALIGNMENT)
        builder.head -= len(data)
        builder.Bytes[builder.head : builder.head + len(data)] = data
        vector = builder.EndVector()
    return _table(builder, tflite, "Buffer", Data=vector)


def _tensor(builder: Any, tflite: Any, vector: _SharedVectors, tensor: _Tensor) -> int:
    name = builder.CreateString(tensor.name)
    shape = vector([1 if d == -1 else d for d in tensor.shape])
    signature = vector(tensor.shape) if -1 in tensor.shape else None
    quantization = None
    if tensor.quantization is not None:
        q = tensor.quantization
        scale = vector(q.scale, np.float32)
        zero = vector(q.zero_point, np.int64)
        quantization = _table(builder, tflite, "QuantizationParameters", Scale=scale, ZeroPoint=zero, QuantizedDimension=q.axis)
    return _table(builder, tflite, "Tensor", Shape=shape, ShapeSignature=signature, Type=_DTYPES[tensor.dtype],
                  Buffer=tensor.buffer, Name=name, Quantization=quantization)


def _operator(builder: Any, tflite: Any, vector: _SharedVectors, operator: _Operator) -> int:
    inputs = vector(operator.inputs)
    outputs = vector(operator.outputs)
    kind = options = None
    if operator.options is not None:
        table, fields = operator.options
        options = _table(builder, tflite, table, **fields)
        kind = getattr(tflite.BuiltinOptions, table)
    return _table(builder, tflite, "Operator", OpcodeIndex=operator.opcode, Inputs=inputs, Outputs=outputs,
                  BuiltinOptionsType=kind, BuiltinOptions=options)
