"""Tree ensembles as TFLite tensor programs: every tree walked at once, one level per step.

LiteRT has no tree operator, so the walk is written with builtin ops over an int32 state, one node
per (row, tree). A level step is two GATHERs from constant tables (the node's column and
threshold), one GATHER of the row's value in that column (batch_dims=1), GREATER_EQUAL, and the
move to the child. Each GATHER copies element by element, so tables gathered per level and ops per
level are what a row costs; the walk before this one (five GATHERs, eleven ops a level) took 1.8x
as long for one row of XGBoost 100x6.

- Missing values cost nothing per level: the row is widened once to [x, -x]. A node that sends
  NaN left asks ``x >= t`` (NaN fails it: first child, the left). A node that sends NaN right is
  mirrored: its children swap places and it asks "left?" as ``-x >= -prev(t)``, which NaN fails
  too, now meaning the right child. The column index says which half (feature, or feature + F).
- Complete form: when padding every tree to one depth grows the tables at most MAX_GROWTH times,
  each level has its own tables and node j's children are 2j and 2j + 1 of the next level: the
  step is ``k + k + second``, no child table (a leaf above the bottom is a placeholder whose
  NaN threshold always sends it to the first child, and every bottom slot under it holds its value).
- Otherwise (deep, sparse forests) the node walk: one table for all nodes plus a first-child
  table; leaves point to themselves with a NaN threshold, so the deepest tree's depth in steps
  brings every walk to its leaf.

Leaf values are gathered and summed per output with one FULLY_CONNECTED. The GEMM formulation
(Hummingbird: every node's decision, times a path matrix per tree) loses in LiteRT: its first half
alone, all 6 300 decisions of XGBoost 100x6 (one GATHER element copy per node, ten times the
walk's 600 a row), measured 2.4x slower than this walk for one row and 5x for a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..trees.padding import complete_top, tree_depths
from ..trees.tables import LEAF, TreeTables
from .dense import INPUT, OUTPUT, DenseGraph
from .writer import TfliteGraph

MAX_DEPTH = 32  # one set of ops per level: a deeper tree is not a device model
# Complete form while its tables stay within this many times the nodes: a row's work is the same in
# both forms (one node per tree per level), only the file grows; the complete form saves a GATHER a level.
MAX_GROWTH = 2.0


@dataclass(frozen=True)
class WalkTables:
    """The ensemble as the graph walks it: per node, the column of [x, -x] it reads and the
    threshold that sends it to its second child; ``tables`` has children stored (first, second)."""

    tables: TreeTables
    column: np.ndarray  # int32 per node
    threshold: np.ndarray  # float32 per node: second child when value >= threshold; NaN for leaves


def walk_tables(tables: TreeTables) -> WalkTables:
    """Mirror every node that sends NaN right (its children swap places, it reads -x against
    -prev(t)), so that one comparison a level, which NaN always fails, sends NaN the right way."""
    leaf = tables.feature == LEAF
    mirrored = ~leaf & ~tables.default_left
    order = np.arange(tables.num_nodes)
    first = tables.child[mirrored]
    order[first], order[first + 1] = first + 1, first  # each pair of children has one parent: no clashes
    relabelled = replace(tables, feature=tables.feature[order], threshold=tables.threshold[order],
                         default_left=tables.default_left[order], child=tables.child[order])
    leaf, mirrored = leaf[order], mirrored[order]
    feature = np.where(leaf, 0, relabelled.feature).astype(np.int64)
    column = np.where(mirrored, feature + tables.num_features, feature).astype(np.int32)
    threshold = relabelled.threshold.astype(np.float32)
    with np.errstate(invalid="ignore"):
        # x < t is -x >= -prev(t) for every float32 x; below -inf nothing is (always right, NaN too).
        below = -np.nextafter(threshold, np.float32(-np.inf))
    below[threshold == -np.inf] = np.nan
    threshold = np.where(mirrored, below, threshold)
    threshold[leaf] = np.nan  # a leaf (or a placeholder above the bottom) stays on its first child
    return WalkTables(relabelled, column, threshold.astype(np.float32))


def tree_graph(tables: TreeTables) -> DenseGraph:
    depth = max(1, int(tree_depths(tables).max(initial=0)))  # a single-leaf tree stays on its root
    if depth > MAX_DEPTH:
        raise ValueError(f"trees of depth {depth} are deeper than the TFLite walk's {MAX_DEPTH} levels")
    walk = walk_tables(tables)
    graph = TfliteGraph()
    features = tables.num_features
    x = graph.input(INPUT, (-1, features), "float32")
    negated = graph.tensor("features/negated", (-1, features), "float32")
    graph.op("NEG", 1, [x], [negated])
    row = graph.tensor("features/both_signs", (-1, 2 * features), "float32")
    graph.op("CONCATENATION", 1, [x, negated], [row], ("ConcatenationOptions", {"Axis": 1}))
    complete = (1 << depth) * 2 * tables.num_trees <= MAX_GROWTH * tables.num_nodes
    if complete:
        slot, values_at = _complete_walk(graph, walk, row, depth)
        how = {"walk": f"complete trees: {depth} levels over {tables.num_trees} trees at once, children by arithmetic"}
    else:
        slot, values_at = _node_walk(graph, walk, row, depth)
        how = {"walk": f"node walk: {depth} gather steps over {tables.num_trees} trees at once"}
    how["nodes"] = tables.num_nodes
    return DenseGraph(graph, _scores(graph, walk.tables, slot, values_at), how)


def _level_step(graph: TfliteGraph, row: int, at: int, column: int, threshold: int, name: str) -> int:
    """Whether each (row, tree) goes to its node's second child: the row's value in the node's
    column against the node's threshold (``at`` indexes both tables; -1: the roots, constants)."""
    shape = graph.shape_of(at) if at >= 0 else (-1, graph.shape_of(column)[0])
    if at >= 0:
        column_at = graph.tensor(f"{name}/column", shape, "int32")
        graph.op("GATHER", 1, [column, at], [column_at], ("GatherOptions", {"Axis": 0}))
        threshold_at = graph.tensor(f"{name}/threshold", shape, "float32")
        graph.op("GATHER", 1, [threshold, at], [threshold_at], ("GatherOptions", {"Axis": 0}))
        value = graph.tensor(f"{name}/value", shape, "float32")
        # Version 5: batch_dims (op_version.cc): row i reads its own features.
        graph.op("GATHER", 5, [row, column_at], [value], ("GatherOptions", {"Axis": 1, "BatchDims": 1}))
    else:  # every row starts at the same roots: their columns and thresholds are the tables themselves
        threshold_at = threshold
        value = graph.tensor(f"{name}/value", shape, "float32")
        graph.op("GATHER", 1, [row, column], [value], ("GatherOptions", {"Axis": 1}))
    second = graph.tensor(f"{name}/second", shape, "bool")
    graph.op("GREATER_EQUAL", 1, [value, threshold_at], [second])
    step = graph.tensor(f"{name}/step", shape, "int32")
    graph.op("CAST", 1, [second], [step])
    return step


