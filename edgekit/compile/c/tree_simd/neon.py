"""The aarch64 NEON batch kernel for the table layout: 16 rows per block, four rows to a 128-bit
vector (four vectors per step), the block transposed feature-major.

A scalar walk costs about ten instructions per node visit (two table loads, the row's value, the
compare, the child index). Here one tree is walked by 16 rows at once, its top levels from
registers:

- levels 0-2 (7 nodes): every node is compared for all 16 rows (its feature's row of the block is
  two ``ldp`` of four vectors: no gather), and each lane's answer is selected with BSL by the
  answers above it;
- levels 3-5 (8, 16, 32 nodes): the level's thresholds and value offsets (``neon_offset``: feature *
  16, precomputed per node) are loaded into registers (``ld1`` of up to four vectors) and each lane
  looks its node's up with TBL on byte indices; only the row's value is gathered, by lane loads;
- the leaves, where a tree has at most 64 below those levels and one value each: TBL on its leaf
  values in registers; else, and for levels below the sixth, lane by lane as the scalar walk.

Trees too sparse to pad are walked through their top levels in complete form (the ``top_*`` arrays
the x86 kernels use) and go on from the node each lane reached with the scalar node walk.

Missing values: the block is kept twice, as it is and with NaN replaced by +inf. A node whose NaN
goes right reads the copy (x >= t holds for +inf), one whose NaN goes left the block as it is (x >=
t fails for NaN): the offsets say which, so the vector levels have no NaN test at all and a block
with missing values costs what one without does. The levels walked lane by lane have an instance
with the NaN test and one without, picked per block. Leaves are added tree by tree in the scalar
walk's order, so every row's sum is bit-identical to the single-row call's (aarch64 NEON keeps
denormals unless FPCR.FZ is set, which Linux leaves clear). Single rows keep the scalar walk.

``neon_gain``: the cost rule that decides whether an aarch64 build's batches take this kernel by
default (fitted to qemu-aarch64 instruction counts, benchmarks/results/bench_tree_batch_neon_shapes.md).
Not for armhf: ARMv7 NEON flushes denormals to zero (not exact), Debian's armhf baseline lacks NEON,
and TBL on four registers is aarch64 only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...trees.tables import LEAF, TreeTables
from ..literals import array, float_literals, int_literals

NEON_LEVELS = 6  # levels walked from registers (0-2 by BSL, 3-5 by TBL): the x86 kernels' TOP_LEVELS
BSL_LEVELS = 3


def neon_arrays(words: np.ndarray, num_features: int, slot_leaves: np.ndarray | None) -> list[str]:
    """The kernel's own tables (aarch64 builds only): per tree, the register levels' nodes' value
    offsets in the block (feature * 16, in the copy for the node's NaN direction: a TBL lookup gives
    a lane its value's offset at once), and for node-walk trees whose top levels hold them whole, the
    leaf value under each bottom slot. ``words``: [trees, internal] the walked levels' feature words
    (complete form; bit 15: NaN goes left)."""
    nodes = min(words.shape[1], (1 << NEON_LEVELS) - 1)
    words = words[:, :nodes].astype(np.int64)
    offsets = (words & 0x7FFF) * 16 + np.where(words & 0x8000, 0, 16 * num_features)
    lines = [
        "#if defined(EDGEKIT_TREE_SIMD) && defined(__AARCH64EL__) && defined(__ARM_NEON)",
        f"#define NEON_NODES {nodes}u",
        array("uint32_t", "neon_offset", int_literals(offsets.reshape(-1)), offsets.size),
    ]
    if slot_leaves is not None:
        lines.append(array("float", "neon_leaf", float_literals(slot_leaves.reshape(-1)), f"{slot_leaves.size}u + SIMD_PAD"))
    return [*lines, "#endif"]


def neon_kernel(leaf_width: int, per_tree_output: bool, top: bool, depth: int, below: bool, lanes: int) -> list[str]:
    """``neon16(rows, acc)``: 16 rows' sums (acc: 16 * NUM_ACC, row by row), for float32 tables.
    ``top``: node-walk trees, walked through their ``top_*`` arrays (``depth`` = TOP_DEPTH levels), then,
    if ``below`` (some tree is deeper), on with the scalar node walk. Else complete trees of ``depth``
    levels. ``lanes``: 4 if batches take the kernel by default (the cost rule), else 0;
    EDGEKIT_TREE_LANES pins it either way. The tables of ``neon_arrays`` come before it."""
    if depth < 1:
        return []
    feature, threshold, internal = ("top_feature", "top_threshold", "TOP_INTERNAL") if top else ("node_feature", "node_threshold", "INTERNAL")
    target = "sums[tree_output[tree]]" if per_tree_output else "sums[c]" if leaf_width > 1 else "sums[0]"
    leaf_table = neon_leaf_table(leaf_width, top, depth, below)
    if leaf_table is not None:
        leaves = _leaves_by_table(leaf_table, "LEAVES" if not top else "TOP_SLOTS", depth, target)
    else:
        leaves = [
            "    uint32_t slot[16];",
            "    for (uint32_t v = 0; v < 4u; ++v) vst1q_u32(slot + 4u * v, vshrq_n_u32(vshlq_n_u32(place[v], 24), 26));",
            *(_scalar_levels(NEON_LEVELS, depth) if not top else []),
            *(_leaves_complete() if not top else _leaves_node_walk(below)),
            "    for (uint32_t c = 0; c < LEAF_WIDTH; ++c) {",
            "        float value[16];",
            "        for (uint32_t k = 0; k < 16u; ++k) value[k] = leaf_value[offset[k] + c];",
            f"        for (uint32_t v = 0; v < 4u; ++v) {target}[v] = vaddq_f32({target}[v], vld1q_f32(value + 4u * v));",
            "    }",
        ]
    return [
        "#if defined(EDGEKIT_TREE_SIMD) && defined(__AARCH64EL__) && defined(__ARM_NEON)",
        "#define TREE_NEON 1",
        f"#define NEON_LANES {lanes}u  /* the cost rule's choice (neon_gain); EDGEKIT_TREE_LANES pins it */",
        "#include <arm_neon.h>",
        "",
        "/* four lanes' values, each from its own offset */",
        "static ALWAYS_INLINE float32x4_t neon_gather(const float *base, const uint32x4_t at) {",
        "    /* halves: a scalar load fills lane 0 (ldr s), a lane load lane 1; 11 instructions */",
        "    float32x2_t low = vset_lane_f32(base[vgetq_lane_u32(at, 0)], vdup_n_f32(0.0f), 0);",
        "    float32x2_t high = vset_lane_f32(base[vgetq_lane_u32(at, 2)], vdup_n_f32(0.0f), 0);",
        "    low = vld1_lane_f32(base + vgetq_lane_u32(at, 1), low, 1);",
        "    high = vld1_lane_f32(base + vgetq_lane_u32(at, 3), high, 1);",
        "    return vcombine_f32(low, high);",
        "}",
        "",
        "/* One tree for the 16 rows of xt (feature-major: feature f of row k at f * 16 + k; its copy with",
        "   NaN as +inf at (NUM_FEATURES + f) * 16 + k). has_nan = 0: no value is NaN (the scalar levels' test). */",
        "static ALWAYS_INLINE void neon_tree(const float *xt, const uint32_t tree, float32x4_t (*sums)[4], const int has_nan) {",
        f"    const uint16_t *feature = {feature} + tree * {internal};",
        f"    const float *threshold = {threshold} + tree * {internal};",
        "    const uint32_t *offset_of = neon_offset + tree * NEON_NODES;",
        "    (void)feature;",
        "    (void)has_nan;  /* both for the levels walked lane by lane, if any */",
        "    /* each lane's node on the current level (counted from the level's first) times 4, in every byte:",
        "       the byte index of its 4-byte entries in the level's tables held in registers */",
        "    uint32x4_t place[4];",
        *_bsl_levels(min(depth, BSL_LEVELS)),
        *_tbl_levels(BSL_LEVELS, min(depth, NEON_LEVELS)),
        *leaves,
        "}",
        "",
        "static void neon16(const float *rows, acc_t *acc) {",
        "    /* the block feature-major, then a copy with NaN as +inf: a node whose NaN goes right reads the copy",
        "       (x >= t holds for +inf), one whose NaN goes left the block (x >= t fails for NaN); so the vector",
        "       levels need no NaN test, and their answers are the scalar walk's */",
        "    float xt[2u * NUM_FEATURES * 16u] __attribute__((aligned(16)));",
        *_transpose(),
        "    uint32x4_t seen = vdupq_n_u32(~0u);  /* all ones while no value is NaN */",
        "    for (uint32_t i = 0; i < 16u * NUM_FEATURES; i += 4u) {",
        "        const float32x4_t x = vld1q_f32(xt + i);",
        "        const uint32x4_t number = vceqq_f32(x, x);",
        "        seen = vandq_u32(seen, number);",
        "        vst1q_f32(xt + 16u * NUM_FEATURES + i, vbslq_f32(number, x, vdupq_n_f32(INFINITY)));",
        "    }",
        "    float32x4_t sums[NUM_ACC][4];",
        "    for (uint32_t c = 0; c < NUM_ACC; ++c)",
        "        for (uint32_t v = 0; v < 4u; ++v) sums[c][v] = vdupq_n_f32(base_score[c]);",
        "    if (vminvq_u32(seen)) {",
        "        for (uint32_t tree = 0; tree < NUM_TREES; ++tree) neon_tree(xt, tree, sums, 0);",
        "    } else {",
        "        for (uint32_t tree = 0; tree < NUM_TREES; ++tree) neon_tree(xt, tree, sums, 1);",
        "    }",
        "    for (uint32_t c = 0; c < NUM_ACC; ++c) {",
        "        float out[16];",
        "        for (uint32_t v = 0; v < 4u; ++v) vst1q_f32(out + 4u * v, sums[c][v]);",
        "        for (uint32_t k = 0; k < 16u; ++k) acc[k * NUM_ACC + c] = out[k];",
        "    }",
        "}",
        "#endif",
        "",
    ]


def neon_leaf_table(leaf_width: int, top: bool, depth: int, below: bool) -> str | None:
    """The array each lane's leaf value is looked up in by TBL (one value a leaf, at most 64 leaves
    a tree below the register levels), or None: lane by lane."""
    if leaf_width != 1 or depth > NEON_LEVELS or (top and below):
        return None
    return "neon_leaf" if top else "leaf_value"


def _compare(node: int, name: str) -> list[str]:
    """Node ``node`` (level order) compared for all 16 rows: its feature's row of the block, four vectors."""
    return [
        "    {",
        f"        const float32x4_t t = vdupq_n_f32(threshold[{node}]);",
        f"        const float *x = xt + offset_of[{node}];",
        *(f"        {name}[{v}] = vcgeq_f32(vld1q_f32(x + {4 * v}), t);" for v in range(4)),
        "    }",
    ]


