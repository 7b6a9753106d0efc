"""Tree ensembles as TFLite tensor programs: every tree walked at once, one level per step.

LiteRT has no tree operator, so the walk is written with builtin ops. The state is one node index
per (row, tree), an int32 tensor [n, trees]. Each step gathers the node's feature, threshold,
missing-value direction and left child from constant tables, gathers the row's value of that
feature (GATHER with batch_dims=1), compares, and moves to ``left child + went right``. Leaves
point to themselves and never go right (their threshold is NaN, which no comparison passes), so
a fixed number of steps, the deepest tree's depth, brings every walk to its leaf whatever the
shape of the trees: no padding, work O(trees x depth) per row. Leaf values are then gathered and
summed per output with one FULLY_CONNECTED whose weights say which output each tree adds to.

The other formulation the literature uses (Hummingbird's GEMM: decisions of every node times a
path matrix) costs O(nodes x leaves) memory per tree and is only worth it for very shallow trees
on matrix accelerators; this one covers every depth with the same few ops.
"""

from __future__ import annotations

import numpy as np

from ..trees.padding import tree_depths
from ..trees.tables import LEAF, TreeTables
from .dense import INPUT, OUTPUT, DenseGraph
from .writer import TfliteGraph

MAX_DEPTH = 32  # one set of ops per level: a deeper tree is not a device model


def tree_graph(tables: TreeTables) -> DenseGraph:
    depth = max(1, int(tree_depths(tables).max(initial=0)))  # a single-leaf tree stays on its root
    if depth > MAX_DEPTH:
        raise ValueError(f"trees of depth {depth} are deeper than the TFLite walk's {MAX_DEPTH} levels")
    graph = TfliteGraph()
    trees, features = tables.num_trees, tables.num_features
    x = graph.input(INPUT, (-1, features), "float32")
    leaf = tables.feature == LEAF
    feature = np.where(leaf, 0, tables.feature).astype(np.int32)
    threshold = np.where(leaf, np.float32(np.nan), tables.threshold).astype(np.float32)
    missing_right = ~tables.default_left & ~leaf
    child = np.where(leaf, np.arange(tables.num_nodes), tables.child).astype(np.int32)
    tables_at = {
        "feature": (graph.constant("node/feature", feature), "int32"),
        "threshold": (graph.constant("node/threshold", threshold), "float32"),
        "missing_goes_right": (graph.constant("node/missing_goes_right", missing_right), "bool"),
        "left_child": (graph.constant("node/left_child", child), "int32"),
    }
    shape = (-1, trees)
    roots = tables.roots
    node = -1
    for level in range(depth):
        value = graph.tensor(f"step{level}/value", shape, "float32")
        if level == 0:  # every row starts at the same roots: their fields are constants
            at = {"threshold": graph.constant("root/threshold", threshold[roots]),
                  "missing_goes_right": graph.constant("root/missing_goes_right", missing_right[roots]),
                  "left_child": graph.constant("root/left_child", child[roots])}
            graph.op("GATHER", 1, [x, graph.constant("root/feature", feature[roots])], [value], ("GatherOptions", {"Axis": 1}))
        else:
            at = {name: _gather(graph, table, node, f"step{level}/{name}", dtype) for name, (table, dtype) in tables_at.items()}
            # Version 5: batch_dims (op_version.cc): row i reads its own features.
            graph.op("GATHER", 5, [x, at["feature"]], [value], ("GatherOptions", {"Axis": 1, "BatchDims": 1}))
        at_least = graph.tensor(f"step{level}/at_least", shape, "bool")
        graph.op("GREATER_EQUAL", 1, [value, at["threshold"]], [at_least])
        missing = graph.tensor(f"step{level}/missing", shape, "bool")
        graph.op("NOT_EQUAL", 1, [value, value], [missing])
        missing_right_here = graph.tensor(f"step{level}/missing_right", shape, "bool")
        graph.op("LOGICAL_AND", 1, [missing, at["missing_goes_right"]], [missing_right_here])
        right = graph.tensor(f"step{level}/right", shape, "bool")
        graph.op("LOGICAL_OR", 1, [at_least, missing_right_here], [right])  # NaN never passes at_least
        step = graph.tensor(f"step{level}/step", shape, "int32")
        graph.op("CAST", 1, [right], [step])
        moved = graph.tensor(f"step{level}/node", shape, "int32")
        graph.op("ADD", 1, [at["left_child"], step], [moved], ("AddOptions", {}))
        node = moved

    how = {"walk": f"{depth} gather steps over {trees} trees at once", "nodes": tables.num_nodes}
    return DenseGraph(graph, _scores(graph, tables, node), how)


