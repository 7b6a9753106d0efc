import dataclasses

import pytest

from edgekit.compile import target_names
from edgekit.compile.onnx.backend import ONNX_BACKEND
from edgekit.compile.registry import backend_for, register_backend
from edgekit.errors import BadInput


def test_targets_are_listed():
    assert target_names() == ["c", "onnx", "onnx-fp16", "onnx-int8", "tflite", "tflite-int8"]


def test_registering_a_clashing_backend_is_an_error_unless_asked():
    with pytest.raises(ValueError, match="already registered"):
        register_backend(dataclasses.replace(ONNX_BACKEND))
    with pytest.raises(ValueError, match="already registered"):
        register_backend(dataclasses.replace(ONNX_BACKEND, name="onnx2"))
    register_backend(ONNX_BACKEND, replace=True)


def test_option_checks_name_the_allowed_values():
    backend = backend_for("onnx-int8")
    assert backend.check("onnx-int8", "mlp", "mlp", {"int8": "dynamic", "opset": "17"}) == "int8"
    with pytest.raises(BadInput, match="choose one of: static, dynamic"):
        backend.check("onnx-int8", "mlp", "mlp", {"int8": "fast"})
    with pytest.raises(BadInput, match="does not take random-forest models"):
        backend.check("onnx-fp16", "random-forest", "trees", {})
