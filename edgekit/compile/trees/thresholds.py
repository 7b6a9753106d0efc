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
    if family == "xgboost":
        pairs = _xgboost_pairs(model)
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
    for tree in document["learner"]["gradient_booster"]["model"]["trees"]:
        split = np.asarray(tree["left_children"]) != -1
        pairs.append((np.asarray(tree["split_indices"])[split], np.asarray(tree["split_conditions"], dtype=np.float64)[split]))
    return pairs


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