def _gather(graph: TfliteGraph, table: int, index: int, name: str, dtype: str) -> int:
    out = graph.tensor(name, graph.shape_of(index), dtype)
    graph.op("GATHER", 3 if dtype == "bool" else 1, [table, index], [out], ("GatherOptions", {"Axis": 0}))
    return out


def _scores(graph: TfliteGraph, tables: TreeTables, node: int) -> int:
    """Leaf values summed per output, averaged, offset by the base score and finished."""
    trees, outputs = tables.num_trees, tables.num_outputs
    per_output = tables.trees_per_output().astype(np.float64)
    share = 1.0 / per_output if tables.average else np.ones(outputs)
    sigmoid = tables.binary_pair
    width = 2 if sigmoid else outputs
    base = tables.base_scores * (tables.sigmoid_alpha if sigmoid else 1.0)
    base = np.concatenate([[0.0], base]) if sigmoid else base
    # Leaf values indexed by node (a leaf's child field is its offset into leaf_values).
    leaf = tables.feature == LEAF
    values = np.zeros((tables.num_nodes, tables.leaf_width), np.float32)
    values[leaf] = tables.leaf_values.reshape(-1, tables.leaf_width)[tables.child[leaf] // tables.leaf_width]
    if tables.leaf_width > 1:  # vector leaves (scikit-learn classifiers): [n, trees, classes] summed over trees
        gathered = graph.tensor("leaf/values", (-1, trees, outputs), "float32")
        graph.op("GATHER", 1, [graph.constant("node/leaf_values", values * share.astype(np.float32)), node], [gathered],
                 ("GatherOptions", {"Axis": 0}))
        summed = graph.tensor("leaf/sum", (-1, outputs), "float32")
        graph.op("SUM", 1, [gathered, graph.constant("tree_axis", np.array([1], np.int32))], [summed], ("ReducerOptions", {"KeepDims": False}))
        scores = graph.tensor("scores", (-1, outputs), "float32")
        graph.op("ADD", 1, [summed, graph.constant("base_scores", base.astype(np.float32))], [scores], ("AddOptions", {}))
    else:
        gathered = graph.tensor("leaf/values", (-1, trees), "float32")
        graph.op("GATHER", 1, [graph.constant("node/leaf_value", values[:, 0]), node], [gathered], ("GatherOptions", {"Axis": 0}))
        # Which output each tree adds to (and with what weight): [width, trees] for FULLY_CONNECTED.
        routing = np.zeros((width, trees), np.float32)
        column = tables.tree_output + (1 if sigmoid else 0)
        routing[column, np.arange(trees)] = (tables.sigmoid_alpha if sigmoid else share[tables.tree_output])
        scores = graph.tensor("scores", (-1, width), "float32")
        graph.op("FULLY_CONNECTED", 1, [gathered, graph.constant("tree_routing", routing), graph.constant("base_scores", base.astype(np.float32))],
                 [scores], ("FullyConnectedOptions", {"FusedActivationFunction": 0}))
    if sigmoid or tables.postprocessor == "softmax":  # sigmoid as a two-logit softmax: [0, z] -> [1 - p, p]
        probabilities = graph.tensor(OUTPUT, (-1, width), "float32")
        graph.op("SOFTMAX", 1, [scores], [probabilities], ("SoftmaxOptions", {"Beta": 1.0}))
        scores = probabilities
    elif tables.postprocessor in {"sigmoid", "exponential"}:  # a regression on a logistic or log link
        if tables.postprocessor == "sigmoid" and tables.sigmoid_alpha != 1.0:
            scaled = graph.tensor("scores/scaled", (-1, width), "float32")
            graph.op("MUL", 1, [scores, graph.constant("sigmoid_alpha", np.array([tables.sigmoid_alpha], np.float32))],
                     [scaled], ("MulOptions", {}))
            scores = scaled
        linked = graph.tensor(OUTPUT, (-1, width), "float32")
        if tables.postprocessor == "sigmoid":
            graph.op("LOGISTIC", 1, [scores], [linked])
        else:
            graph.op("EXP", 1, [scores], [linked], ("ExpOptions", {}))
        scores = linked
    graph.tensors[scores].name = OUTPUT
    graph.outputs.append(scores)
    return width
