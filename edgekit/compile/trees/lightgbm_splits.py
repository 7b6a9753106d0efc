"""LightGBM's split rules written into the Treelite model, so every target decides as LightGBM does.

Treelite's LightGBM frontend keeps each split's threshold and default side, but LightGBM decides
with three more rules: a value within kZeroThreshold (1e-35) of zero is read as zero; a feature
that had no missing values in training (missing type None) reads NaN as zero; with
``zero_as_missing`` (missing type Zero) zero and NaN both take the default side. The first two are
rewritten into plain thresholds and default sides here. The third is exact when zero's own side is
the default side; otherwise no single comparison says it, and the model is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import BadInput
from .thresholds import CMP_LE, CMP_LT

ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold is the float 1e-35f


def apply_lightgbm_split_rules(model: Any, booster: Any) -> None:
    """Rewrite ``model`` (a treelite.Model read from ``booster``) in place."""
    for tree_id, tree in enumerate(booster.dump_model()["tree_info"]):
        accessor = model.get_tree_accessor(tree_id)
        cleft = np.asarray(accessor.get_field("cleft"), dtype=np.int64)
        cright = np.asarray(accessor.get_field("cright"), dtype=np.int64)
        threshold = np.asarray(accessor.get_field("threshold"), dtype=np.float64).copy()
        cmp = np.asarray(accessor.get_field("cmp")).copy()
        default_left = np.asarray(accessor.get_field("default_left")).copy()
        for node, split in _paired_splits(tree["tree_structure"], cleft, cright):
            if split["decision_type"] != "<=":
                raise BadInput("the model has categorical splits, which no edgekit target compiles yet",
                               "train it on numeric (e.g. one-hot or ordinal-coded) features")
            value = float(split["threshold"])
            read = np.copysign(np.inf, value) if abs(value) >= 1e300 else value  # Treelite reads 1e300 as infinity
            if not np.isclose(read, threshold[node], rtol=1e-12, atol=0.0):
                raise RuntimeError(f"LightGBM tree {tree_id}: Treelite's node order differs from LightGBM's dump")
            if -ZERO <= value < 0.0:  # tiny negatives read as zero go right: x < -1e-35
                threshold[node], cmp[node] = -ZERO, CMP_LT
            elif 0.0 <= value < ZERO:  # tiny positives read as zero go left: x <= 1e-35
                threshold[node], cmp[node] = ZERO, CMP_LE
            zero_left = value >= 0.0
            if split["missing_type"] == "None":
                default_left[node] = zero_left
            elif split["missing_type"] == "Zero":
                if bool(split["default_left"]) != zero_left:
                    raise BadInput(
                        f"LightGBM tree {tree_id} treats zero as missing (zero_as_missing) and sends it the other "
                        "way than its threshold would, which no edgekit target can express exactly",
                        "retrain with zero_as_missing=false (NaN then stands for missing)",
                    )
                default_left[node] = zero_left
        accessor.set_field("threshold", threshold)
        accessor.set_field("cmp", cmp)
        accessor.set_field("default_left", default_left)


def _paired_splits(root: dict[str, Any], cleft: np.ndarray, cright: np.ndarray) -> list[tuple[int, dict[str, Any]]]:
    """(Treelite node id, LightGBM split) pairs: both trees walked breadth-first, left before right."""
    pairs, queue = [], [(0, root)]
    for node, entry in queue:  # the list grows as it is walked
        if "split_feature" not in entry:
            if cleft[node] != -1:
                raise RuntimeError("Treelite's tree shape differs from LightGBM's dump")
            continue
        pairs.append((node, entry))
        queue += [(int(cleft[node]), entry["left_child"]), (int(cright[node]), entry["right_child"])]
    return pairs
