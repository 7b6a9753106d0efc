"""A scaler in front of a scikit-learn tree model, folded into the model's thresholds exactly.

A tree behind a StandardScaler or MinMaxScaler splits on z = scale(x), which rises with x. For each
split ``z <= t`` the largest float32 x with scale(x) <= t is found by bisection over the float32
values in order, running the scaler's own ``transform`` (so its float32 rounding is the one
reproduced, not re-derived), and the split becomes ``x <= that x``: the same decision for every
float32 input. NaN passes through a scaler unchanged, so the default sides stay as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .thresholds import CMP_LE

_STEPS = 33  # the float32 order has 2^32 places: 33 halvings narrow any bracket to one


def fold_scaler(model: Any, scaler: Any) -> None:
    """Rewrite the thresholds of ``model`` (a treelite.Model of the tree behind ``scaler``) in place.
    Every split of every tree is bisected at once: one ``transform`` per step, not per tree."""
    trees, features, limits, strict = [], [], [], []
    for tree_id in range(model.num_tree):
        tree = model.get_tree_accessor(tree_id)
        split = np.asarray(tree.get_field("cleft")) != -1
        threshold = np.asarray(tree.get_field("threshold"), dtype=np.float64).copy()
        cmp = np.asarray(tree.get_field("cmp")).copy()
        trees.append((tree, split, threshold, cmp))
        features.append(np.asarray(tree.get_field("split_index"), dtype=np.int64)[split])
        limits.append(threshold[split])
        strict.append(cmp[split] != CMP_LE)  # z < t: the largest x with z(x) < t
    if not trees:
        return
    boundaries = _boundaries(scaler, int(scaler.n_features_in_), np.concatenate(features), np.concatenate(limits),
                             np.concatenate(strict))
    start = 0
    for tree, split, threshold, cmp in trees:
        count = int(split.sum())
        threshold[split] = boundaries[start:start + count]
        cmp[split] = CMP_LE
        start += count
        tree.set_field("threshold", threshold)
        tree.set_field("cmp", cmp)


def _boundaries(scaler: Any, n_features: int, features: np.ndarray, limits: np.ndarray, strict: np.ndarray) -> np.ndarray:
    """Per split: the largest float32 x whose scaled value passes (<= limit, or < limit when strict)."""
    low = np.full(len(features), _ordered(np.float32(-np.inf)), dtype=np.int64)  # passes (or -inf: nothing does)
    high = np.full(len(features), _ordered(np.float32(np.inf)), dtype=np.int64)
    rows = np.zeros((len(features), n_features), dtype=np.float32)
    where = np.arange(len(features))
    for _ in range(_STEPS):
        middle = (low + high) // 2
        rows[where, features] = _from_ordered(middle)
        with np.errstate(over="ignore", invalid="ignore"):  # candidates near ±3.4e38 scale past float32: inf
            scaled = scaler.transform(rows)[where, features].astype(np.float64)
        passes = np.where(strict, scaled < limits, scaled <= limits)
        low = np.where(passes, middle, low)
        high = np.where(passes, high, middle)
    return _from_ordered(low).astype(np.float64)


def _ordered(value: np.float32) -> int:
    """A float32 as an integer that sorts as the floats do."""
    bits = int(np.array(value, dtype=np.float32).view(np.int32))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFF)


def _from_ordered(ordered: np.ndarray) -> np.ndarray:
    bits = np.where(ordered >= 0, ordered, (-ordered) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)
