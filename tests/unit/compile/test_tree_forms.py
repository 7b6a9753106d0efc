"""The tree forms the C table layout is written from: quantized bins decide exactly like floats,
merged bins stay close, complete-tree padding changes no prediction."""

import numpy as np
import pytest
import xgboost as xgb

from edgekit.compile.trees.padding import pad_trees, tree_depths
from edgekit.compile.trees.quantize import bin_thresholds, quantize_leaves, quantized_predict
from edgekit.compile.trees.tables import LEAF, tables_from_treelite, treelite_model


def _tables(depth=4, trees=20, features=6, rows=3000, seed=0, missing=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(scale=0.3, size=rows) > 0).astype(int)
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    model = xgb.XGBClassifier(n_estimators=trees, max_depth=depth, max_bin=1024, tree_method="hist").fit(X, y)
    return tables_from_treelite(*treelite_model(model, "xgboost")), X, model


def _probe_rows(tables, X):
    """Training rows plus rows exactly on, and one float32 step either side of, every threshold."""
    split = tables.feature != LEAF
    rows = [X[:500]]
    for offset in (-1, 0, 1):
        values = tables.threshold[split]
        if offset:
            values = np.nextafter(values, np.float32(offset * np.inf))
        block = np.repeat(X[:1], split.sum(), axis=0)
        block[np.arange(split.sum()), tables.feature[split]] = values
        rows.append(block)
    return np.concatenate(rows)


def test_uint16_bins_decide_exactly_like_float_thresholds():
    tables, X, _ = _tables(missing=0.05)
    binned = bin_thresholds(tables, "uint16")
    assert binned.merged_features == []
    rows = _probe_rows(tables, X)
    np.testing.assert_array_equal(quantized_predict(tables, binned, None, rows), tables.predict(rows))


def test_bins_count_edges_at_or_below_and_mark_missing():
    tables, _, _ = _tables()
    binned = bin_thresholds(tables, "uint8")
    feature = int(np.flatnonzero(np.diff(binned.edge_begin))[0])
    edges = binned.edges[binned.edge_begin[feature]:binned.edge_begin[feature + 1]]
    row = np.zeros((3, tables.num_features), dtype=np.float32)
    row[:, feature] = [edges[0], np.nextafter(edges[0], np.float32(-np.inf)), np.nan]
    assert binned.bins(row)[:, feature].tolist() == [1, 0, binned.missing]


def test_uint8_bins_merge_a_feature_with_too_many_thresholds_and_stay_close():
    tables, X, _ = _tables(depth=8, trees=120, features=3, rows=20000)
    distinct = max(len(np.unique(tables.threshold[tables.feature == f])) for f in range(tables.num_features))
    assert distinct > 254  # the point of the test: more thresholds than uint8 bins
    binned = bin_thresholds(tables, "uint8")
    assert binned.merged_features and np.diff(binned.edge_begin).max() <= binned.max_edges
    agree = quantized_predict(tables, binned, None, X).argmax(axis=1) == tables.predict(X).argmax(axis=1)
    assert agree.mean() > 0.95


@pytest.mark.parametrize("dtype, bound", [("int16", 32767), ("int8", 127)])
def test_quantized_leaves_round_to_one_scale(dtype, bound):
    tables, X, _ = _tables()
    leaves = quantize_leaves(tables, dtype)
    assert np.abs(leaves.values).max() == bound
    np.testing.assert_allclose(leaves.values * leaves.scale, tables.leaf_values, atol=leaves.scale / 2 + 1e-12)
    error = np.abs(quantized_predict(tables, None, leaves, X) - tables.predict(X)).max()
    assert error <= tables.num_trees * leaves.scale / 2


def test_padding_to_complete_trees_keeps_every_prediction():
    tables, X, _ = _tables(depth=5, missing=0.05)
    padded = pad_trees(tables)
    assert padded is not None and padded.depth == int(tree_depths(tables).max())
    rows = _probe_rows(tables, X)
    leaves = 1 << padded.depth
    position = np.zeros((tables.num_trees, len(rows)), dtype=np.int64)
    for _ in range(padded.depth):
        node = padded.node[np.arange(tables.num_trees)[:, None] * padded.internal + position]
        real = node >= 0
        at = np.maximum(node, 0)
        x = rows[np.arange(len(rows))[None, :], tables.feature[at]]
        right = np.where(np.isnan(x), ~tables.default_left[at], ~(x < tables.threshold[at]))
        position = 2 * position + 1 + np.where(real, right, False)
    leaf = padded.leaf[np.arange(tables.num_trees)[:, None] * leaves + position - padded.internal]
    sums = tables.base_scores[0] + tables.leaf_values[tables.child[leaf]].sum(axis=0)
    expected = tables.predict(rows)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-sums)), expected, atol=1e-6)


def test_padding_is_refused_when_it_would_grow_the_model_too_much():
    tables, _, _ = _tables(depth=10, trees=5, rows=300)  # deep, sparse trees
    assert pad_trees(tables) is None
