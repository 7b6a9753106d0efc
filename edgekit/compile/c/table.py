"""edgekit's table layout: a tree ensemble as constant arrays (they live in flash) and one small
loop that walks them. It compiles in seconds however many trees there are, unlike nested if-else.

Per node: ``node_feature`` (uint16: feature index, bit 15 = NaN goes left, 0x7FFF = leaf),
``node_threshold`` and ``node_child`` (left child, right = left + 1; for a leaf, the offset of its
value(s) in ``leaf_value``). Thresholds are float32 (go left when x < t), or with binned thresholds
uint16/uint8 bin indices (go left when bin(x) <= t; see tree_quantize.py). Leaves are float32, or
int16/int8 summed in an int32 accumulator and scaled once.

Rows are walked a block at a time (EDGEKIT_BLOCK, default 8; the toolchain table sets it per
triple): the rows' walks are independent, so an out-of-order CPU overlaps their loads and compares.
Microcontroller builds set it to 1, which also keeps the stack small. On x86-64 a batch (and a
node-walk tree's single row) takes the SIMD kernels of tree_simd/ instead, where the CPU has them;
on aarch64 a batch takes the NEON kernel (tree_simd/neon.py) where its cost rule says it gains.
"""

from __future__ import annotations

import numpy as np

from ...errors import BadInput
from ..trees.padding import PaddedTrees, complete_top, pad_trees, tree_depths
from ..trees.quantize import BinnedThresholds, QuantizedLeaves
from ..trees.tables import LEAF, TreeTables
from .literals import api_constants, array, float_literals, int_literals, unsigned_type
from .tree_common import output_transform, tree_head
from .tree_simd import PAD, TOP_LEVELS, neon_arrays, neon_gain, neon_kernel, neon_leaf_table, simd_kernels

LEAF_MARK = 0x7FFF
DEFAULT_LEFT_BIT = 0x8000
INT_TYPES = {"int16": "int16_t", "int8": "int8_t", "uint16": "uint16_t", "uint8": "uint8_t"}


