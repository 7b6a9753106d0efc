"""The telemetry histograms bin float32 rows exactly as count(edges <= x) in float64 would."""

import numpy as np
from edgekit_runtime.inputs.telemetry import Histograms


def test_bins_match_float64_counting_at_edges_float32_cannot_hold():
    # 0.7 as float32 is 0.69999999: below the float64 edge 0.7, so it belongs in bin 0 (a naive
    # float32 edge would put it in bin 1); 0.1's float32 is above 0.1, so it belongs in bin 1.
    edges = [[0.7, 2.5], [0.1, 1e30]]
    baseline = {"features": {"features": [{"name": f"f{i}", "kind": "numeric", "edges": e} for i, e in enumerate(edges)]}}
    histograms = Histograms(baseline)
    values = np.float32([0.7, np.nextafter(np.float32(0.7), np.float32(1)), 2.5, -np.inf, np.inf, np.nan, 0.1, 3e38])
    rows = np.stack([values, values[::-1]], axis=1)
    histograms.add(rows, None)
    snapshot = histograms.snapshot()["features"]
    for index, feature_edges in enumerate(edges):
        column = rows[:, index].astype(np.float64)
        known = column[~np.isnan(column)]
        expected = np.bincount(np.searchsorted(feature_edges, known, side="right"), minlength=len(feature_edges) + 1)
        assert snapshot[f"f{index}"] == {"counts": expected.tolist(), "missing": int(np.isnan(column).sum())}
