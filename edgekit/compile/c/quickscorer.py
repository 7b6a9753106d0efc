"""The quickscorer layout: the table layout with its AVX-512 batches scored by bitvectors, in the
QuickScorer family (Lucchese et al., SIGIR 2015 and 2016), for ensembles of many small trees.

A tree's leaves are the bits of one word (bit i = the i-th leaf from the left). A node that sends a
row right (x >= t, or x is NaN and its default direction is right) clears its left subtree's
leaves; the exit leaf is the leftmost leaf no node cleared, the word's lowest set bit. The batch
kernel (``bitvector16``) takes 16 rows at a time, feature-major, and every node of a tree in turn:
one compare of the node's feature row against its threshold (16 rows), one masked AND of its mask
into the tree's 16 words, which stay in registers; then each lane's leaf index (63 - lzcnt of the
lowest bit) picks its value from the tree's leaf values held in registers (a permute). No gather:
the table layout's walk gathers each row's value at every level below the root, which is what it
waits on for shallow trees. Words are 32-bit when every tree has at most 32 leaves, else 64-bit (two
registers per tree); trees of more than 64 leaves have no bitvector form.

Everything else is the table layout's (table.py): single rows, blocks of fewer than 16 rows, CPUs
without AVX-512 (the AVX2 and scalar walks), every other triple. Leaves are added tree by tree in
the same order as the walk, so every output is bit-identical to the table layout's.

``quickscorer_choice`` is the cost rule compile applies when no --layout is given
(benchmarks/results/bench_quickscorer.md, benchmarks/trees/bench_quickscorer.py): on x86-64, trees
of at most 32 leaves go to this layout. Measured there, 10 000-row batches, one thread: 32-bit words
(XGBoost 1000x4, 300x5) 2.6x and 2.3x faster than the table layout's AVX-512 walk; 64-bit words
(100x6, and 500x6 on 120 features) 1.06x and 0.79x, so the table layout keeps them. Single rows
are the table layout's walk either way. The published scalar QuickScorer (0.12-0.31x) and the
per-feature V-QuickScorer (0.44-1.95x, below this kernel everywhere) are not shipped; the
benchmark generates them itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import BadInput
from ..trees.tables import LEAF, TreeTables
from .literals import array, float_literals, int_literals, unsigned_type
from .table import table_source

MAX_LEAVES = 64  # one 64-bit word per tree
CHOSEN_MAX_LEAVES = 32  # the cost rule: 32-bit words (one register per tree for 16 rows)
CHOSEN_TRIPLES = ("x86_64-linux-gnu",)  # where the AVX-512 kernel can run


@dataclass(frozen=True)
class BitvectorNodes:
    """Every split node with its tree, its mask (all ones but its left subtree's leaves), and the
    trees' leaves in order (left to right)."""

    tree: np.ndarray  # int64 per split node, trees in order
    feature: np.ndarray  # int64
    threshold: np.ndarray  # float32: the row goes right when x >= threshold
    default_right: np.ndarray  # bool: NaN goes right
    mask: np.ndarray  # uint64
    leaf_node: np.ndarray  # int64 per leaf (trees one after another, leaves left to right): its TreeTables node
    leaf_begin: np.ndarray  # int64 per tree: its first leaf
    word_bits: int  # 32 or 64

    @property
    def num_splits(self) -> int:
        return int(self.tree.shape[0])


def tree_leaf_counts(tables: TreeTables) -> np.ndarray:
    """Leaves per tree."""
    tree_of_node = np.repeat(np.arange(tables.num_trees), np.diff(np.append(tables.roots, tables.num_nodes)))
    return np.bincount(tree_of_node[tables.feature == LEAF], minlength=tables.num_trees)


def quickscorer_refusal(tables: TreeTables) -> BadInput | None:
    """Why the model has no quickscorer form, or None."""
    most = int(tree_leaf_counts(tables).max(initial=0))
    if most > MAX_LEAVES:
        return BadInput(f"a tree has {most} leaves; the quickscorer layout's bitvectors take at most {MAX_LEAVES}",
                        "use --layout table")
    if tables.leaf_width > 1:
        return BadInput("the quickscorer layout adds one value per leaf; this model's leaves are vectors",
                        "use --layout table")
    return None


def quickscorer_choice(tables: TreeTables, triple: str) -> str | None:
    """The cost rule: why compile picks the quickscorer layout over the table layout for this
    model when no --layout is given, or None (then the table layout)."""
    if triple not in CHOSEN_TRIPLES or quickscorer_refusal(tables) is not None:
        return None
    most = int(tree_leaf_counts(tables).max(initial=0))
    if most > CHOSEN_MAX_LEAVES:
        return None
    return (f"every tree has at most {CHOSEN_MAX_LEAVES} leaves ({most}): AVX-512 batches by bitvectors, measured "
            "2.3-2.6x faster than the table walk on such trees (benchmarks/results/bench_quickscorer.md)")


def bitvector_nodes(tables: TreeTables) -> BitvectorNodes:
    refusal = quickscorer_refusal(tables)
    if refusal is not None:
        raise refusal
    word_bits = 32 if int(tree_leaf_counts(tables).max(initial=0)) <= 32 else 64
    full = (1 << word_bits) - 1
    trees, features, thresholds, defaults, masks, leaf_nodes, leaf_begin = [], [], [], [], [], [], []
    for tree, root in enumerate(tables.roots):
        first = len(leaf_nodes)
        leaf_begin.append(first)
        # depth first, left before right: a split's left subtree's leaves are [opened, leaves when it is done)
        stack: list[tuple[int, bool]] = [(int(root), False)]
        opened: dict[int, int] = {}
        while stack:
            node, done = stack.pop()
            if tables.feature[node] == LEAF:
                leaf_nodes.append(node)
            elif not done:
                opened[node] = len(leaf_nodes)
                left = int(tables.child[node])
                stack += [(left + 1, False), (node, True), (left, False)]
            else:
                begin, end = opened[node] - first, len(leaf_nodes) - first
                trees.append(tree)
                features.append(int(tables.feature[node]))
                thresholds.append(tables.threshold[node])
                defaults.append(not tables.default_left[node])
                masks.append(full & ~(((1 << (end - begin)) - 1) << begin))
    return BitvectorNodes(
        tree=np.asarray(trees, dtype=np.int64), feature=np.asarray(features, dtype=np.int64),
        threshold=np.asarray(thresholds, dtype=np.float32), default_right=np.asarray(defaults, dtype=bool),
        mask=np.asarray(masks, dtype=np.uint64), leaf_node=np.asarray(leaf_nodes, dtype=np.int64),
        leaf_begin=np.asarray(leaf_begin, dtype=np.int64), word_bits=word_bits,
    )


def quickscorer_source(tables: TreeTables, model_id: str, origin: str) -> str:
    nodes = bitvector_nodes(tables)
    return table_source(tables, model_id, origin, batch16=(f"QuickScorer bitvector batches, {nodes.word_bits}-bit words",
                                                           bitvector_kernel(tables, nodes)))


def mask_literals(masks: np.ndarray, bits: int) -> str:
    suffix = "ull" if bits == 64 else "u"
    return ",\n    ".join(", ".join(f"0x{int(m):X}{suffix}" for m in masks[i:i + 8]) for i in range(0, len(masks), 8)) or "0"


def padded_leaves(tables: TreeTables, nodes: BitvectorNodes) -> np.ndarray:
    """[trees, 16, 32 or 64] float32: each tree's leaf values left to right, zeros after."""
    counts = np.diff(np.append(nodes.leaf_begin, len(nodes.leaf_node)))
    width = max(16, 1 << int(counts.max(initial=1) - 1).bit_length())
    padded = np.zeros((tables.num_trees, width), dtype=np.float32)
    padded[np.repeat(np.arange(tables.num_trees), counts), np.arange(len(nodes.leaf_node)) - np.repeat(nodes.leaf_begin, counts)] = (
        tables.leaf_values[tables.child[nodes.leaf_node]])
    return padded


def bitvector_kernel(tables: TreeTables, nodes: BitvectorNodes) -> list[str]:
    """``bitvector16(rows, acc)``: 16 rows' sums (acc: 16 * NUM_ACC, row by row), with its arrays,
    for AVX-512 F, CD (lzcnt) and DQ; within the table layout's SIMD guard."""
    bits = nodes.word_bits
    per_tree_output = tables.num_outputs > 1
    target = "sums[tree_output[t]]" if per_tree_output else "sums[0]"
    padded = padded_leaves(tables, nodes)
    if bits == 64:
        ones, mask_of = "_mm512_set1_epi64(-1)", "_mm512_set1_epi64((long long)node_mask[j])"
        words = ["__m512i v0 = ones, v1 = ones;  /* rows 0-7, 8-15 */"]
        ands = ["v0 = _mm512_mask_and_epi64(v0, (__mmask8)right, v0, mask);", "v1 = _mm512_mask_and_epi64(v1, (__mmask8)(right >> 8), v1, mask);"]
        index = [  # the lowest set bit: 63 - lzcnt(w & -w), the lanes narrowed to 32 bits
            "const __m512i l0 = _mm512_lzcnt_epi64(_mm512_and_si512(v0, _mm512_sub_epi64(_mm512_setzero_si512(), v0)));",
            "const __m512i l1 = _mm512_lzcnt_epi64(_mm512_and_si512(v1, _mm512_sub_epi64(_mm512_setzero_si512(), v1)));",
            ("const __m512i leaf = _mm512_sub_epi32(_mm512_set1_epi32(63), _mm512_inserti64x4(_mm512_castsi256_si512("
            "_mm512_cvtepi64_epi32(l0)), _mm512_cvtepi64_epi32(l1), 1));"),
        ]
    else:
        ones, mask_of = "_mm512_set1_epi32(-1)", "_mm512_set1_epi32((int)node_mask[j])"
        words = ["__m512i v0 = ones;"]
        ands = ["v0 = _mm512_mask_and_epi32(v0, right, v0, mask);"]
        index = [("const __m512i leaf = _mm512_sub_epi32(_mm512_set1_epi32(31), "
                 "_mm512_lzcnt_epi32(_mm512_and_si512(v0, _mm512_sub_epi32(_mm512_setzero_si512(), v0))));")]
    values = "tree_leaves + t * TREE_LEAVES"
    pick = {
        16: [f"const __m512 value = _mm512_permutexvar_ps(leaf, _mm512_load_ps({values}));"],
        32: [f"const __m512 value = _mm512_permutex2var_ps(_mm512_load_ps({values}), leaf, _mm512_load_ps({values} + 16));"],
        64: [
            f"const __m512 low = _mm512_permutex2var_ps(_mm512_load_ps({values}), leaf, _mm512_load_ps({values} + 16));",
            f"const __m512 high = _mm512_permutex2var_ps(_mm512_load_ps({values} + 32), leaf, _mm512_load_ps({values} + 48));",
            "const __m512 value = _mm512_mask_blend_ps(_mm512_test_epi32_mask(leaf, _mm512_set1_epi32(32)), low, high);",
        ],
    }[padded.shape[1]]
    target_attr = '__attribute__((target("avx512f,avx512cd,avx512dq")))'
    splits = max(1, nodes.num_splits)
    node_begin = np.concatenate([[0], np.cumsum(np.bincount(nodes.tree, minlength=tables.num_trees))])
    return [
        "/* QuickScorer bitvectors (quickscorer.py): per tree its split nodes (the feature's row in the",
        "   block, pre-multiplied by 16; threshold; mask; NaN goes right) and its leaf values, padded */",
        f"typedef uint{bits}_t word_t;",
        f"#define TREE_LEAVES {padded.shape[1]}u",
        array(unsigned_type(int(nodes.feature.max(initial=0)) * 16), "node_row", int_literals(nodes.feature * 16), splits),
        array("float", "node_at", float_literals(nodes.threshold), splits),
        array("word_t", "node_mask", mask_literals(nodes.mask, bits), splits),
        array("uint16_t", "node_nan_right", int_literals(np.where(nodes.default_right, 0xFFFF, 0)), splits),
        array(unsigned_type(nodes.num_splits), "node_begin", int_literals(node_begin), "NUM_TREES + 1"),
        f"static const float tree_leaves[{padded.size}u] __attribute__((aligned(64))) = {{\n    {float_literals(padded)}\n}};",
        "",
        "/* Every tree for 16 rows (xt: the block feature-major): each node ANDs its mask into the words",
        "   of the lanes it sends right; the lowest bit left is the leaf. has_nan = 0: no lane is NaN. */",
        f"static inline __attribute__((always_inline)) {target_attr} void bitvector_trees(const float *xt, const uint16_t *nan_lanes, __m512 *sums, const int has_nan) {{",
        f"    const __m512i ones = {ones};",
        "    for (uint32_t t = 0; t < NUM_TREES; ++t) {",
        *("        " + line for line in words),
        "        for (uint32_t j = node_begin[t]; j < node_begin[t + 1]; ++j) {",
        "            __mmask16 right = _mm512_cmp_ps_mask(_mm512_load_ps(xt + node_row[j]), _mm512_set1_ps(node_at[j]), _CMP_GE_OQ);",
        "            if (has_nan) right |= nan_lanes[node_row[j] >> 4] & node_nan_right[j];",
        f"            const __m512i mask = {mask_of};",
        *("            " + line for line in ands),
        "        }",
        *("        " + line for line in (*index, *pick)),
        f"        {target} = _mm512_add_ps({target}, value);",
        "    }",
        "}",
        "",
        f"static {target_attr} void bitvector16(const float *rows, acc_t *acc) {{",
        "    float xt[NUM_FEATURES * 16u] __attribute__((aligned(64)));  /* the block, feature-major */",
        "    for (uint32_t k = 0; k < 16u; ++k)",
        "        for (uint32_t f = 0; f < NUM_FEATURES; ++f) xt[f * 16u + k] = rows[k * NUM_FEATURES + f];",
        "    uint16_t nan_lanes[NUM_FEATURES], any = 0;",
        "    for (uint32_t f = 0; f < NUM_FEATURES; ++f) {",
        "        const __m512 x = _mm512_load_ps(xt + f * 16u);",
        "        any |= nan_lanes[f] = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);",
        "    }",
        "    __m512 sums[NUM_ACC];",
        "    for (uint32_t c = 0; c < NUM_ACC; ++c) sums[c] = _mm512_set1_ps(base_score[c]);",
        "    if (any) bitvector_trees(xt, nan_lanes, sums, 1); else bitvector_trees(xt, nan_lanes, sums, 0);",
        "    acc_t by_output[NUM_ACC][16];",
        "    for (uint32_t c = 0; c < NUM_ACC; ++c) _mm512_storeu_ps(by_output[c], sums[c]);",
        "    for (uint32_t k = 0; k < 16u; ++k)",
        "        for (uint32_t c = 0; c < NUM_ACC; ++c) acc[k * NUM_ACC + c] = by_output[c][k];",
        "}",
        "",
    ]
