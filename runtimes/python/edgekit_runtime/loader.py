"""One entry point for every artifact: ``load(directory)`` returns a verified model whose
``predict`` checks every input against the bundle's schema and counts what training never saw,
and raises NonFiniteOutput rather than return a NaN or infinite output as a prediction."""

from __future__ import annotations

import math
import time
from numbers import Integral
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import InvalidInput, NonFiniteOutput
from .inputs.monitor import InputMonitor
from .inputs.schema import SCHEMA_FILE, InputSchema
from .inputs.telemetry import Histograms
from .manifest import verify_directory
from .predictors.rows import as_rows


def non_finite_rows(outputs: np.ndarray) -> np.ndarray:
    """Indices of the rows whose output holds NaN or an infinity (one sum when there are none)."""
    if math.isfinite(outputs.sum()):
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(~np.isfinite(outputs.reshape(outputs.shape[0], -1)).all(axis=1))


def _refuse_non_finite(outputs: np.ndarray) -> np.ndarray:
    bad = non_finite_rows(outputs)
    if bad.size:
        raise NonFiniteOutput(bad.tolist(), outputs.shape[0], outputs)
    return outputs


class Predictor(Protocol):
    features: int

    def predict(self, rows: Any) -> np.ndarray: ...


class LoadedModel:
    """A verified artifact, ready to predict: its runtime's predictor, the input schema (when the
    artifact carries one) and the counters of what the inputs held. ``predict(rows)`` takes float
    rows in feature order and returns probabilities [n, classes] or values [n]; when a row's output
    is NaN or infinite it raises NonFiniteOutput naming the rows (its ``outputs`` hold every row's)."""

    def __init__(self, directory: Path, descriptor: dict[str, Any], predictor: Predictor, schema: InputSchema | None) -> None:
        self.directory = directory
        self.descriptor = descriptor
        self.runtime: str = descriptor["runtime"]["name"]
        self.features = predictor.features
        self.task: str = descriptor["bundle"].get("task", "classification")
        self.classes: list[str] = [str(name) for name in descriptor["bundle"].get("classes") or []]
        self.feature_names: list[str] = list(descriptor["bundle"].get("feature_names") or [])
        self.schema = schema
        self.monitor = InputMonitor(schema, Histograms.load(directory)) if schema is not None else None
        self.runtime_predict = predictor.predict  # the runtime alone: no input checks, no counters
        # A C artifact counts in the C call itself (every row, exactly); the others, and C libraries
        # built before edgekit_monitor.c, count in Python.
        monitored = getattr(predictor, "monitored", None)
        self._native = monitored(self.monitor) if monitored is not None and self.monitor is not None else None
        if self._native is not None:
            self.monitor.native = self._native
            self.predict = self._native.predict_function(_refuse_non_finite)
        else:
            self.predict = self._checked(predictor.predict)

    def _checked(self, inner: Any) -> Any:
        features, monitor, ndarray, float32 = self.features, self.monitor, np.ndarray, np.dtype(np.float32)
        if monitor is None:
            return lambda rows: _refuse_non_finite(inner(rows))
        histograms, defer, observe, clock, isfinite = monitor.histograms, monitor.defer, monitor.observe, time.perf_counter_ns, math.isfinite

        def predict(rows: Any) -> np.ndarray:
            if not (type(rows) is ndarray and rows.dtype is float32 and rows.ndim == 2 and rows.shape[1] == features
                    and rows.flags.c_contiguous):
                rows = as_rows(rows, features)
            started = clock()
            outputs = inner(rows)
            elapsed = clock() - started
            if rows.shape[0] == 1:
                defer(rows, outputs, elapsed)  # checked and counted with the next rows: one NumPy pass for many
                if not isfinite(sum(outputs.ravel().tolist())):  # 0.3 us; NumPy's sum takes 2 for one row
                    _refuse_non_finite(outputs)
            else:
                if histograms is not None:
                    histograms.add_latency(elapsed / 1000)
                observe(rows, outputs=outputs)
                if not isfinite(outputs.sum()):  # one reduction; the rows are searched only when it fails
                    _refuse_non_finite(outputs)
            return outputs

        return predict

    def predict_encoded(self, rows: np.ndarray, unknown: np.ndarray) -> np.ndarray:
        """Rows an InputSchema encoded from records, with the cells whose category was unknown.
        Outputs are returned as computed: the serving modes turn non-finite rows into errors."""
        if self._native is not None:
            return self._native.predict_counted(as_rows(rows, self.features), unknown if unknown.any() else None)[0]
        outputs = self.runtime_predict(rows)
        if self.monitor is not None:
            self.monitor.observe(rows, unknown if unknown.any() else None, outputs)
        return outputs

    def input_report(self) -> dict[str, Any]:
        return self.monitor.report() if self.monitor is not None else {"rows": None, "note": "the artifact has no schema.json"}


def load(directory: str | Path, threads: int = 1) -> LoadedModel:
    """Verify the artifact's files against its manifest, then open it with its runtime. ``threads``
    is how many threads a batch may use (C: POSIX threads per batch call; ONNX Runtime: intra-op
    threads; LiteRT: its interpreter's threads); single rows always run on the caller's thread."""
    if isinstance(threads, bool) or not isinstance(threads, Integral) or threads < 1:  # True is an int, not a thread count
        raise InvalidInput(f"threads must be a whole number of at least 1, got {threads!r}", "pass the device's core count, e.g. threads=2")
    threads = int(threads)
    descriptor = verify_directory(directory)
    predictor = _open(Path(directory), descriptor, threads)
    schema = InputSchema.load(Path(directory) / SCHEMA_FILE) if SCHEMA_FILE in descriptor["files"] else None
    if schema is not None and schema.features != predictor.features:
        raise InvalidInput(f"{directory}: schema.json has {schema.features} features, the model {predictor.features}", "recompile the artifact")
    return LoadedModel(Path(directory), descriptor, predictor, schema)


def _open(directory: Path, descriptor: dict[str, Any], threads: int) -> Predictor:
    runtime = descriptor.get("runtime", {}).get("name")
    if runtime == "onnxruntime":
        from .predictors.onnx import OnnxPredictor

        features = int(descriptor["inputs"][0]["shape"][1])
        return OnnxPredictor(Path(directory) / descriptor["model_file"], features, descriptor["outputs"][0]["name"], threads)
    if runtime == "c":
        from .predictors.c import CPredictor, host_triple

        triple = descriptor["runtime"].get("triple")
        if triple != host_triple():
            raise InvalidInput(f"{directory} is built for {triple}; this machine is {host_triple()}", "compile with --triple for this machine")
        return CPredictor(Path(directory) / descriptor["runtime"]["library"], descriptor["bundle"]["content_hash"], threads)
    if runtime == "litert":
        from .predictors.int8_io import Int8Io
        from .predictors.tflite import TflitePredictor

        inputs, outputs = descriptor["inputs"][0], descriptor["outputs"][0]
        io = Int8Io.from_descriptor(inputs, outputs) if inputs.get("dtype") == "int8" else None
        probabilities = outputs["name"] == "probabilities"
        return TflitePredictor(Path(directory) / descriptor["model_file"], int(inputs["shape"][1]), probabilities, threads, io)
    raise InvalidInput(f"{directory}: no loader for runtime {runtime!r}", "upgrade edgekit-runtime")
