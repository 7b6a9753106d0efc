"""What the microcontroller tree layouts (compact, inline) share: the sums their leaves add into,
and the finish that turns those sums into edgekit's outputs.

Float32 leaves add into float sums that start at the base scores (literals in the initialiser). Integer leaves (votes,
fractions: trees/split_nodes.py) add into uint32 sums, exact, scaled once at the end; a binary
forest that keeps class 1 only gets class 0 as the integer complement.
"""

from __future__ import annotations

import numpy as np

from ..trees.split_nodes import LeafEncoding
from ..trees.tables import TreeTables
from .literals import array, float_literals, int_literals, unsigned_type
from .tree_common import output_transform


def num_sums(tables: TreeTables, leaves: LeafEncoding) -> int:
    return leaves.width if tables.leaf_width > 1 else tables.num_outputs


def sum_declarations(tables: TreeTables, leaves: LeafEncoding, tree_output: bool = True) -> list[str]:
    """The sums' count and type, and (``tree_output``) the output column each tree adds to."""
    lines = [
        f"#define NUM_SUMS {num_sums(tables, leaves)}u",
        f"typedef {'uint32_t' if leaves.integer else 'float'} sum_t;",
    ]
    if tree_output and tables.leaf_width == 1 and tables.num_outputs > 1:
        lines.append(array(unsigned_type(tables.num_outputs), "tree_output", int_literals(tables.tree_output), "NUM_TREES"))
    return lines


def initial_sum(tables: TreeTables, leaves: LeafEncoding, k: int) -> str:
    return "0u" if leaves.integer else float_literals(np.array([tables.base_scores[k]]))


def finish_function(tables: TreeTables, leaves: LeafEncoding) -> list[str]:
    lines = ["static void finish(const sum_t *sum, float *out) {", "    float acc[NUM_ACC];"]
    if leaves.integer:
        trees = tables.trees_per_output()
        scale = float_literals(np.array([1.0 / (leaves.units * trees[0])]))
        if leaves.complement:
            lines += [f"    acc[0] = (float)({leaves.units * int(trees[0])}u - sum[0]);", "    acc[1] = (float)sum[0];"]
        else:
            lines.append("    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] = (float)sum[k];")
        # Every class is averaged over all trees (vector leaves): one scale, units and average together.
        lines.append(f"    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] *= {scale};")
    else:
        lines.append("    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] = sum[k];")
        if tables.average:
            share = float_literals(1.0 / tables.trees_per_output())
            lines += [array("float", "tree_share", share, "NUM_ACC").replace("static const", "    static const"),
                      "    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] *= tree_share[k];"]
    return [*lines, *output_transform(tables), "}", ""]