def _complete_walk(graph: TfliteGraph, walk: WalkTables, row: int, depth: int) -> tuple[int, np.ndarray]:
    """Levels of complete trees: state k = tree * 2^level + j, children at 2k and 2k + 1."""
    tables = walk.tables
    trees = tables.num_trees
    padded = complete_top(tables, depth)
    internal = padded.internal
    node = padded.node.reshape(trees, internal)
    real = node >= 0
    column = np.where(real, walk.column[np.where(real, node, 0)], 0).astype(np.int32)
    threshold = np.where(real, walk.threshold[np.where(real, node, 0)], np.float32(np.nan)).astype(np.float32)
    at = -1
    for level in range(depth):
        nodes = slice((1 << level) - 1, (1 << (level + 1)) - 1)  # this level's nodes, tree by tree
        step = _level_step(graph, row, at, graph.constant(f"level{level}/column", column[:, nodes].reshape(-1)),
                           graph.constant(f"level{level}/threshold", threshold[:, nodes].reshape(-1)), f"level{level}")
        moved = graph.tensor(f"level{level}/node", (-1, trees), "int32")
        if at < 0:
            graph.op("ADD", 1, [graph.constant("roots/first_child", 2 * np.arange(trees, dtype=np.int32)), step], [moved],
                     ("AddOptions", {}))
        else:
            first = graph.tensor(f"level{level}/first_child", (-1, trees), "int32")
            graph.op("ADD", 1, [at, at], [first], ("AddOptions", {}))
            graph.op("ADD", 1, [first, step], [moved], ("AddOptions", {}))
        at = moved
    return at, padded.leaf  # bottom slot -> the leaf that fills it