def _bsl_levels(levels: int) -> list[str]:
    """Levels 0 .. levels-1: every node compared, each lane's answer picked by the answers above it
    (BSL); ``local`` from the answers' sign bits (vsri)."""
    lines = ["    uint32x4_t r0[4];", *_compare(0, "r0")]
    if levels >= 2:
        lines += ["    uint32x4_t r1[4], c1[4], c2[4];", *_compare(1, "c1"), *_compare(2, "c2"),
                  "    for (uint32_t v = 0; v < 4u; ++v) r1[v] = vbslq_u32(r0[v], c2[v], c1[v]);"]
    if levels >= 3:
        lines += ["    uint32x4_t r2[4], c3[4], c4[4], c5[4], c6[4];",
                  *_compare(3, "c3"), *_compare(4, "c4"),
                  "    for (uint32_t v = 0; v < 4u; ++v) c3[v] = vbslq_u32(r1[v], c4[v], c3[v]);",
                  *_compare(5, "c5"), *_compare(6, "c6"),
                  "    for (uint32_t v = 0; v < 4u; ++v) r2[v] = vbslq_u32(r0[v], vbslq_u32(r1[v], c6[v], c5[v]), c3[v]);"]
    bits = {1: "vshrq_n_u32(r0[v], 31)",
            2: "vshrq_n_u32(vsriq_n_u32(r0[v], r1[v], 1), 30)",
            3: "vshrq_n_u32(vsriq_n_u32(vsriq_n_u32(r0[v], r1[v], 1), r2[v], 2), 29)"}[levels]
    return [*lines, f"    for (uint32_t v = 0; v < 4u; ++v) place[v] = vmulq_n_u32({bits}, 0x04040404u);  /* the answers' bits, the root's highest */"]


