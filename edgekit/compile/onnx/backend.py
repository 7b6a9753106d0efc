"""The ONNX backend: targets onnx (fp32), onnx-fp16 and onnx-int8, run by ONNX Runtime.

convert (onnx_convert) -> offline ONNX Runtime optimization at the portable "basic" level ->
fp16 / int8 (onnx_quantize) -> onnx.checker -> model.onnx, and with ort-format=true also the ORT
format model and the operator config an ORT minimal (mobile) build is compiled with.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from edgekit_runtime.predictors.onnx import OnnxPredictor

from ...errors import CheckFailed
from ..registry import Backend, CompiledModel, CompileRequest, Option, output_name, tool_versions
from .convert import choose_opset, convert_bundle
from .graphs import INPUT
from .quantize import INT8_MODES, PER_CHANNEL, compact_names, to_float16, to_int8

MODEL_FILE = "model.onnx"
ORT_DIRECTORY = "ort"
# Oldest ONNX Runtime release that implements each default-domain opset (ONNX Runtime's
# compatibility table); recorded so a device check can compare it with the device's runtime.
ORT_RELEASE_FOR_OPSET = {
    13: "1.6", 14: "1.8", 15: "1.9", 16: "1.11", 17: "1.13", 18: "1.14", 19: "1.15", 20: "1.17",
    21: "1.18", 22: "1.21", 23: "1.22",
}
TOOL_DISTRIBUTIONS = ("onnx", "onnxruntime", "skl2onnx", "onnxmltools", "onnxconverter-common")


def _optimize(model: onnx.ModelProto, work: Path) -> onnx.ModelProto:
    """ONNX Runtime's basic-level graph rewrites, saved offline; the basic level uses only standard
    operators, so the result still runs on minimal and older runtimes."""
    import onnxruntime as ort

    source, optimized = work / "converted.onnx", work / "optimized.onnx"
    onnx.save(model, source)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(optimized)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    result = onnx.load(optimized)
    source.unlink()
    optimized.unlink()
    return compact_names(result)


def _session_predictor(model: onnx.ModelProto, path: Path, features: int, output: str) -> OnnxPredictor:
    onnx.save(model, path)
    return OnnxPredictor(path, features, output)


def _device_opset(request: CompileRequest) -> int | None:
    if request.device_opset is not None:
        return request.device_opset
    return request.device.onnx_opset() if request.device is not None else None


def compile_onnx(request: CompileRequest) -> CompiledModel:
    bundle, staging = request.bundle, request.staging
    info = bundle.info
    features = len(info.feature_names)
    output = output_name(info.task)
    opset = int(request.options["opset"]) if "opset" in request.options else choose_opset(info.family, _device_opset(request))
    model = _optimize(convert_bundle(bundle, opset, request.precision), staging)
    made: dict[str, object] = {"opset": opset, "optimization": "onnxruntime basic level, offline"}
    reference = bundle.reference()

    if request.precision == "fp16":
        model = to_float16(model, dense=info.family_kind != "trees")
        made["fp16"] = "weights and activations float16; inputs, outputs and the standardisation float32"
    elif request.precision == "int8":
        scratch = staging / "candidate.onnx"

        def fidelity(candidate: onnx.ModelProto) -> tuple[float, float]:
            got = _session_predictor(candidate, scratch, features, output).predict(reference["X"])
            agreement = float(np.mean(got.argmax(axis=1) == reference["outputs"].argmax(axis=1))) if got.ndim == 2 else 1.0
            return agreement, -float(np.max(np.abs(got.reshape(reference["outputs"].shape) - reference["outputs"])))

        model, how = to_int8(
            model, reference["X"], request.options.get("int8", "static"), request.options.get("per-channel", "auto"), fidelity
        )
        scratch.unlink(missing_ok=True)
        made["int8"] = how

    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise CheckFailed(f"the ONNX graph failed onnx.checker: {exc}", "report this with the bundle attached") from exc
    model_path = staging / MODEL_FILE
    onnx.save(model, model_path)
    files = [MODEL_FILE]
    if request.options.get("ort-format") == "true":
        files += _ort_format(model_path, staging)
        made["ort_format"] = f"{ORT_DIRECTORY}/model.ort with the reduced-operator config for a minimal build"

    operators = sorted({(node.domain or "ai.onnx", node.op_type) for node in model.graph.node})
    opsets = {entry.domain or "ai.onnx": int(entry.version) for entry in model.opset_import}
    return CompiledModel(
        model_file=MODEL_FILE,
        files=files,
        runtime={"name": "onnxruntime", "format": "onnx"},
        inputs=[{"name": INPUT, "dtype": "float32", "shape": [None, features]}],
        outputs=[{"name": output, "dtype": "float32", "shape": [None, info.output_width]}],
        requirements={
            "runtime": "onnxruntime",
            "min_version": ORT_RELEASE_FOR_OPSET.get(opsets.get("ai.onnx", opset), "1.22"),
            "opset": opsets,
            "operators": [{"domain": domain, "op_type": op} for domain, op in operators],
            "dtypes": sorted(_tensor_dtypes(model)),
            "custom_ops": False,
        },
        options=made,
        toolchain=tool_versions(TOOL_DISTRIBUTIONS),
        predictor=OnnxPredictor(model_path, features, output).predict,
    )


def _tensor_dtypes(model: onnx.ModelProto) -> set[str]:
    return {onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).name for tensor in model.graph.initializer}


def _ort_format(model_path: Path, staging: Path) -> list[str]:
    target = staging / ORT_DIRECTORY
    result = subprocess.run(
        [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(model_path),
         "--output_dir", str(target), "--optimization_style", "Fixed"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        tail = " ".join(result.stderr.strip().splitlines()[-1:])
        raise CheckFailed(f"ONNX Runtime could not convert the model to ORT format: {tail}", "compile without ort-format=true")
    return sorted(str(path.relative_to(staging)) for path in target.rglob("*") if path.is_file())


ONNX_BACKEND = Backend(
    name="onnx",
    targets={"onnx": "fp32", "onnx-fp16": "fp16", "onnx-int8": "int8"},
    kinds={
        "fp32": frozenset({"trees", "linear", "mlp"}),
        "fp16": frozenset({"linear", "mlp"}),
        "int8": frozenset({"linear", "mlp"}),
    },
    options={
        "opset": Option("default-domain opset (default: the device's, else the newest the converter supports)"),
        "int8": Option("int8 quantization: static (calibrated QDQ) or dynamic (weights only)", INT8_MODES, "static"),
        "per-channel": Option("int8 weight scales per output channel: auto, true or false", PER_CHANNEL, "auto"),
        "ort-format": Option("also write the ORT format model and its minimal-build operator config", ("true", "false"), "false"),
    },
    compile=compile_onnx,
    refusals={
        "fp16": "ONNX Runtime's tree-ensemble operators run in float32 only; use --target onnx, or the C target's quantized layouts (--target c --quantize int16|int8)",
        "int8": "ONNX Runtime does not quantize tree ensembles; use --target onnx, or the C target's quantized layouts (--target c --quantize int16|int8)",
    },
)
