"""The one place that says which compile backends exist."""

from __future__ import annotations

from .c.backend import C_BACKEND
from .onnx.backend import ONNX_BACKEND
from .registry import register_backend
from .tflite.backend import TFLITE_BACKEND

BUILTIN_BACKENDS = (ONNX_BACKEND, C_BACKEND, TFLITE_BACKEND)


def register_builtin_backends() -> None:
    for backend in BUILTIN_BACKENDS:
        register_backend(backend, replace=True)