def table_source(
    tables: TreeTables,
    model_id: str,
    origin: str,
    binned: BinnedThresholds | None = None,
    leaves: QuantizedLeaves | None = None,
    batch16: tuple[str, list[str]] | None = None,
) -> str:
    """``batch16``: (what it is, C lines defining ``bitvector16(rows, acc)``): a kernel that takes
    the AVX-512 batches of 16 rows instead of the walk's (the quickscorer layout, quickscorer.py);
    it needs AVX-512 F, CD and DQ, and float tables. Float tables also carry the aarch64 NEON kernel,
    which an aarch64 build's batches take where the cost rule neon_gain says so."""
    if tables.num_features >= LEAF_MARK:
        raise BadInput(f"{tables.num_features} features; the table layout takes at most {LEAF_MARK - 1}", "reduce features")
    leaf = tables.feature == LEAF
    feature = np.where(leaf, LEAF_MARK, tables.feature).astype(np.int64)
    feature |= np.where(tables.default_left & ~leaf, DEFAULT_LEFT_BIT, 0)
    threshold = np.where(leaf, 0.0, tables.threshold) if binned is None else np.where(leaf, 0, binned.node_bin)
    leaf_values = tables.leaf_values if leaves is None else leaves.values
    padded = pad_trees(tables)
    # Float tables also get the x86-64 SIMD batch kernels (tree_simd/): complete trees as they are;
    # node-walk trees through their top levels in complete form (top_* arrays), then a gathered walk.
    # The kernels read a little past each array: those carry SIMD_PAD spare entries where they are built.
    depth = padded.depth if padded is not None else int(tree_depths(tables).max(initial=0))
    simd = depth > 0 and binned is None and leaves is None
    top = complete_top(tables, min(TOP_LEVELS, depth)) if simd and padded is None else None
    top_lines = _top_arrays(tables, top, feature, threshold) if top is not None else []
    if padded is not None:  # the complete-tree form: placeholders are feature 0, threshold 0
        real = padded.node >= 0
        feature = np.where(real, feature[np.maximum(padded.node, 0)], 0)
        threshold = np.where(real, threshold[np.maximum(padded.node, 0)], 0)
        offsets = tables.child[padded.leaf][:, None] + np.arange(tables.leaf_width)
        leaf_values = leaf_values[offsets.reshape(-1)]
    per_tree_output = tables.leaf_width == 1 and tables.num_outputs > 1
    spare = " + SIMD_PAD" if simd else ""
    walk = f"complete trees of depth {padded.depth}" if padded is not None else "node walk"
    encoding = ("float32 thresholds" if binned is None else f"{binned.dtype} bin thresholds") + ", " + (
        "float32 leaves" if leaves is None else f"{leaves.dtype} leaves")
    batch16 = batch16 if simd else None
    if batch16 is not None:
        encoding += f", {batch16[0]}"

    lines = [
        *tree_head(tables, f"{origin}: table layout ({walk}), {encoding}"),
        f"#define LEAF_WIDTH {tables.leaf_width}u",
        f"#define LEAF_MARK 0x{LEAF_MARK:X}u",
        "#ifndef EDGEKIT_BLOCK",
        "#define EDGEKIT_BLOCK 8u",
        "#endif",
        "#define BLOCK EDGEKIT_BLOCK",
        f"typedef {'float' if leaves is None else 'int32_t'} acc_t;",
        "",
        *api_constants(tables.output_width, model_id),
        "",
        *(["#if defined(EDGEKIT_TREE_SIMD)", f"#define SIMD_PAD {PAD}u", "#else", "#define SIMD_PAD 0u", "#endif"] if simd else []),
        array("uint16_t", "node_feature", int_literals(feature), f"{len(feature)}u{spare}"),
    ]
    if padded is not None:
        lines += [f"#define DEPTH {padded.depth}u", f"#define INTERNAL {padded.internal}u", f"#define LEAVES {padded.internal + 1}u"]
    if binned is None:
        lines.append(array("float", "node_threshold", float_literals(threshold), f"{len(threshold)}u{spare}"))
    else:
        lines += [
            f"typedef {INT_TYPES[binned.dtype]} bin_t;",
            f"#define MISSING {binned.missing}u",
            array("bin_t", "node_threshold", int_literals(threshold), len(threshold)),
            array("float", "bin_edge", float_literals(binned.edges), max(len(binned.edges), 1)),
            array(unsigned_type(len(binned.edges)), "edge_begin", int_literals(binned.edge_begin), "NUM_FEATURES + 1"),
        ]
    if padded is None:
        lines += [
            array(unsigned_type(int(tables.child.max(initial=0)) + 1), "node_child", int_literals(tables.child), f"{tables.num_nodes}u{spare}"),
            array(unsigned_type(int(tables.roots.max(initial=0))), "tree_root", int_literals(tables.roots), "NUM_TREES"),
            *top_lines,
        ]
    if leaves is None:
        lines.append(array("float", "leaf_value", float_literals(leaf_values), f"{leaf_values.size}u{spare}"))
    else:
        lines += [
            array(INT_TYPES[leaves.dtype], "leaf_value", int_literals(leaf_values), f"{leaf_values.size}u{spare}"),
            f"#define LEAF_SCALE {float_literals(np.array([leaves.scale]))}",
        ]
    lines.append(array("float", "base_score", float_literals(tables.base_scores), "NUM_ACC"))
    if per_tree_output:
        lines.append(array(unsigned_type(tables.num_outputs), "tree_output", int_literals(tables.tree_output), "NUM_TREES"))
    if tables.average:
        lines.append(array("float", "tree_share", float_literals(1.0 / tables.trees_per_output()), "NUM_ACC"))
    lines += ["", *(_bin_function() if binned is not None else []), *_accumulate(tables, binned, leaves, per_tree_output, padded is not None)]
    if simd:
        kernels = simd_kernels(tables.leaf_width, per_tree_output, top is not None, block16=batch16 is None)
        if batch16 is not None:  # within the kernels' guard: before its #endif
            kernels[-2:-2] = batch16[1]
        lines += kernels
        # aarch64: the NEON kernel (tree_simd/neon.py) and its own tables
        walked = top.depth if top is not None else depth
        below = depth > walked
        if top is not None:
            words = np.where(top.node >= 0, feature[np.maximum(top.node, 0)], 0).reshape(tables.num_trees, top.internal)
        else:
            words = feature.reshape(tables.num_trees, padded.internal)
        slot_leaves = None
        if neon_leaf_table(tables.leaf_width, top is not None, walked, below) == "neon_leaf":
            slot_leaves = leaf_values[tables.child[top.leaf]].reshape(tables.num_trees, -1)
        lines += neon_arrays(words, tables.num_features, slot_leaves)
        lines += neon_kernel(tables.leaf_width, per_tree_output, top is not None, walked, below, 4 if neon_gain(tables).chosen else 0)
    lines += _finish(tables, leaves)
    lines += _entry_points(simd, top is not None, batch16 is not None, neon=simd and depth > 0)
    return "\n".join(lines)