def _lookup4(name: str, regs: int, index: str) -> tuple[list[str], str]:
    """Loading ``regs`` registers of 4-byte entries from ``name``8 and the TBL expression that looks
    up ``index`` (byte indices) in them: up to four registers, one TBL; more, TBX per group of four."""
    if regs <= 4:
        kind = "uint8x16_t" if regs == 1 else f"uint8x16x{regs}_t"
        load = "vld1q_u8" if regs == 1 else f"vld1q_u8_x{regs}"
        return [f"        const {kind} {name} = {load}({name}8);"], f"vqtbl{regs}q_u8({name}, {index})"
    groups = regs // 4
    loads = [f"        const uint8x16x4_t {name}{g} = vld1q_u8_x4({name}8 + {64 * g});" for g in range(groups)]
    expression = f"vqtbl4q_u8({name}0, {index})"
    for g in range(1, groups):
        expression = f"vqtbx4q_u8({expression}, {name}{g}, vsubq_u8({index}, vdupq_n_u8({64 * g})))"
    return loads, expression


def _tbl_levels(first: int, end: int) -> list[str]:
    """Levels first .. end-1 (8, 16, 32 nodes): the level's value offsets and thresholds in
    registers, each lane's looked up by TBL on byte indices; the row's value gathered."""
    lines = []
    for level in range(first, end):
        nodes, base = 1 << level, (1 << level) - 1
        regs = nodes * 4 // 16  # 2/4/8 registers of 4-byte entries
        offset_load, offset_lookup = _lookup4("offsets", regs, "ti")
        threshold_load, threshold_lookup = _lookup4("ths", regs, "ti")
        lines += [
            f"    {{  /* level {level}: {nodes} nodes */",
            f"        const uint8_t *ths8 = (const uint8_t *)(threshold + {base});",
            f"        const uint8_t *offsets8 = (const uint8_t *)(offset_of + {base});",
            *offset_load,
            *threshold_load,
            "        for (uint32_t v = 0; v < 4u; ++v) {",
            "            /* byte indices of a lane's 4-byte entries */",
            "            const uint8x16_t ti = vreinterpretq_u8_u32(vorrq_u32(place[v], vdupq_n_u32(0x03020100u)));",
            f"            const float32x4_t t = vreinterpretq_f32_u8({threshold_lookup});",
            f"            const uint32x4_t at = vreinterpretq_u32_u8({offset_lookup});",
            "            const float32x4_t x = neon_gather(xt + 4u * v, vaddq_u32(at, vcombine_u32(vcreate_u32(0x100000000ull), vcreate_u32(0x300000002ull))));",
            "            const uint32x4_t right = vcgeq_f32(x, t);",
            "            place[v] = vmlsq_n_u32(vshlq_n_u32(place[v], 1), right, 0x04040404u);  /* right is -1: + 4 */",
            "        }",
            "    }",
        ]
    return lines