def _node_walk(graph: TfliteGraph, walk: WalkTables, row: int, depth: int) -> tuple[int, np.ndarray]:
    """Any trees: state = node index; a leaf's first child is itself and its threshold NaN."""
    tables = walk.tables
    leaf = tables.feature == LEAF
    first_child = np.where(leaf, np.arange(tables.num_nodes), tables.child).astype(np.int32)
    column = graph.constant("node/column", walk.column)
    threshold = graph.constant("node/threshold", walk.threshold)
    first = graph.constant("node/first_child", first_child)
    roots = tables.roots
    at = -1
    for level in range(depth):
        if at < 0:
            step = _level_step(graph, row, at, graph.constant("root/column", walk.column[roots]),
                               graph.constant("root/threshold", walk.threshold[roots]), "level0")
            first_at = graph.constant("root/first_child", first_child[roots])
        else:
            step = _level_step(graph, row, at, column, threshold, f"level{level}")
            first_at = graph.tensor(f"level{level}/first_child", graph.shape_of(at), "int32")
            graph.op("GATHER", 1, [first, at], [first_at], ("GatherOptions", {"Axis": 0}))
        moved = graph.tensor(f"level{level}/node", (-1, tables.num_trees), "int32")
        graph.op("ADD", 1, [first_at, step], [moved], ("AddOptions", {}))
        at = moved
    return at, np.arange(tables.num_nodes)


def _scores(graph: TfliteGraph, tables: TreeTables, node: int, leaf_at: np.ndarray) -> int:
    """Leaf values summed per output, averaged, offset by the base score and finished; ``node``
    indexes ``leaf_at``, which says the leaf there."""
    trees, outputs = tables.num_trees, tables.num_outputs
    per_output = tables.trees_per_output().astype(np.float64)
    share = 1.0 / per_output if tables.average else np.ones(outputs)
    sigmoid = tables.binary_pair
    width = 2 if sigmoid else outputs
    base = tables.base_scores * (tables.sigmoid_alpha if sigmoid else 1.0)
    base = np.concatenate([[0.0], base]) if sigmoid else base
    # Leaf values where the walk ends (a leaf's child field is its offset into leaf_values).
    leaf = tables.feature == LEAF
    values = np.zeros((tables.num_nodes, tables.leaf_width), np.float32)
    values[leaf] = tables.leaf_values.reshape(-1, tables.leaf_width)[tables.child[leaf] // tables.leaf_width]
    values = values[leaf_at]
    if tables.leaf_width > 1:  # vector leaves (scikit-learn classifiers): [n, trees, classes] summed over trees
        gathered = graph.tensor("leaf/values", (-1, trees, outputs), "float32")
        graph.op("GATHER", 1, [graph.constant("leaf_values", values * share.astype(np.float32)), node], [gathered],
                 ("GatherOptions", {"Axis": 0}))
        summed = graph.tensor("leaf/sum", (-1, outputs), "float32")
        graph.op("SUM", 1, [gathered, graph.constant("tree_axis", np.array([1], np.int32))], [summed], ("ReducerOptions", {"KeepDims": False}))
        scores = graph.tensor("scores", (-1, outputs), "float32")
        graph.op("ADD", 1, [summed, graph.constant("base_scores", base.astype(np.float32))], [scores], ("AddOptions", {}))
    else:
        gathered = graph.tensor("leaf/values", (-1, trees), "float32")
        graph.op("GATHER", 1, [graph.constant("leaf_value", values[:, 0]), node], [gathered], ("GatherOptions", {"Axis": 0}))
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
