"""Per-feature histograms of the training data: the reference that drift detection compares against.

Numeric features get decile bin edges; a value x falls in bin ``i = count(edges <= x)`` (so there are
``len(edges) + 1`` bins with open ends), which a device can compute with one binary search.
Categorical features count each category code. Missing values are counted apart.
"""

from __future__ import annotations

import numpy as np

from .schema import Schema

BASELINE_FORMAT = 1
NUMERIC_BINS = 10


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` per bin of ``edges`` (NaN excluded), ``len(edges) + 1`` bins."""
    present = values[~np.isnan(values)]
    return np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)


def decile_edges(values: np.ndarray, bins: int = NUMERIC_BINS) -> np.ndarray:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))


def feature_baseline(schema: Schema, X: np.ndarray) -> dict[str, object]:
    rows = X.shape[0]
    features = []
    for index, feature in enumerate(schema.features):
        column = X[:, index].astype("float64")
        missing = int(np.isnan(column).sum())
        if feature.kind == "categorical":
            codes = column[~np.isnan(column)].astype(np.int64)
            counts = np.bincount(codes, minlength=len(feature.categories or []))
            entry = {"name": feature.name, "kind": "categorical", "categories": feature.categories}
        else:
            edges = decile_edges(column)
            counts = histogram(column, edges)
            entry = {"name": feature.name, "kind": "numeric", "edges": edges.tolist()}
        entry.update({"counts": counts.tolist(), "missing": missing})
        features.append(entry)
    return {"format_version": BASELINE_FORMAT, "rows": rows, "features": features}


def edges_between_values(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``edges`` moved down, each to halfway from the largest of ``values`` below it, where an edge is
    one of the values: the same rows fall on each side, and no value sits on an edge. A tree model's
    outputs are a few leaf sums, often tied on a decile; a compiled artifact that sums the leaves in
    another order lands a tied block one float32 ulp below the edge, and a whole bin moves."""
    distinct = np.unique(values[~np.isnan(values)])
    at = np.searchsorted(distinct, edges, side="left")
    on_value = (at > 0) & (at < distinct.size) & (distinct[np.minimum(at, distinct.size - 1)] == edges)
    moved = edges.copy()
    moved[on_value] = (distinct[at[on_value] - 1] + edges[on_value]) / 2
    return moved


def prediction_baseline(task: str, outputs: np.ndarray, classes: list | None) -> dict[str, object]:
    """The distribution of the model's own outputs on held-out rows, to spot prediction drift."""
    if task == "classification":
        labels = outputs.argmax(axis=1)
        summary: dict[str, object] = {
            "kind": "classes",
            "classes": classes,
            "counts": np.bincount(labels, minlength=outputs.shape[1]).tolist(),
        }
        if outputs.shape[1] == 2:
            # Fixed steps, the same for every release: a rollout gate compares a canary's score
            # histogram with the other releases' (server/monitoring/monitor.py), bin by bin.
            edges = np.linspace(0.1, 0.9, 9)
            summary["positive_score"] = {"edges": edges.tolist(), "counts": histogram(outputs[:, 1], edges).tolist()}
        return summary
    values = np.asarray(outputs, dtype=np.float64).reshape(-1)
    edges = edges_between_values(decile_edges(values), values)
    return {"kind": "values", "edges": edges.tolist(), "counts": histogram(values, edges).tolist()}
