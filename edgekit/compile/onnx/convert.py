"""A bundle's model to an fp32 ONNX graph: skl2onnx for scikit-learn forests and boosting,
edgekit's own graphs for dense models and for boosters (XGBoost, LightGBM, histogram gradient
boosting), which are written from the same tree tables as the C and TFLite builds."""

from __future__ import annotations

from typing import Any

import onnx

from ...bundle import ModelBundle
from ...errors import BadInput
from ..dense import (
    FLOAT16_MAX,
    FLOAT32_MAX,
    REFUSE_BEYOND,
    dense_from_pipeline,
    float16_limit,
    float_limit,
    int8_limit,
)
from ..trees.tables import bundle_trees
from .graphs import dense_to_onnx, single_output, trees_to_onnx

MIN_OPSET = 13  # Softmax over one axis and every operator edgekit emits exist from opset 13 on
ML_OPSET = 3  # ai.onnx.ml 3: tree ensembles with float attributes, in every ONNX Runtime >= 1.7
# Written from edgekit's tree tables (graphs.trees_to_onnx) rather than by a library's converter.
TABLE_FAMILIES = frozenset({"xgboost", "lightgbm", "hist-gradient-boosting"})


# edgekit's tree graphs need only opset 13's operators; 15 (ONNX Runtime >= 1.9) is what XGBoost
# artifacts have always been written at, and every device profile's ONNX Runtime runs it.
TREE_GRAPH_OPSET = 15


def newest_opset(family: str) -> int:
    """The default-domain opset a bundle's graph is written at unless a device asks for less: the
    newest skl2onnx is tested with, or for the tree graphs edgekit writes, a portable one."""
    if family in TABLE_FAMILIES:
        return TREE_GRAPH_OPSET
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


def convert_bundle(bundle: ModelBundle, opset: int, precision: str = "fp32") -> onnx.ModelProto:
    """The fp32 graph; ``precision`` says which arithmetic a dense graph's row bound is for."""
    info = bundle.info
    features = len(info.feature_names)
    model = bundle.model
    if info.family_kind in {"linear", "mlp"}:
        dense = dense_from_pipeline(model, features)
        limit = {"fp16": lambda: float16_limit(dense), "int8": lambda: int8_limit(dense, bundle.reference()["X"])}.get(
            precision, lambda: float_limit(dense))()
        return dense_to_onnx(dense, opset, info.name, limit, REFUSE_BEYOND if precision in {"fp16", "int8"} else None,
                             clip=FLOAT16_MAX if precision == "fp16" else FLOAT32_MAX)
    if info.family in TABLE_FAMILIES or _has_scaler(model):  # a scaler is folded into the tables' thresholds
        return trees_to_onnx(bundle_trees(bundle).tables, info.task, opset, info.name)
    return _sklearn_trees(model, features, info.task, opset)


def _has_scaler(model: Any) -> bool:
    return any(type(step).__name__ in {"StandardScaler", "MinMaxScaler"} for _, step in getattr(model, "steps", []))


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
