"""The compact layout: a tree ensemble in the fewest bytes of flash, for microcontrollers.

Only split nodes have entries (trees/split_nodes.py): a word holding the feature index and three
flags (left child is a leaf, right child is a leaf, NaN goes left) in the smallest unsigned type
that holds them, a float32 threshold (exact: thresholds of a forest on continuous data hardly
repeat, so sharing them saves nothing), and one reference in the smallest type that holds every
reference (a byte for trees up to depth 8). Leaf values live in their own table, shared between
equal leaves when that is smaller, as integers where that stays within the fp32 certificate.

The walk costs more instructions per node than the table layout's; ``--layout inline`` is the
fast form of the same model (c/inline.py).
"""

from __future__ import annotations

import numpy as np

from ...errors import BadInput
from ..trees.split_nodes import LeafEncoding, SplitNodes
from ..trees.tables import TreeTables
from .literals import api_constants, array, batch_by_rows, float_literals, int_literals, unsigned_type
from .tree_common import finish_function, initial_sum, num_sums, sum_declarations, tree_head


def compact_source(tables: TreeTables, nodes: SplitNodes, leaves: LeafEncoding, model_id: str, origin: str) -> str:
    feature_bits = max(1, int(tables.num_features - 1).bit_length())
    if feature_bits + 3 > 32:
        raise BadInput(f"{tables.num_features} features; the compact layout takes at most 2^29", "reduce features")
    nan_left = bool(nodes.default_left.any())
    word = nodes.feature | (nodes.left_leaf.astype(np.int64) << feature_bits) | (nodes.right_leaf.astype(np.int64) << (feature_bits + 1))
    word |= nodes.default_left.astype(np.int64) << (feature_bits + 2)
    word_type = unsigned_type(int(word.max(initial=0)))
    value_type = "float" if not leaves.integer else unsigned_type(int(leaves.values.max(initial=0)))
    encoding = f"{leaves.kind} leaves" + (", shared" if leaves.slot_row is not None else "") + (
        ", class 1 only" if leaves.complement else "")

    lines = [
        *tree_head(tables, f"{origin}: compact layout (split nodes only, {encoding})"),
        f"#define VALUE_WIDTH {leaves.width}u",
        f"#define FEATURE_MASK 0x{(1 << feature_bits) - 1:X}u",
        f"#define LEFT_LEAF 0x{1 << feature_bits:X}u",
        f"#define RIGHT_LEAF 0x{1 << (feature_bits + 1):X}u",
        f"#define DEFAULT_LEFT 0x{1 << (feature_bits + 2):X}u",
        f"#define LEFT_LEAF_SHIFT {feature_bits}u",
        *sum_declarations(tables, leaves),
        "",
        *api_constants(tables.output_width, model_id),
        "",
        array(word_type, "node_word", int_literals(word), nodes.num_splits),
        array("float", "node_threshold", float_literals(nodes.threshold), nodes.num_splits),
        array(unsigned_type(int(nodes.ref.max(initial=0))), "node_ref", int_literals(nodes.ref), nodes.num_splits),
        array(unsigned_type(int(nodes.roots.max(initial=0))), "tree_root", int_literals(nodes.roots), "NUM_TREES"),
        array(unsigned_type(int(nodes.leaf_base.max(initial=0))), "leaf_base", int_literals(nodes.leaf_base), "NUM_TREES"),
        array(value_type, "leaf_value", (float_literals if value_type == "float" else int_literals)(leaves.values), leaves.values.size),
    ]
    if leaves.slot_row is not None:
        lines.append(array(unsigned_type(len(leaves.values) - 1), "slot_row", int_literals(leaves.slot_row), len(leaves.slot_row)))
    decide = ("    const uint32_t right = (x != x) ? !(word & DEFAULT_LEFT) : !(x < node_threshold[i]);" if nan_left else
              "    const uint32_t right = !(x < node_threshold[i]);  /* NaN goes right at every node */")
    row = "slot_row[slot]" if leaves.slot_row is not None else "slot"
    if tables.leaf_width > 1:
        add = f"        for (uint32_t j = 0; j < VALUE_WIDTH; ++j) sum[j] += leaf_value[{row} * VALUE_WIDTH + j];"
    elif tables.num_outputs > 1:
        add = f"        sum[tree_output[t]] += leaf_value[{row}];"
    else:
        add = f"        sum[0] += leaf_value[{row}];"
    lines += [
        "",
        "/* The leaf slot a row reaches in one tree (the flags and references: trees/split_nodes.py). */",
        "static uint32_t leaf_slot(const float *row, const uint32_t tree) {",
        "    uint32_t i = tree_root[tree];",
        "    for (;;) {",
        "        const uint32_t word = node_word[i];",
        "        const float x = row[word & FEATURE_MASK];",
        "    " + decide,
        "        const uint32_t ref = node_ref[i];",
        "        if (word & (right ? RIGHT_LEAF : LEFT_LEAF)) return leaf_base[tree] + ref + (right & (word >> LEFT_LEAF_SHIFT));",
        "        i += (right && !(word & LEFT_LEAF)) ? ref : 1u;",
        "    }",
        "}",
        "",
        *finish_function(tables, leaves),
        "void edgekit_predict(const float *row, float *out) {",
        f"    sum_t sum[NUM_SUMS] = {{{', '.join(initial_sum(tables, leaves, k) for k in range(num_sums(tables, leaves)))}}};",
        "    for (uint32_t t = 0; t < NUM_TREES; ++t) {",
        "        const uint32_t slot = leaf_slot(row, t);",
        add,
        "    }",
        "    finish(sum, out);",
        "}",
        "",
        *batch_by_rows(),
    ]
    return "\n".join(lines)