def _leaves_by_table(table: str, stride: str, depth: int, target: str) -> list[str]:
    """Each lane's leaf value looked up by TBL in the tree's (at most 64) leaf values."""
    regs = max(4, (1 << depth) * 4 // 16)  # at least one group of four: a small tree's values are read past (SIMD_PAD)
    load, lookup = _lookup4("values", regs, "ti")
    return [
        *(["    (void)top_slot;  /* the top levels hold these trees whole: their leaves are in neon_leaf */"] if table == "neon_leaf" else []),
        "    {",
        f"        const uint8_t *values8 = (const uint8_t *)({table} + tree * {stride});",
        *load,
        "        for (uint32_t v = 0; v < 4u; ++v) {",
        "            const uint8x16_t ti = vreinterpretq_u8_u32(vorrq_u32(place[v], vdupq_n_u32(0x03020100u)));",
        f"            {target}[v] = vaddq_f32({target}[v], vreinterpretq_f32_u8({lookup}));",
        "        }",
        "    }",
    ]


_DECIDE = [
    "            const float x = xt[(word & 0x7FFFu) * 16u + k];",
    "            const uint32_t right = !has_nan ? (uint32_t)(x >= t)",
    "                : (uint32_t)!(x < t) & ~((uint32_t)(x != x) & (uint32_t)(word >> 15));",
]


def _scalar_levels(first: int, depth: int) -> list[str]:
    """Complete trees deeper than the register levels: lane by lane, as the scalar walk."""
    if depth <= first:
        return []
    return [
        f"    UNROLL for (uint32_t level = {first}u; level < {depth}u; ++level) {{",
        "        UNROLL for (uint32_t k = 0; k < 16u; ++k) {",
        "            const uint32_t at = (1u << level) - 1u + slot[k];",
        "            const uint16_t word = feature[at];",
        "            const float t = threshold[at];",
        *_DECIDE,
        "            slot[k] = 2u * slot[k] + right;",
        "        }",
        "    }",
    ]


def _leaves_complete() -> list[str]:
    return ["    uint32_t offset[16];",
            "    for (uint32_t k = 0; k < 16u; ++k) offset[k] = (tree * LEAVES + slot[k]) * LEAF_WIDTH;"]


def _leaves_node_walk(below: bool) -> list[str]:
    """Node-walk trees: from the node each lane reached at the bottom of the top levels, the scalar
    node walk (only where some tree is deeper than them); a leaf's child entry is its value's offset."""
    lines = ["    uint32_t node[16], offset[16];",
             "    for (uint32_t k = 0; k < 16u; ++k) node[k] = top_slot[tree * TOP_SLOTS + slot[k]];"]
    if below:
        lines += [
            "    for (uint32_t moving = 1; moving;) {",
            "        moving = 0;",
            "        UNROLL for (uint32_t k = 0; k < 16u; ++k) {",
            "            const uint16_t word = node_feature[node[k]];",
            "            if ((word & 0x7FFFu) == LEAF_MARK) continue;",
            "            const float t = node_threshold[node[k]];",
            *_DECIDE,
            "            node[k] = (uint32_t)node_child[node[k]] + right;",
            "            moving = 1;",
            "        }",
            "    }",
        ]
    return [*lines, "    for (uint32_t k = 0; k < 16u; ++k) offset[k] = node_child[node[k]];"]


def _transpose() -> list[str]:
    return [
        "    for (uint32_t k = 0; k < 16u; ++k)",
        "        for (uint32_t f = 0; f < NUM_FEATURES; ++f) xt[f * 16u + k] = rows[k * NUM_FEATURES + f];",
    ]


@dataclass(frozen=True)
class NeonGain:
    """The cost rule for one model: its shape (per row: trees, split nodes visited by the scalar walk,
    those below the register levels, register levels, trees whose leaves go lane by lane; features),
    the predicted instructions per row of the scalar walk and of the NEON kernel (a fit to counts
    under qemu-aarch64), their ratio, and the choice."""

    walk: bool  # the node walk (else complete trees)
    trees: int
    visits: float
    below: float
    levels: int
    lane_leaves: bool
    features: int
    outputs: int

    @property
    def scalar(self) -> float:
        fit = SCALAR_FIT["walk" if self.walk else "complete"]
        return (fit["tree"] * self.trees + fit["visit"] * self.visits + SCALAR_FIT["feature"] * self.features
                + SCALAR_FIT["output"] * self.outputs)

    @property
    def neon(self) -> float:
        per_tree = (NEON_FIT["tree"] + NEON_FIT["bsl_level"] * min(self.levels, BSL_LEVELS)
                    + sum(NEON_FIT["tbl_levels"][: max(0, self.levels - BSL_LEVELS)]) + NEON_FIT["lane_leaves"] * self.lane_leaves)
        return max(1.0, self.trees * per_tree + NEON_FIT["visit"]["walk" if self.walk else "complete"] * self.below + NEON_FIT["feature"] * self.features
                   + NEON_FIT["output"] * self.outputs)

    @property
    def predicted(self) -> float:
        return self.scalar / self.neon

    @property
    def chosen(self) -> bool:
        return self.levels > 0 and self.predicted >= CHOSEN_GAIN

    @property
    def reason(self) -> str:
        verdict = "batches take the NEON kernel" if self.chosen else "batches keep the scalar walk"
        return (f"neon_gain: predicted {self.predicted:.2f}x fewer instructions per row than the scalar walk "
                f"({self.neon:.0f} vs {self.scalar:.0f}; chosen at >= {CHOSEN_GAIN}x): {verdict} "
                "(benchmarks/results/bench_tree_batch_neon_shapes.md)")


CHOSEN_GAIN = 1.3
NEON_TRIPLES = ("aarch64-linux-gnu",)  # the triples whose builds have the kernel (EDGEKIT_TREE_SIMD)
# Instructions per row, fitted to qemu-aarch64 counts (bench_tree_batch.py --neon-shapes): the scalar
# walk per tree and per node visit (complete trees, the node walk); the kernel per tree, per register
# level (BSL; TBL on 8, 16, 32 nodes), per visit below them (a complete tree's fixed levels; the
# node walk in lock step, lanes at a leaf waiting), per tree whose leaves are looked up lane by lane; both per feature (the NaN test, the
# kernel's transposition of the block) and per output (the output transform, which both run).
SCALAR_FIT = {"complete": {"tree": -3.0, "visit": 10.8}, "walk": {"tree": 15.7, "visit": 15.2}, "feature": 0.0, "output": 72.0}
NEON_FIT = {"tree": 1.0, "bsl_level": 2.66, "tbl_levels": (4.8, 6.6, 7.8), "visit": {"complete": 8.6, "walk": 19.7}, "lane_leaves": 9.5, "feature": 0.6,
            "output": 72.0}


def expected_visits(tables: TreeTables, below: int = 0) -> np.ndarray:
    """Per tree, the split nodes a row visits at depth ``below`` or deeper, taking every leaf as
    equally likely (compile has no row distribution; on the benchmark's models this is within 10 %
    of the visits measured on test rows, where half the rows each way at every split is 30 % low)."""
    tree_of = np.repeat(np.arange(tables.num_trees), np.diff(np.append(tables.roots, tables.num_nodes)))
    depth = np.zeros(tables.num_nodes, dtype=np.int64)
    frontier, level = tables.roots.copy(), 0
    while frontier.size:
        depth[frontier] = level
        inner = frontier[tables.feature[frontier] != LEAF]
        frontier, level = np.concatenate([tables.child[inner], tables.child[inner] + 1]), level + 1
    leaf = tables.feature == LEAF
    leaves = np.bincount(tree_of[leaf], minlength=tables.num_trees)
    deeper = np.bincount(tree_of[leaf], weights=np.maximum(depth[leaf] - below, 0), minlength=tables.num_trees)
    return deeper / np.maximum(leaves, 1)


def neon_gain(tables: TreeTables) -> NeonGain:
    """The cost rule: does the NEON kernel walk this model's batches in fewer instructions per row
    than the scalar walk, by at least CHOSEN_GAIN? From the trees' shapes: the walk table_source picks
    (complete trees or a node walk), their depth, the visits below the register levels."""
    from ...trees.padding import pad_trees, tree_depths

    depth = int(tree_depths(tables).max(initial=0))
    padded = pad_trees(tables)
    trees = tables.num_trees
    if padded is not None:  # complete trees: every level walked, whatever the tree
        visits, below, walked = float(depth * trees), float(max(0, depth - NEON_LEVELS) * trees), depth
    else:  # the node walk; the kernel's top levels in complete form
        visits, below = float(expected_visits(tables).sum()), float(expected_visits(tables, NEON_LEVELS).sum())
        walked = min(depth, NEON_LEVELS)
    lane_leaves = neon_leaf_table(tables.leaf_width, padded is None, walked, depth > walked) is None
    return NeonGain(walk=padded is None, trees=trees, visits=visits, below=below, levels=min(walked, NEON_LEVELS), lane_leaves=lane_leaves,
                    features=tables.num_features, outputs=tables.output_width)
