"""The TFLite backend: targets tflite (float32) and tflite-int8 (full integer), run by LiteRT.

Dense models (tflite_dense) and tree ensembles (tflite_trees) become a TfliteGraph, which
tflite_writer serialises; no TensorFlow is involved. The parity check runs the real LiteRT
interpreter through the same loader a device uses.
"""

from __future__ import annotations

from edgekit_runtime.predictors.int8_io import Int8Io
from edgekit_runtime.predictors.tflite import TflitePredictor

from ...errors import BadInput
from ..dense import dense_from_pipeline
from ..registry import Backend, CompiledModel, CompileRequest, Option, output_name, release_key, tool_versions
from ..trees.tables import bundle_trees
from .dense import INPUT, dense_graph
from .op_versions import RUNTIME_FOR_OP
from .trees import MAX_DEPTH, tree_graph

MODEL_FILE = "model.tflite"
TOOL_DISTRIBUTIONS = ("flatbuffers", "tflite", "ai-edge-litert", "treelite")


def compile_tflite(request: CompileRequest) -> CompiledModel:
    bundle, staging = request.bundle, request.staging
    info = bundle.info
    features = len(info.feature_names)
    if info.family_kind == "trees":
        try:
            built = tree_graph(bundle_trees(bundle).tables)
        except ValueError as exc:
            raise BadInput(str(exc), f"train shallower trees (at most {MAX_DEPTH} levels) or use --target c") from exc
    else:
        per_channel = request.options.get("per-channel", "true") == "true"
        int8_io = request.options.get("io", "float32") == "int8"
        if int8_io and request.precision != "int8":
            raise BadInput("--option io=int8 needs an int8 model", "use --target tflite-int8 --option io=int8")
        model = dense_from_pipeline(bundle.model, features)
        built = dense_graph(model, bundle.reference()["X"], request.precision == "int8", per_channel, int8_io)
    graph = built.graph
    output = output_name(info.task)
    graph.tensors[graph.outputs[0]].name = output
    description = f"edgekit {info.name} v{info.version} ({info.family}) from bundle {info.content_hash[:12]}"
    path = staging / MODEL_FILE
    path.write_bytes(graph.serialize(description))

    operators = graph.operator_versions()
    unknown = [entry for entry in operators if (entry["op"], entry["version"]) not in RUNTIME_FOR_OP]
    if unknown:  # a writer change must say which runtime it needs
        raise AssertionError(f"no runtime version known for {unknown}")
    runtime_needed = max((RUNTIME_FOR_OP[(e["op"], e["version"])] for e in operators), key=release_key)
    probabilities = info.task == "classification"
    io = built.int8_io or {"input": {}, "output": {}}
    dtype = "int8" if built.int8_io else "float32"
    inputs = [{"name": INPUT, "dtype": dtype, "shape": [None, features], **io["input"]}]
    outputs = [{"name": output, "dtype": dtype, "shape": [None, built.outputs if probabilities else 1], **io["output"]}]
    codec = Int8Io.from_descriptor(inputs[0], outputs[0]) if built.int8_io else None  # read back as a device would
    return CompiledModel(
        model_file=MODEL_FILE,
        files=[MODEL_FILE],
        runtime={"name": "litert", "format": "tflite"},
        inputs=inputs,
        outputs=outputs,
        requirements={
            "runtime": "litert",
            "min_version": runtime_needed,
            "operators": operators,
            "dtypes": sorted({tensor.dtype for tensor in graph.tensors}),
            "custom_ops": False,
        },
        options=built.how,
        toolchain=tool_versions(TOOL_DISTRIBUTIONS),
        predictor=TflitePredictor(path, features, probabilities, io=codec).predict,
        resources={"arena_bytes_per_row_upper_bound": graph.arena_estimate()},
    )


TFLITE_BACKEND = Backend(
    name="tflite",
    targets={"tflite": "fp32", "tflite-int8": "int8"},
    kinds={"fp32": frozenset({"trees", "linear", "mlp"}), "int8": frozenset({"linear", "mlp"})},
    options={
        "per-channel": Option("int8 weight scales per output channel (true) or one per layer (false, for runtimes "
                              "without per-channel FULLY_CONNECTED such as older TFLite Micro)", ("true", "false"), "true"),
        "io": Option("int8 models: float32 input and output converted inside the model (float32), or int8 input and "
                     "output that the device encodes and decodes as artifact.json says (int8)", ("float32", "int8"), "float32"),
    },
    compile=compile_tflite,
    refusals={
        "int8": "int8 tree thresholds would move splits; use --target tflite, or the C target's exact "
                "quantized layouts (--target c --quantize int16|int8)",
    },
)
