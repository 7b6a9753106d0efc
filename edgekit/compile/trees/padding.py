"""Trees padded to complete binary trees of one depth: the fast form of the table layout.

In a complete tree the children of node i are 2i+1 and 2i+2, so a walk needs no child array and no
leaf test: it takes exactly ``depth`` steps, which the compiler unrolls and the CPU overlaps across
rows. A leaf above the bottom level is pushed down: the nodes below it are placeholders (any
decision leads to a copy of the same leaf value), so predictions are unchanged.

Padding costs 2^depth leaves per tree; it is used only when that is not much more than the trees
as they are (gradient-boosted trees are usually near-complete, deep forests are not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tables import LEAF, TreeTables

MAX_DEPTH = 12
MAX_GROWTH = 1.6  # padded nodes may be at most this many times the real nodes


@dataclass(frozen=True)
class PaddedTrees:
    depth: int
    node: np.ndarray  # int64 [trees * internal]: the original node index at each internal slot, -1 = placeholder
    leaf: np.ndarray  # int64 [trees * 2^depth]: the original leaf node reaching each bottom slot

    @property
    def internal(self) -> int:
        return (1 << self.depth) - 1


def tree_depths(tables: TreeTables) -> np.ndarray:
    """Depth of every tree (a single leaf has depth 0)."""
    frontier = tables.roots.copy()
    level = 0
    tree_of = np.zeros(tables.num_nodes, dtype=np.int64)
    tree_of[frontier] = np.arange(tables.num_trees)
    deepest = np.zeros(tables.num_trees, dtype=np.int64)
    while frontier.size:
        deepest[tree_of[frontier]] = level
        inner = frontier[tables.feature[frontier] != LEAF]
        children = np.concatenate([tables.child[inner], tables.child[inner] + 1])
        tree_of[children] = np.concatenate([tree_of[inner], tree_of[inner]])
        frontier = children
        level += 1
    return deepest


def pad_trees(tables: TreeTables) -> PaddedTrees | None:
    """The complete-tree form, or None when it would grow the model too much."""
    depth = int(tree_depths(tables).max(initial=0))
    if depth == 0 or depth > MAX_DEPTH:
        return None
    internal, leaves = (1 << depth) - 1, 1 << depth
    if tables.num_trees * (internal + leaves) > MAX_GROWTH * tables.num_nodes:
        return None
    return _complete(tables, depth)


def complete_top(tables: TreeTables, depth: int) -> PaddedTrees:
    """The top ``depth`` levels of every tree in complete form (any tree, however deep or sparse):
    ``leaf`` holds, for each slot below them, the original node a walk reaches there — a leaf, or
    the internal node it goes on from."""
    return _complete(tables, depth)


def _complete(tables: TreeTables, depth: int) -> PaddedTrees:
    internal, leaves = (1 << depth) - 1, 1 << depth
    node = np.full(tables.num_trees * internal, -1, dtype=np.int64)
    leaf = np.full(tables.num_trees * leaves, -1, dtype=np.int64)
    current = tables.roots.copy()
    tree = np.arange(tables.num_trees)
    position = np.zeros(tables.num_trees, dtype=np.int64)  # index in the complete tree
    for level in range(depth + 1):
        is_leaf = (tables.feature[current] == LEAF) | (level == depth)  # the bottom slots take whatever node is there
        # A leaf at this level fills the 2^(depth-level) bottom slots beneath its position.
        span = 1 << (depth - level)
        first = (position[is_leaf] + 1) * span - 1 - internal
        slots = (tree[is_leaf] * leaves + first)[:, None] + np.arange(span)
        leaf[slots.reshape(-1)] = np.repeat(current[is_leaf], span)
        inner = ~is_leaf
        node[tree[inner] * internal + position[inner]] = current[inner]
        left = tables.child[current[inner]]
        current = np.concatenate([left, left + 1])
        tree = np.concatenate([tree[inner], tree[inner]])
        position = np.concatenate([2 * position[inner] + 1, 2 * position[inner] + 2])
    return PaddedTrees(depth=depth, node=node, leaf=leaf)
