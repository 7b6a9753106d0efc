"""Reduced-precision ONNX graphs: fp16 (onnxconverter-common) and int8 (ONNX Runtime's quantizer).

int8 is static QDQ: int8 weights and activations (calibrated on the bundle's reference rows) for
the dense layers; NaN filling and input scaling stay float. Weights are per tensor unless that
agrees with fp32 on fewer than 99% of the reference labels and per channel does better
(``per-channel=auto``); per-channel scales cost ~1 kB, a lot beside a small model's weights. ``dynamic`` quantizes
weights only and measures activation ranges at run time. ONNX Runtime quantizes MatMul/Gemm, not
tree ensembles, so only dense models (linear, logistic, MLP) take these precisions.

Weights use 7 of their 8 bits (``reduce_range``): ONNX Runtime's x86-64 int8 kernels without VNNI
multiply u8 x s8 pairs into 16-bit sums that saturate with full-range weights (its quantization
guide says so). ORT 1.32 fuses the QDQ Gemm of a linear regression into that kernel, and its
predictions moved by 18 (of 23-80) on an AVX2 host, against 0.35 with 7-bit weights.

Any failure inside the quantizer (ONNX Runtime asserts "scale issue" when a calibrated range is
NaN: a float32 activation that overflowed) is a refusal, CheckFailed, that says why and what to use.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx

from ...errors import CheckFailed
from .graphs import INPUT

INT8_MODES = ("static", "dynamic")
PER_CHANNEL = ("auto", "true", "false")
AUTO_PER_CHANNEL_BELOW = 0.99  # per-tensor label agreement under which auto tries per channel


def to_float16(model: onnx.ModelProto, dense: bool = False) -> onnx.ModelProto:
    from onnxconverter_common import float16

    # A dense graph's standardisation (every node before the first MatMul/Gemm) stays float32: raw
    # features past 65504 would be inf in float16, and its row bound keeps the values it hands on
    # inside float16's range. So does the refusal (Greater, Where, the output's Add): its threshold
    # may pass 65504, and the converter would clamp it.
    keep: list[str] = []
    if dense:
        layers = False
        refusal: set[str] = set()
        for node in model.graph.node:
            layers = layers or node.op_type in {"MatMul", "Gemm"}
            refused = node.op_type == "Greater" or bool(refusal.intersection(node.input))
            if not layers or refused:
                keep.append(node.name)
            if refused:
                refusal.update(node.output)
    # Inputs and outputs stay float32 so callers feed and read the same tensors at every precision.
    with warnings.catch_warnings():
        # It warns for each weight below fp16's range; the parity certificate measures the effect.
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=keep)
    return compact_names(_without_float16_round_trips(converted))


def _drop_default_attributes(node: onnx.NodeProto, opset: int | None) -> None:
    """Attributes set to their operator's default (ONNX Runtime's optimizer writes them out)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset or onnx.defs.onnx_opset_version(), node.domain or "")
    except onnx.defs.SchemaError:
        return
    kept = []
    for attribute in node.attribute:
        default = schema.attributes.get(attribute.name)
        if default is None or not default.default_value.name or default.default_value != attribute:
            kept.append(attribute)
    if len(kept) != len(node.attribute):
        del node.attribute[:]
        node.attribute.extend(kept)


def _without_float16_round_trips(model: onnx.ModelProto) -> onnx.ModelProto:
    """The converter casts each blocked node's float32 output to float16 and back for the next
    blocked node, which would overflow past 65504 all the same: the next node reads the float32
    tensor instead, and casts nobody reads any more are dropped."""
    graph = model.graph
    made_by = {output: node for node in graph.node for output in node.output}
    replace = {}
    for node in graph.node:
        source = made_by.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if (source is not None and source.op_type == "Cast" and _cast_to(node) == onnx.TensorProto.FLOAT
                and _cast_to(source) == onnx.TensorProto.FLOAT16):  # dense graphs: the source is float32
            replace[node.output[0]] = source.input[0]
    if not replace:
        return model
    for node in graph.node:
        node.input[:] = [replace.get(name, name) for name in node.input]
    while True:  # a dropped cast may leave the cast it read unread in turn
        read = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
        kept = [node for node in graph.node if node.op_type != "Cast" or any(output in read for output in node.output)]
        if len(kept) == len(graph.node):
            return model
        del graph.node[:]
        graph.node.extend(kept)


def _cast_to(node: onnx.NodeProto) -> int | None:
    return next((attribute.i for attribute in node.attribute if attribute.name == "to"), None)


