"""The split thresholds of a tree model, per feature, as float32 decision boundaries."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

CMP_LT, CMP_LE = 2, 3  # Treelite's Operator enum (kLT, kLE): a split's comparison in a Treelite model


def split_thresholds(feature: np.ndarray, threshold: np.ndarray) -> dict[int, np.ndarray]:
    """{feature index: sorted unique float32 boundaries} of tree tables (``feature`` < 0 marks a
    leaf; a split goes left when x < threshold): each boundary is the largest float32 that goes left,
    so a row on it and one float32 step above it take the two sides of the split. Read from the
    tables, the boundaries are the ones every target compiles: after LightGBM's split rules, a
    folded scaler or anything else the tables were rewritten for."""
    split = (feature >= 0) & np.isfinite(threshold)
    features = feature[split]
    boundaries = np.nextafter(threshold[split].astype(np.float32), np.float32(-np.inf))
    grouped: dict[int, list[np.ndarray]] = defaultdict(list)
    for index in np.unique(features):
        grouped[int(index)].append(boundaries[features == index])
    return {index: np.unique(np.concatenate(chunks)) for index, chunks in sorted(grouped.items())}


def float32_at_or_below(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold: then for any float32 x, x <= t64 iff x <= t32."""
    rounded = np.asarray(thresholds, dtype=np.float64).astype(np.float32)
    above = rounded.astype(np.float64) > thresholds
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded
