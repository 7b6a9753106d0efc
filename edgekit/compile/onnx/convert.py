"""A bundle's model to an fp32 ONNX graph: skl2onnx for scikit-learn trees, onnxmltools for
XGBoost, edgekit's own graphs for dense models and histogram gradient boosting."""

from __future__ import annotations

from typing import Any

import onnx

from ...bundle import ModelBundle
from ...errors import BadInput
from ..dense import dense_from_pipeline
from .graphs import dense_to_onnx, hist_gradient_boosting_to_onnx, single_output

MIN_OPSET = 13  # Softmax over one axis and every operator edgekit emits exist from opset 13 on
ML_OPSET = 3  # ai.onnx.ml 3: tree ensembles with float attributes, in every ONNX Runtime >= 1.7


def newest_opset(family: str) -> int:
    """The newest default-domain opset the converter for this family is tested with."""
    if family == "xgboost":
        from onnxmltools.convert.common.onnx_ex import get_maximum_opset_supported

        return int(get_maximum_opset_supported())
    import skl2onnx

    return int(skl2onnx.get_latest_tested_opset_version())


def choose_opset(family: str, device_opset: int | None) -> int:
    newest = newest_opset(family)
    if device_opset is None:
        return newest
    if device_opset < MIN_OPSET:
        raise BadInput(
            f"the device's ONNX Runtime takes opset {device_opset}; edgekit's ONNX graphs need opset {MIN_OPSET} or newer",
            "use the C target for this device, or update its ONNX Runtime",
        )
    return min(newest, device_opset)


def convert_bundle(bundle: ModelBundle, opset: int) -> onnx.ModelProto:
    info = bundle.info
    features = len(info.feature_names)
    model = bundle.model
    if info.family_kind in {"linear", "mlp"}:
        return dense_to_onnx(dense_from_pipeline(model, features), opset, info.name)
    if info.family == "hist-gradient-boosting":
        return hist_gradient_boosting_to_onnx(model, features, info.task, opset)
    if info.family == "xgboost":
        return _xgboost(model, features, info.task, opset)
    return _sklearn_trees(model, features, info.task, opset)


def _xgboost(model: Any, features: int, task: str, opset: int) -> onnx.ModelProto:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    converted = onnxmltools.convert_xgboost(
        model, initial_types=[("input", FloatTensorType([None, features]))], target_opset=opset
    )
    converted = single_output(converted, "probabilities" if task == "classification" else "variable", task)
    return _with_default_domain(converted, opset)


def _sklearn_trees(model: Any, features: int, task: str, opset: int) -> onnx.ModelProto:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(estimator): {"zipmap": False}} if task == "classification" else None
    converted = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, features]))],
        options=options,
        target_opset={"": opset, "ai.onnx.ml": ML_OPSET},
    )
    return single_output(converted, "probabilities" if task == "classification" else "variable", task)


def _with_default_domain(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """onnxmltools omits the default domain when a graph has only ML operators; edgekit's
    output naming adds a standard Identity, so declare the domain it needs."""
    if not any(entry.domain in ("", "ai.onnx") for entry in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("", opset))
    return model