def _top_arrays(tables: TreeTables, top: PaddedTrees, feature: np.ndarray, threshold: np.ndarray) -> list[str]:
    """The top levels of node-walk trees in complete form, for the SIMD kernels: per tree its
    top nodes (placeholders below an early leaf are feature 0, threshold 0) and, per slot below
    them, the node the walk goes on from."""
    real = top.node >= 0
    child_bytes = {"uint8_t": 1, "uint16_t": 2, "uint32_t": 4}[unsigned_type(int(tables.child.max(initial=0)) + 1)]  # as node_child's type
    return [
        "#if defined(EDGEKIT_TREE_SIMD)",
        f"#define TOP_DEPTH {top.depth}u",
        f"#define TOP_INTERNAL {top.internal}u",
        f"#define TOP_SLOTS {top.internal + 1}u",
        f"#define CHILD_BYTES {child_bytes}",
        f"#define CHILD_MASK 0x{(1 << 8 * child_bytes) - 1:X}u",
        array("uint16_t", "top_feature", int_literals(np.where(real, feature[np.maximum(top.node, 0)], 0)), f"{top.node.size}u + SIMD_PAD"),
        array("float", "top_threshold", float_literals(np.where(real, threshold[np.maximum(top.node, 0)], 0)), f"{top.node.size}u + SIMD_PAD"),
        array("uint32_t", "top_slot", int_literals(top.leaf), top.leaf.size),
        "#endif",
    ]


def _bin_function() -> list[str]:
    return [
        "/* bin(x) = how many of feature f's edges are <= x (decisions on bins equal those on x);",
        "   a branch-free binary search, since which half x falls in is unpredictable. */",
        "static bin_t bin_of(float x, uint32_t f) {",
        "    if (x != x) return (bin_t)MISSING;",
        "    const float *edge = bin_edge + edge_begin[f], *base = edge;",
        "    uint32_t n = (uint32_t)(edge_begin[f + 1] - edge_begin[f]);",
        "    if (n == 0) return 0;",
        "    while (n > 1) {",
        "        const uint32_t half = n >> 1;",
        "        base = (base[half] <= x) ? base + half : base;",
        "        n -= half;",
        "    }",
        "    return (bin_t)((base - edge) + (*base <= x));",
        "}",
        "",
    ]


