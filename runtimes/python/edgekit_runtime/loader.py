"""One entry point for every artifact: ``load(directory)`` returns a verified predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import InvalidInput
from .manifest import verify_directory


class Predictor(Protocol):
    features: int

    def predict(self, rows: Any) -> np.ndarray: ...


def load(directory: str | Path, threads: int = 1) -> Predictor:
    """Verify the artifact's files against its manifest, then open it with its runtime."""
    descriptor = verify_directory(directory)
    runtime = descriptor.get("runtime", {}).get("name")
    if runtime == "onnxruntime":
        from .onnx_predictor import OnnxPredictor

        features = int(descriptor["inputs"][0]["shape"][1])
        return OnnxPredictor(Path(directory) / descriptor["model_file"], features, descriptor["outputs"][0]["name"], threads)
    if runtime == "c":
        from .c_predictor import CPredictor, host_triple

        triple = descriptor["runtime"].get("triple")
        if triple != host_triple():
            raise InvalidInput(f"{directory} is built for {triple}; this machine is {host_triple()}", "compile with --triple for this machine")
        return CPredictor(Path(directory) / descriptor["runtime"]["library"], descriptor["bundle"]["content_hash"])
    if runtime == "litert":
        from .int8_io import Int8Io
        from .tflite_predictor import TflitePredictor

        inputs, outputs = descriptor["inputs"][0], descriptor["outputs"][0]
        io = Int8Io.from_descriptor(inputs, outputs) if inputs.get("dtype") == "int8" else None
        probabilities = outputs["name"] == "probabilities"
        return TflitePredictor(Path(directory) / descriptor["model_file"], int(inputs["shape"][1]), probabilities, threads, io)
    raise InvalidInput(f"{directory}: no loader for runtime {runtime!r}", "upgrade edgekit-runtime")