def to_int8(
    model: onnx.ModelProto,
    calibration: np.ndarray,
    mode: str,
    per_channel: str,
    fidelity: Callable[[onnx.ModelProto], tuple[float, float]],
) -> tuple[onnx.ModelProto, dict[str, object]]:
    """The int8 graph and how it was made. ``fidelity`` scores a candidate (higher is closer to fp32)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="edgekit-quant-") as scratch:
        work = Path(scratch)
        onnx.save(model, work / "fp32.onnx")
        # Shape inference and MatMul+Add -> Gemm fusion, as ONNX Runtime recommends before quantizing.
        with _refusing(work / "fp32.onnx", calibration, mode):
            quant_pre_process(str(work / "fp32.onnx"), str(work / "prepared.onnx"), skip_symbolic_shape=True)
        if mode == "dynamic":
            with _refusing(work / "fp32.onnx", calibration, mode):
                quantize_dynamic(
                    work / "prepared.onnx", work / "dynamic.onnx", weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul", "Gemm"], reduce_range=True,
                )
            return compact_names(onnx.load(work / "dynamic.onnx")), {"mode": "dynamic", "weights": "int8"}
        candidates = {}
        choices = {"auto": (False, True), "true": (True,), "false": (False,)}[per_channel]
        for channelwise in choices:
            target = work / f"static-{channelwise}.onnx"
            with _refusing(work / "fp32.onnx", calibration, mode):
                quantize_static(
                    work / "prepared.onnx", target, _Calibration(calibration), quant_format=QuantFormat.QDQ,
                    per_channel=channelwise, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
                    reduce_range=True,
                    # Only the dense layers: NaN filling and input scaling stay float, exact and cheap.
                    op_types_to_quantize=["MatMul", "Gemm"],
                )
            candidate = compact_names(onnx.load(target))
            candidates[channelwise] = (fidelity(candidate), candidate)
        channelwise = choices[0]
        if per_channel == "auto" and candidates[False][0][0] < AUTO_PER_CHANNEL_BELOW:
            channelwise = candidates[True][0] > candidates[False][0]
        return candidates[channelwise][1], {
            "mode": "static",
            "format": "QDQ",
            "weights": "int8 per channel" if channelwise else "int8 per tensor",
            "activations": "int8",
            "calibration_rows": len(calibration),
        }


@contextmanager
def _refusing(fp32: Path, calibration: np.ndarray, mode: str) -> Iterator[None]:
    """Turns any exception from ONNX Runtime's quantizer into CheckFailed naming its reason."""
    try:
        yield
    except Exception as exc:  # the quantizer's own asserts and errors: a refusal, not a crash
        reason = " ".join(str(exc).split()) or "no message"
        overflow = _non_finite_rows(fp32, calibration)
        if overflow:  # no precision helps: float32 itself cannot hold the activations
            why = (f"; the float32 graph gives NaN or infinite values on {overflow} of its {len(calibration)} "
                   "calibration rows (an activation overflows float32)")
            hint = "no target computes in more than float32: retrain with smaller weights (more regularisation) or rescaled features"
        else:
            why = ""
            other = "--target onnx-fp16 or onnx" if mode == "dynamic" else "--option int8=dynamic (no calibration), --target onnx-fp16 or onnx"
            hint = f"use {other}, and report the bundle"
        raise CheckFailed(f"ONNX Runtime's int8 quantizer failed: {type(exc).__name__}: {reason}{why}", hint) from exc


def _non_finite_rows(fp32: Path, calibration: np.ndarray) -> int:
    """Calibration rows whose float32 outputs are not finite (0 when that cannot be run either)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
        with np.errstate(all="ignore"):
            outputs = session.run(None, {INPUT: np.asarray(calibration, dtype=np.float32)})[0]
        return int(np.sum(~np.isfinite(outputs.reshape(len(calibration), -1)).all(axis=1)))
    except (RuntimeError, ValueError, OSError):  # a diagnosis only: the quantizer's reason is reported either way
        return 0


class _Calibration:
    """Feeds the reference rows to ONNX Runtime's calibrator, one small batch at a time."""

    def __init__(self, rows: np.ndarray, batch: int = 32) -> None:
        self._batches = iter([{INPUT: rows[start:start + batch]} for start in range(0, len(rows), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def compact_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """Short tensor and node names; no value_info, doc strings, tool metadata or unused opset
    imports: rewriters add long generated names that can cost more bytes than int8 weights."""
    graph = model.graph
    keep = {value.name for value in graph.input} | {value.name for value in graph.output} | {""}
    renamed: dict[str, str] = {}

    def short(name: str) -> str:
        if name in keep:
            return name
        return renamed.setdefault(name, f"t{len(renamed)}")

    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
        tensor.ClearField("doc_string")  # an empty string set is still written: cleared, it is not
    opsets = {entry.domain: entry.version for entry in model.opset_import}
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"
        node.ClearField("doc_string")
        node.input[:] = [short(name) for name in node.input]
        node.output[:] = [short(name) for name in node.output]
        _drop_default_attributes(node, opsets.get(node.domain or "", opsets.get("ai.onnx")))
    del graph.value_info[:]
    graph.ClearField("doc_string")
    model.ClearField("doc_string")
    del model.metadata_props[:]
    model.producer_name, model.producer_version = "edgekit", ""
    used = {node.domain for node in graph.node} | {""}
    kept = [entry for entry in model.opset_import if entry.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    return model