def _accumulate(
    tables: TreeTables, binned: BinnedThresholds | None, leaves: QuantizedLeaves | None, per_tree_output: bool, padded: bool
) -> list[str]:
    """One walk() over `lanes` independent (row, tree) walks, walked in lock step so the CPU
    overlaps them: a batch walks BLOCK rows through one tree, a single row walks BLOCK trees.
    Each caller instantiates it with constants (strides, lanes, has_nan = 0 promising no missing
    value), so the compiler unrolls it and drops the default-direction test where it can."""
    inputs = "const float *rows" if binned is None else "const bin_t *bins"
    if binned is None:
        decide = [
            "            const float x = rows[k * row_stride + feature];",
            "            /* NaN: !(x < t) holds, so bit 15 (NaN goes left) decides; written without a branch, as NaNs come unpredictably */",
            "            const uint32_t right = !has_nan ? (uint32_t)(x >= node_threshold[at])",
            "                : (uint32_t)!(x < node_threshold[at]) & ~((uint32_t)(x != x) & (uint32_t)(word >> 15));",
        ]
    else:
        decide = [
            "            const bin_t v = bins[k * row_stride + feature];",
            "            const uint32_t right = (has_nan && v == MISSING) ? !(word >> 15) : (v > node_threshold[at]);",
        ]
    lines = [
        "#if defined(__GNUC__)",
        "#define ALWAYS_INLINE inline __attribute__((always_inline))",
        '#define UNROLL _Pragma("GCC unroll 16")',
        "#else",
        "#define ALWAYS_INLINE inline",
        "#define UNROLL",
        "#endif",
        "",
        "/* Lane k walks tree (tree + k * tree_stride) for row k * row_stride, adding into acc + k * acc_stride. */",
        f"static ALWAYS_INLINE void walk({inputs}, const uint32_t row_stride, const uint32_t tree, const uint32_t tree_stride,",
        "                               const uint32_t lanes, acc_t *acc, const uint32_t acc_stride, const uint32_t has_nan) {",
        "    uint32_t node[BLOCK];",
    ]
    if padded:
        lines += [
            "    UNROLL for (uint32_t k = 0; k < lanes; ++k) node[k] = 0;",
            "    UNROLL for (uint32_t level = 0; level < DEPTH; ++level) {",
            "        UNROLL for (uint32_t k = 0; k < lanes; ++k) {",
            "            const uint32_t at = (tree + k * tree_stride) * INTERNAL + node[k];",
            "            const uint16_t word = node_feature[at];",
            "            const uint16_t feature = word & 0x7FFFu;",
            *decide,
            "            node[k] = 2u * node[k] + 1u + right;",
            "        }",
            "    }",
            "    for (uint32_t k = 0; k < lanes; ++k) {",
            "        const uint32_t value = ((tree + k * tree_stride) * LEAVES + node[k] - INTERNAL) * LEAF_WIDTH;",
        ]
    else:
        lines += [
            "    UNROLL for (uint32_t k = 0; k < lanes; ++k) node[k] = tree_root[tree + k * tree_stride];",
            "    for (uint32_t moving = lanes; moving;) {",
            "        moving = 0;",
            "        UNROLL for (uint32_t k = 0; k < lanes; ++k) {",
            "            const uint32_t at = node[k];",
            "            const uint16_t word = node_feature[at];",
            "            const uint16_t feature = word & 0x7FFFu;",
            "            if (feature == LEAF_MARK) continue;",
            *decide,
            "            node[k] = (uint32_t)node_child[at] + right;",
            "            moving = 1;",
            "        }",
            "    }",
            "    for (uint32_t k = 0; k < lanes; ++k) {",
            "        const uint32_t value = node_child[node[k]];",
        ]
    if tables.leaf_width > 1:
        lines.append("        for (uint32_t j = 0; j < LEAF_WIDTH; ++j) acc[k * acc_stride + j] += leaf_value[value + j];")
    elif per_tree_output:
        lines.append("        acc[k * acc_stride + tree_output[tree + k * tree_stride]] += leaf_value[value];")
    else:
        lines.append("        acc[k * acc_stride] += leaf_value[value];")
    lines += ["    }", "}", ""]

    source = "rows" if binned is None else "bins"
    prepare = [
        "    uint32_t has_nan = 0;",
        "    for (uint32_t i = 0; i < count * NUM_FEATURES; ++i) has_nan |= rows[i] != rows[i];",
        "    for (uint32_t i = 0; i < count * NUM_ACC; ++i) acc[i] = " + ("0;" if leaves is not None else "base_score[i % NUM_ACC];"),
    ]
    if binned is not None:
        prepare += [
            "    bin_t bins[BLOCK * NUM_FEATURES];",
            "    for (uint32_t b = 0; b < count; ++b)",
            "        for (uint32_t f = 0; f < NUM_FEATURES; ++f) bins[b * NUM_FEATURES + f] = bin_of(rows[b * NUM_FEATURES + f], f);",
        ]
    return [
        *lines,
        "/* Up to BLOCK rows: each tree walked by all rows at once. acc: count * NUM_ACC sums. */",
        "static void accumulate_rows(const float *rows, const uint32_t count, acc_t *acc) {",
        *prepare,
        "    if (count == BLOCK && !has_nan)",
        f"        for (uint32_t t = 0; t < NUM_TREES; ++t) walk({source}, NUM_FEATURES, t, 0u, BLOCK, acc, NUM_ACC, 0u);",
        "    else",
        f"        for (uint32_t t = 0; t < NUM_TREES; ++t) walk({source}, NUM_FEATURES, t, 0u, count, acc, NUM_ACC, 1u);",
        "}",
        "",
        "/* One row: BLOCK trees walked at once. */",
        "static void accumulate_row(const float *rows, acc_t *acc) {",
        "    const uint32_t count = 1u;",
        *prepare,
        "    const uint32_t whole = NUM_TREES - NUM_TREES % BLOCK, tail = NUM_TREES % BLOCK;",
        "    if (!has_nan) {",
        f"        for (uint32_t t = 0; t < whole; t += BLOCK) walk({source}, 0u, t, 1u, BLOCK, acc, 0u, 0u);",
        f"        if (tail) walk({source}, 0u, whole, 1u, tail, acc, 0u, 0u);",
        "    } else {",
        f"        for (uint32_t t = 0; t < whole; t += BLOCK) walk({source}, 0u, t, 1u, BLOCK, acc, 0u, 1u);",
        f"        if (tail) walk({source}, 0u, whole, 1u, tail, acc, 0u, 1u);",
        "    }",
        "}",
        "",
    ]


