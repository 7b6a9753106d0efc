"""Predictions from an ONNX artifact with ONNX Runtime: the loader devices use and edgekit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingRuntime
from .rows import as_rows


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingRuntime(
            "onnxruntime is not installed", "pip install 'edgekit-runtime[onnx]' (or onnxruntime)"
        ) from exc
    return onnxruntime


class OnnxPredictor:
    """One ONNX Runtime session. ``predict`` returns probabilities [n, classes] or values [n]."""

    def __init__(self, model_path: str | Path, features: int, output: str, threads: int = 1) -> None:
        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._output = [output]
        self.features = features
        self.output = output

    def predict(self, rows: Any) -> np.ndarray:
        (result,) = self._session.run(self._output, {self._input: as_rows(rows, self.features)})
        return result if self.output == "probabilities" else result.reshape(-1)
