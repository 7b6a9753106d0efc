"""How much arithmetic one prediction takes, for latency estimates on devices nothing was measured on.

Trees: node visits on the longest root-to-leaf path of every tree (an upper bound, so the
estimate bounds the p99). Dense models: multiply-accumulates of every layer, plus one per
feature for standardisation. The device profile's cost model turns these into cycles.
``activation_bytes``: float32 values alive for one row (inputs, per-tree or per-layer results).
"""

from __future__ import annotations

from typing import Any

from ..bundle import ModelBundle
from .dense import dense_from_pipeline
from .trees.padding import tree_depths
from .trees.tables import bundle_trees


def work_per_row(bundle: ModelBundle) -> dict[str, Any]:
    info = bundle.info
    if info.family_kind == "trees":
        tables = bundle_trees(bundle).tables
        depths = tree_depths(tables)
        return {"tree_node_visits": int(depths.sum() + len(depths)), "trees": tables.num_trees, "macs": 0,
                "activation_bytes": 4 * (tables.num_features + tables.num_trees + tables.output_width),
                "how": "longest path of every tree (leaf included): a worst case"}
    dense = dense_from_pipeline(bundle.model, len(info.feature_names))
    macs = dense.n_features + sum(int(layer.weights.size) for layer in dense.layers)
    widths = sum(int(layer.weights.shape[1]) for layer in dense.layers)
    return {"tree_node_visits": 0, "trees": 0, "macs": macs, "activation_bytes": 4 * (dense.n_features + widths),
            "how": "weights of every layer plus standardisation"}
