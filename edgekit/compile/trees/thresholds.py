"""The split thresholds of a tree model, per feature, as the float32 values its comparisons use."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np


def split_thresholds(model: Any, family: str, family_kind: str) -> dict[int, np.ndarray]:
    """{feature index: sorted unique float32 thresholds}; empty for models without splits."""
    if family_kind != "trees":
        return {}
    if hasattr(model, "treelite"):
        pairs = _treelite_pairs(model.treelite)
    elif family == "xgboost":
        pairs = _xgboost_pairs(model)
    elif family == "lightgbm":
        pairs = _lightgbm_pairs(model)
    elif family == "hist-gradient-boosting":
        pairs = _hist_pairs(model)
    else:
        pairs = _sklearn_tree_pairs(model)
    grouped: dict[int, list[np.ndarray]] = defaultdict(list)
    for features, values in pairs:
        for feature in np.unique(features):
            grouped[int(feature)].append(values[features == feature])
    return {feature: np.unique(float32_at_or_below(np.concatenate(chunks))) for feature, chunks in sorted(grouped.items())}


def _xgboost_pairs(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    document = json.loads(model.get_booster().save_raw("json"))
    pairs = []
    booster = document["learner"]["gradient_booster"]
    model = booster["model"] if "model" in booster else booster["gbtree"]["model"]  # DART wraps a gbtree
    for tree in model["trees"]:
        split = np.asarray(tree["left_children"]) != -1
        pairs.append((np.asarray(tree["split_indices"])[split], np.asarray(tree["split_conditions"], dtype=np.float64)[split]))
    return pairs


def _treelite_pairs(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for tree_id in range(model.num_tree):
        tree = model.get_tree_accessor(tree_id)
        split = np.asarray(tree.get_field("cleft")) != -1
        pairs.append((np.asarray(tree.get_field("split_index"))[split], np.asarray(tree.get_field("threshold"), dtype=np.float64)[split]))
    return pairs


def _lightgbm_pairs(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    features, values = [], []
    for tree in model.booster.dump_model()["tree_info"]:
        pending = [tree["tree_structure"]]
        while pending:  # a LightGBM dump nests its nodes; walk them without recursion
            node = pending.pop()
            if "split_feature" in node:
                features.append(node["split_feature"])
                values.append(float(node["threshold"]) if node.get("decision_type") == "<=" else np.nan)
                pending += [node["left_child"], node["right_child"]]
    features_array, values_array = np.asarray(features, dtype=np.int64), np.asarray(values, dtype=np.float64)
    numeric = np.abs(values_array) < 1e300  # not categorical (NaN), and not LightGBM's "everything goes left"
    return [(features_array[numeric], values_array[numeric])]


def _hist_pairs(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for iteration in model._predictors:
        for predictor in iteration:
            nodes = predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]
            pairs.append((nodes["feature_idx"].astype(int), nodes["num_threshold"].astype(np.float64)))
    return pairs


def _sklearn_tree_pairs(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    trees = np.asarray(estimator.estimators_, dtype=object).reshape(-1)
    pairs = []
    for tree in trees:
        structure = tree.tree_
        split = structure.feature >= 0
        pairs.append((structure.feature[split], structure.threshold[split]))
    return pairs


def float32_at_or_below(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold: then for any float32 x, x <= t64 iff x <= t32."""
    rounded = np.asarray(thresholds, dtype=np.float64).astype(np.float32)
    above = rounded.astype(np.float64) > thresholds
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded
