"""The inline layout: every tree as nested if-else with its thresholds and leaf values in the code,
for small forests on microcontrollers, where code beats tables on instructions per inference.

A node is a load, a compare against a literal and a branch (five Thumb-2 instructions on a
Cortex-M4F, against about eighteen for a table walk), and a leaf adds its values as constants into
sums the compiler keeps in registers. The leaf values are the compact layout's (integer votes or
fractions for averaged forests of probabilities, else float32), so the two layouts compute the
same outputs. Unlike TL2cgen's if-else (--layout ifelse) it converts no row to a union array and
keeps no per-tree result array. Code grows with the model: past INLINE_MAX_SPLITS the layout is
refused (use --layout compact).
"""

from __future__ import annotations

import numpy as np

from ...errors import BadInput
from ..trees.split_nodes import LeafEncoding, SplitNodes
from ..trees.tables import LEAF, TreeTables
from .literals import api_constants, batch_by_rows, float_literals
from .tree_common import finish_function, initial_sum, num_sums, sum_declarations, tree_head

# About 22 bytes of Thumb-2 per split node (random forest 10x8: 1 969 nodes, 55 KB): past 5 000 nodes the code
# outgrows a microcontroller's flash long before it outruns a table, and one huge function slows gcc.
INLINE_MAX_SPLITS = 5_000


def inline_refusal(tables: TreeTables) -> BadInput | None:
    splits = int(np.count_nonzero(tables.feature != LEAF))
    if splits <= INLINE_MAX_SPLITS:
        return None
    return BadInput(f"the inline layout writes code for every split node: {splits} is past its limit of {INLINE_MAX_SPLITS}",
                    "use --layout compact (the same model as tables) or --layout table")


def inline_source(tables: TreeTables, nodes: SplitNodes, leaves: LeafEncoding, model_id: str, origin: str) -> str:
    refusal = inline_refusal(tables)
    if refusal is not None:
        raise refusal
    sums = num_sums(tables, leaves)
    leaf_row = {}  # TreeTables leaf node -> its row of leaf values
    for slot, node in enumerate(nodes.slot_leaf):
        leaf_row[int(node)] = leaves.values[leaves.slot_row[slot] if leaves.slot_row is not None else slot]
    literal = (lambda v: f"{int(v)}u") if leaves.integer else (lambda v: float_literals(np.array([v])))

    def leaf(node: int, tree: int, indent: str) -> list[str]:
        values = leaf_row[node]
        if tables.leaf_width == 1:
            column = int(tables.tree_output[tree]) if tables.num_outputs > 1 else 0
            return [f"{indent}s{column} += {literal(values[0])};"]
        return [f"{indent}s{j} += {literal(value)};" for j, value in enumerate(values) if value != 0]

    def subtree(node: int, tree: int, depth: int) -> list[str]:
        indent = "    " * depth
        if tables.feature[node] == LEAF:
            return leaf(node, tree, indent)
        x = f"row[{int(tables.feature[node])}]"
        t = float_literals(np.array([tables.threshold[node]]))
        # NaN fails every comparison: `x < t` sends it right, `!(x >= t)` left, each one branch.
        test = f"!({x} >= {t})" if tables.default_left[node] else f"{x} < {t}"
        left, right = int(tables.child[node]), int(tables.child[node]) + 1
        return [f"{indent}if ({test}) {{", *subtree(left, tree, depth + 1), f"{indent}}} else {{",
                *subtree(right, tree, depth + 1), f"{indent}}}"]

    body = []
    for tree, root in enumerate(tables.roots):
        body += [f"    /* tree {tree} */", *subtree(int(root), tree, 1)]
    sum_type = "uint32_t" if leaves.integer else "float"
    lines = [
        *tree_head(tables, f"{origin}: inline layout (nested if-else, {leaves.kind} leaves)"),
        *sum_declarations(tables, leaves, tree_output=False),  # each tree's column is in its code
        "",
        *api_constants(tables.output_width, model_id),
        "",
        *finish_function(tables, leaves),
        "void edgekit_predict(const float *row, float *out) {",
        *(f"    {sum_type} s{k} = {initial_sum(tables, leaves, k)};" for k in range(sums)),
        *body,
        f"    const sum_t sum[NUM_SUMS] = {{{', '.join(f's{k}' for k in range(sums))}}};",
        "    finish(sum, out);",
        "}",
        "",
        *batch_by_rows(),
    ]
    return "\n".join(lines)
