"""Tree tables as split nodes only, leaves kept apart: the form of the microcontroller layouts.

The table layout gives every leaf a node entry (feature, threshold, child). Here a leaf is no node:
each split node carries two flags (left child is a leaf, right child is a leaf) and one reference,
and the split nodes of a tree are in preorder, so one of the two children is always the next node:

    flags (left, right)   left child        right child
    (split, split)        node + 1          node + ref
    (leaf,  split)        leaf slot ref     node + 1
    (split, leaf)         node + 1          leaf slot ref
    (leaf,  leaf)         leaf slot ref     leaf slot ref + 1

Leaf slots are numbered per tree, so a depth-8 tree's references fit a byte. A slot names a row of
leaf values, shared between equal leaves when that is smaller (``LeafEncoding``).

Leaf values of an averaged forest of class probabilities (scikit-learn's random forests) can be
integers: 0/1 votes when every leaf is pure (exact), otherwise probabilities in units of 1/65535,
off by at most 0.5/65535 = 7.6e-6 per tree and so at most that in the average, inside the 1e-5 the
fp32 certificate allows. A binary forest then keeps class 1 only: class 0's sum is the exact
integer complement. Every other model keeps float32 leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tables import LEAF, TreeTables

FRACTION_UNITS = 65535  # one probability = 65535 units: the error bound above is 0.5 unit per tree


@dataclass(frozen=True)
class SplitNodes:
    feature: np.ndarray  # int64 per split node
    threshold: np.ndarray  # float32: go left when x < threshold
    default_left: np.ndarray  # bool: where NaN goes
    left_leaf: np.ndarray  # bool
    right_leaf: np.ndarray  # bool
    ref: np.ndarray  # int64: a right-split offset or a leaf slot in the tree (table above)
    roots: np.ndarray  # int64 per tree: its first split node
    leaf_base: np.ndarray  # int64 per tree: its first leaf slot
    slot_leaf: np.ndarray  # int64 per leaf slot: the TreeTables node of that leaf

    @property
    def num_splits(self) -> int:
        return int(self.feature.shape[0])


@dataclass(frozen=True)
class LeafEncoding:
    kind: str  # float32, votes (0/1 integers) or fractions (units of 1/FRACTION_UNITS)
    values: np.ndarray  # [rows, width]: float32, or int64 for the integer kinds
    slot_row: np.ndarray | None  # int64 per leaf slot: its row of values; None = slot i is row i
    complement: bool  # binary probabilities: only class 1 stored, class 0 = units - class 1
    units: int  # integer kinds: what one probability is (1 for votes); 0 for float32

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    @property
    def integer(self) -> bool:
        return self.kind != "float32"


def split_nodes(tables: TreeTables) -> SplitNodes:
    features, thresholds, defaults, left_leafs, right_leafs, refs, roots, leaf_bases, slots = ([] for _ in range(9))
    count, slot_count = 0, 0
    is_leaf = tables.feature == LEAF
    for root in tables.roots:
        roots.append(count)
        leaf_bases.append(slot_count)
        tree_slots: list[int] = []
        if is_leaf[root]:  # a tree that is one leaf: a split whose two sides reach copies of it
            features.append(0), thresholds.append(np.float32(np.inf)), defaults.append(True)
            left_leafs.append(True), right_leafs.append(True), refs.append(0)
            tree_slots += [int(root), int(root)]
            count += 1
        else:
            order = _preorder(tables, int(root))
            position = {node: count + index for index, node in enumerate(order)}
            for node in order:
                left, right = int(tables.child[node]), int(tables.child[node]) + 1
                lleaf, rleaf = bool(is_leaf[left]), bool(is_leaf[right])
                if lleaf:
                    ref = len(tree_slots)
                    tree_slots.append(left)
                    if rleaf:
                        tree_slots.append(right)
                elif rleaf:
                    ref = len(tree_slots)
                    tree_slots.append(right)
                else:
                    ref = position[right] - position[node]
                features.append(int(tables.feature[node])), thresholds.append(tables.threshold[node])
                defaults.append(bool(tables.default_left[node]))
                left_leafs.append(lleaf), right_leafs.append(rleaf), refs.append(ref)
            count += len(order)
        slots += tree_slots
        slot_count += len(tree_slots)
    return SplitNodes(
        feature=np.asarray(features, dtype=np.int64),
        threshold=np.asarray(thresholds, dtype=np.float32),
        default_left=np.asarray(defaults, dtype=bool),
        left_leaf=np.asarray(left_leafs, dtype=bool),
        right_leaf=np.asarray(right_leafs, dtype=bool),
        ref=np.asarray(refs, dtype=np.int64),
        roots=np.asarray(roots, dtype=np.int64),
        leaf_base=np.asarray(leaf_bases, dtype=np.int64),
        slot_leaf=np.asarray(slots, dtype=np.int64),
    )


def _preorder(tables: TreeTables, root: int) -> list[int]:
    """The tree's split nodes, each followed by its left subtree's splits, then its right's."""
    order, stack = [], [root]
    while stack:
        node = stack.pop()
        if tables.feature[node] == LEAF:
            continue
        order.append(node)
        stack += [int(tables.child[node]) + 1, int(tables.child[node])]
    return order


def leaf_encoding(tables: TreeTables, nodes: SplitNodes, value_bytes: int | None = None) -> LeafEncoding:
    """The leaf values per slot, as integers where that is within the fp32 certificate, shared
    between slots when the index plus the shared rows take fewer bytes than one row per slot."""
    width = tables.leaf_width
    per_slot = tables.leaf_values[tables.child[nodes.slot_leaf][:, None] + np.arange(width)]
    kind, units, complement = "float32", 0, False
    probabilities = tables.average and tables.classifier and width == tables.num_outputs and width > 1 and not (
        tables.base_scores.any()) and per_slot.min(initial=0.0) >= 0.0 and per_slot.max(initial=0.0) <= 1.0
    if probabilities:
        pure = bool(np.all((per_slot == 0.0) | (per_slot == 1.0)))
        kind, units = ("votes", 1) if pure else ("fractions", FRACTION_UNITS)
        complement = width == 2 and bool(np.all(np.abs(per_slot.sum(axis=1) - 1.0) <= 1e-9))
        if complement:
            per_slot = per_slot[:, 1:]
        values = np.rint(per_slot * units).astype(np.int64)
    else:
        values = per_slot.astype(np.float32)
    rows, slot_row = np.unique(values, axis=0, return_inverse=True)
    row_bytes = values.shape[1] * (value_bytes or _value_bytes(kind, values))
    index_bytes = int(np.dtype(_unsigned(len(rows))).itemsize)
    shared = len(rows) * row_bytes + len(values) * index_bytes < len(values) * row_bytes
    return LeafEncoding(kind, rows if shared else values, slot_row.reshape(-1) if shared else None, complement, units)


def _value_bytes(kind: str, values: np.ndarray) -> int:
    if kind == "float32":
        return 4
    return int(np.dtype(_unsigned(int(values.max(initial=0)) + 1)).itemsize)


def _unsigned(count: int) -> str:
    return "uint8" if count <= 1 << 8 else "uint16" if count <= 1 << 16 else "uint32"