def _finish(tables: TreeTables, leaves: QuantizedLeaves | None) -> list[str]:
    lines = ["static void finish(const acc_t *sum, float *out) {", "    float acc[NUM_ACC];"]
    if leaves is None:
        lines.append("    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] = sum[k];")
    else:
        lines.append("    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] = base_score[k] + LEAF_SCALE * (float)sum[k];")
    if tables.average:
        lines.append("    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] *= tree_share[k];")
    return [*lines, *output_transform(tables), "}", ""]


def _entry_points(simd: bool, row_kernel: bool, bitvector: bool = False, neon: bool = False) -> list[str]:
    def lanes_on(avx512: str) -> list[str]:
        return [
            "#if defined(EDGEKIT_TREE_LANES)  /* tests pin one path */",
            "    const uint32_t lanes = EDGEKIT_TREE_LANES;",
            "#else",
            f'    const uint32_t lanes = {avx512} ? 16u : __builtin_cpu_supports("avx2") ? 8u : 0u;',
            "#endif",
        ]

    lanes = lanes_on('__builtin_cpu_supports("avx512f")')
    block16 = "trees16"
    if bitvector:  # the bitvector kernel's lzcnt is AVX-512 CD, its 64-bit lanes narrowed with DQ
        block16 = "bitvector16"
        batch_lanes = lanes_on('(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && '
                               '__builtin_cpu_supports("avx512dq"))')
    else:
        batch_lanes = lanes
    single_row = [
        "#if defined(TREE_SIMD)",
        "    /* node-walk trees: 16 trees per instruction with AVX-512 */",
        *lanes,
        "    if (lanes == 16u) tree_row16(row, acc); else",
        "#endif",
    ] if row_kernel else []
    vector_blocks = [
        "#if defined(TREE_SIMD)",
        "    /* whole blocks of 16 (AVX-512) or 8 (AVX2) rows in SIMD lanes; the rest below */",
        *batch_lanes,
        "    acc_t wide[16 * NUM_ACC];",
        "    for (; lanes && i + lanes <= n; i += lanes) {",
        f"        if (lanes == 16u) {block16}(rows + i * NUM_FEATURES, wide); else trees8(rows + i * NUM_FEATURES, wide);",
        "        for (uint32_t b = 0; b < lanes; ++b) finish(wide + b * NUM_ACC, out + (i + b) * edgekit_num_outputs);",
        "    }",
        "#endif",
    ] if simd else []
    neon_blocks = [
        "#if defined(TREE_NEON)",
        "    /* aarch64: whole blocks of 16 rows, four to a NEON vector, where the cost rule (or EDGEKIT_TREE_LANES) says so */",
        "#if defined(EDGEKIT_TREE_LANES)",
        "    const uint32_t neon = EDGEKIT_TREE_LANES == 4u;",
        "#else",
        "    const uint32_t neon = NEON_LANES == 4u;",
        "#endif",
        "    acc_t block[16 * NUM_ACC];",
        "    for (; neon && i + 16u <= n; i += 16u) {",
        "        neon16(rows + i * NUM_FEATURES, block);",
        "        for (uint32_t b = 0; b < 16u; ++b) finish(block + b * NUM_ACC, out + (i + b) * edgekit_num_outputs);",
        "    }",
        "#endif",
    ] if neon else []
    return [
        "void edgekit_predict(const float *row, float *out) {",
        "    acc_t acc[NUM_ACC];",
        *single_row,
        "    accumulate_row(row, acc);",
        "    finish(acc, out);",
        "}",
        "",
        "void edgekit_predict_batch(const float *rows, size_t n, float *out) {",
        "    size_t i = 0;",
        *vector_blocks,
        *neon_blocks,
        "    acc_t acc[BLOCK * NUM_ACC];",
        "    for (; i < n; i += BLOCK) {",
        "        const uint32_t count = (uint32_t)(n - i < BLOCK ? n - i : BLOCK);",
        "        accumulate_rows(rows + i * NUM_FEATURES, count, acc);",
        "        for (uint32_t b = 0; b < count; ++b) finish(acc + b * NUM_ACC, out + (i + b) * edgekit_num_outputs);",
        "    }",
        "}",
        "",
    ]
