"""Tree-aware quantization: thresholds become per-feature bin indices, leaves become integers.

Bin edges come from the model's own thresholds. For a feature with sorted distinct thresholds
``e_0 < e_1 < ... < e_{m-1}``, an input's bin is ``#{j : e_j <= x}``, and for every split on that
feature ``x < e_k`` holds exactly when ``bin(x) <= k``. So as long as a feature has no more distinct
thresholds than the index width can number, integer comparisons give the same decisions as the
float ones, on any input. A device computes each row's bins once (a binary search per feature) and
then walks every tree with integer compares: what a core without an FPU wants.

Where a feature has more distinct thresholds than the width allows (int8: 254), edges are merged:
the kept edges are spread evenly over the feature's splits (weighted by how many nodes use each
threshold), and every split moves to the nearest kept edge. That is lossy; the parity certificate
reports what it cost.

Leaves become int16 or int8 with one scale for the whole model (``value ~ scale * q``), summed in
an int32 accumulator and scaled once per output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..int_scale import symmetric
from .tables import LEAF, TreeTables, finish_scores

BIN_WIDTHS = {"uint16": 16, "uint8": 8}


@dataclass(frozen=True)
class BinnedThresholds:
    dtype: str  # uint16 or uint8
    edges: np.ndarray  # float32, every feature's kept edges, feature after feature
    edge_begin: np.ndarray  # int64 [num_features + 1]: feature f's edges are edges[begin[f]:begin[f+1]]
    node_bin: np.ndarray  # int64 per node: go left when bin(x) <= node_bin (0 for leaves)
    merged_features: list[int]  # features whose edges had to be merged (lossy)

    @property
    def missing(self) -> int:
        """The bin value that means NaN: one past the largest bin of the width."""
        return (1 << BIN_WIDTHS[self.dtype]) - 1

    @property
    def max_edges(self) -> int:
        return self.missing - 1  # bins 0..m, plus the missing marker

    def bins(self, X: np.ndarray) -> np.ndarray:
        """bin(x) for every row and feature, as the C code computes it (reference for tests)."""
        X = np.asarray(X, dtype=np.float32)
        result = np.zeros(X.shape, dtype=np.int64)
        for feature in range(X.shape[1]):
            edges = self.edges[self.edge_begin[feature]:self.edge_begin[feature + 1]]
            result[:, feature] = np.searchsorted(edges, X[:, feature], side="right")
        result[np.isnan(X)] = self.missing
        return result


@dataclass(frozen=True)
class QuantizedLeaves:
    dtype: str  # int16 or int8
    values: np.ndarray  # int64, same layout as TreeTables.leaf_values
    scale: float  # value ~ scale * q


def bin_thresholds(tables: TreeTables, dtype: str) -> BinnedThresholds:
    split = tables.feature != LEAF
    limit = (1 << BIN_WIDTHS[dtype]) - 2
    node_bin = np.zeros(tables.num_nodes, dtype=np.int64)
    edges, begin, merged = [], [0], []
    for feature in range(tables.num_features):
        nodes = np.flatnonzero(split & (tables.feature == feature))
        distinct, index, counts = np.unique(tables.threshold[nodes], return_inverse=True, return_counts=True)
        if len(distinct) <= limit:
            kept, rank = distinct, index
        else:
            kept = _merge_edges(distinct, counts, limit)
            rank = _nearest(kept, distinct)[index]
            merged.append(feature)
        node_bin[nodes] = rank
        edges.append(kept.astype(np.float32))
        begin.append(begin[-1] + len(kept))
    return BinnedThresholds(
        dtype=dtype,
        edges=np.concatenate(edges) if edges else np.zeros(0, np.float32),
        edge_begin=np.asarray(begin, dtype=np.int64),
        node_bin=node_bin,
        merged_features=merged,
    )


def _merge_edges(distinct: np.ndarray, counts: np.ndarray, limit: int) -> np.ndarray:
    """``limit`` of the distinct thresholds, spread evenly over the splits that use them."""
    cumulative = np.cumsum(counts) - counts / 2.0
    targets = (np.arange(limit) + 0.5) * (counts.sum() / limit)
    chosen = np.unique(np.clip(np.searchsorted(cumulative, targets), 0, len(distinct) - 1))
    return distinct[chosen]


def _nearest(kept: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the kept edge nearest to each value."""
    upper = np.clip(np.searchsorted(kept, values), 1, len(kept) - 1)
    lower = upper - 1
    choose_lower = np.abs(values - kept[lower]) <= np.abs(kept[upper] - values)
    return np.where(choose_lower, lower, upper)


def quantize_leaves(tables: TreeTables, dtype: str) -> QuantizedLeaves:
    values, scale = symmetric(tables.leaf_values, dtype)
    return QuantizedLeaves(dtype=dtype, values=values, scale=scale)


def quantized_predict(tables: TreeTables, binned: BinnedThresholds | None, leaves: QuantizedLeaves | None, X: np.ndarray) -> np.ndarray:
    """What the quantized C layout computes, in NumPy: decisions on bins, integer leaf sums."""
    X = np.asarray(X, dtype=np.float32)
    if binned is not None:  # a decision on bins is the float decision against the node's kept edge
        split = tables.feature != LEAF
        threshold = np.zeros(tables.num_nodes, dtype=np.float32)
        threshold[split] = binned.edges[binned.edge_begin[tables.feature[split]] + binned.node_bin[split]]
        tables = replace(tables, threshold=threshold)
    if leaves is None:
        return tables.predict(X)
    integral = replace(tables, leaf_values=leaves.values.astype(np.float64), base_scores=np.zeros(tables.num_outputs),
                       postprocessor="identity_multiclass", average=False)
    sums = integral.predict(X).reshape(len(X), -1)
    return finish_scores(tables, tables.base_scores + leaves.scale * sums)
