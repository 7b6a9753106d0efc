"""Predictions from a TFLite artifact with the LiteRT interpreter.

LiteRT comes from ``ai-edge-litert`` (its ``tflite_runtime``-compatible Interpreter, built for
NumPy 2) or, failing that, the older ``tflite-runtime`` wheel (whose 2.14 build needs NumPy < 2).
A foreign, truncated or corrupted file gives a one-line error, never a crash: the identifier is
checked here and the interpreter verifies the flatbuffer before it reads a tensor.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput, MissingRuntime
from .int8_io import Int8Io
from .native_stderr import filtered_native_stderr
from .rows import as_rows

FILE_IDENTIFIER = b"TFL3"


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise MissingRuntime(
                "LiteRT is not installed", "pip install 'edgekit-runtime[litert]' (or ai-edge-litert; tflite-runtime 2.14 needs numpy<2)"
            ) from exc
    return Interpreter


def check_tflite_bytes(content: bytes, source: str) -> None:
    """Refuse what is not a TFLite flatbuffer at all; LiteRT's own flatbuffer verifier then catches
    truncated or corrupted ones (its message becomes a one-line InvalidInput)."""
    if len(content) < 8 or content[4:8] != FILE_IDENTIFIER:
        raise InvalidInput(f"{source} is not a TFLite model (no TFL3 identifier)", "recompile the artifact with --target tflite")


class TflitePredictor:
    """One interpreter per thread (a LiteRT interpreter is not thread-safe). ``predict`` returns
    probabilities [n, classes] or values [n]. A model with int8 inputs and outputs gets ``io``,
    which converts float rows in and int8 results out."""

    def __init__(
        self, model_path: str | Path, features: int, probabilities: bool, threads: int = 1, io: Int8Io | None = None
    ) -> None:
        self._content = Path(model_path).read_bytes()
        check_tflite_bytes(self._content, str(model_path))
        self._interpreter_type = _interpreter_class()
        self._threads = threads
        self._local = threading.local()
        self.features = features
        self._probabilities = probabilities
        self._io = io
        interpreter = self._session()[0]  # fail now, not on the first prediction
        self.outputs = int(interpreter.get_output_details()[0]["shape"][-1]) if probabilities else 1

    def _session(self) -> tuple[Any, int, int, list[int]]:
        """This thread's interpreter, its input and output tensor indices and the batch it is sized for."""
        session = getattr(self._local, "session", None)
        if session is None:
            try:
                with filtered_native_stderr(lambda line: line.startswith("INFO: Created TensorFlow Lite")):
                    interpreter = self._interpreter_type(model_content=self._content, num_threads=self._threads)
                    interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                reason = " ".join(str(exc).split())[:200]
                raise InvalidInput(f"LiteRT cannot load the model: {reason}", "recompile the artifact or upgrade LiteRT") from exc
            session = (interpreter, interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"], [1])
            self._local.session = session
        return session

    def predict(self, rows: Any) -> np.ndarray:
        array = as_rows(rows, self.features)
        refused = None
        if self._io is not None:
            array, refused = self._io.encode_rows(array)
        if array.shape[0] == 0:
            return np.empty((0, self.outputs) if self._probabilities else (0,), np.float32)
        interpreter, source, target, sized = self._session()
        if array.shape[0] != sized[0]:
            interpreter.resize_tensor_input(source, array.shape, strict=True)
            interpreter.allocate_tensors()
            sized[0] = array.shape[0]
        interpreter.set_tensor(source, array)
        interpreter.invoke()
        result = interpreter.get_tensor(target)
        if self._io is not None:
            result = self._io.decode(result)
            if refused is not None:  # int8 holds no NaN: a row with no answer is made one here
                result[refused] = np.nan
        return result.copy() if self._probabilities else result.reshape(-1).copy()
