"""The aarch64 NEON batch kernel for the table layout: 16 rows per block, four rows to a 128-bit
vector (four vectors per step), the block transposed feature-major.

A scalar walk costs about ten instructions per node visit (two table loads, the row's value, the
compare, the child index). Here one tree is walked by 16 rows at once, its top levels from
registers:

- levels 0-2 (7 nodes): every node is compared for all 16 rows (its feature's row of the block is one
  ``ld1`` of four vectors: no gather), and each lane's answer is selected with BSL by the answers above it;
- levels 3-5 (8, 16, 32 nodes): the level's feature words and thresholds are loaded into registers
  (one ``ld1`` of up to four vectors each) and each lane looks its node up with TBL on byte indices;
  only the row's value is gathered, by lane loads;
- deeper levels and the leaves: lane by lane, as the scalar walk does.

Trees too sparse to pad are walked through their top levels in complete form (the ``top_*`` arrays
the x86 kernels use) and go on from the node each lane reached with the scalar node walk.

Blocks holding a NaN take a second instance of the kernel (missing values take each node's default
direction), so the common path has no NaN test. Leaves are added tree by tree in the scalar walk's
order, so every row's sum is bit-identical to the single-row call's (aarch64 NEON keeps denormals
unless FPCR.FZ is set, which Linux leaves clear). Single rows keep the scalar walk.

``neon_gain``: the cost rule that decides whether an aarch64 build's batches take this kernel by
default (fitted to qemu-aarch64 instruction counts, benchmarks/results/bench_tree_batch_neon_shapes.md).
"""

from __future__ import annotations

NEON_LEVELS = 6  # levels walked from registers (0-2 by BSL, 3-5 by TBL): the x86 kernels' TOP_LEVELS
BSL_LEVELS = 3


def neon_kernel(leaf_width: int, per_tree_output: bool, top: bool, depth: int, below: bool, lanes: int) -> list[str]:
    """``neon16(rows, acc)``: 16 rows' sums (acc: 16 * NUM_ACC, row by row), for float32 tables.
    ``top``: node-walk trees, walked through their ``top_*`` arrays (``depth`` = TOP_DEPTH levels), then,
    if ``below`` (some tree is deeper), on with the scalar node walk. Else complete trees of ``depth``
    levels. ``lanes``: 4 if batches take the kernel by default (the cost rule), else 0;
    EDGEKIT_TREE_LANES pins it either way."""
    if depth < 1:
        return []
    feature, threshold, internal = ("top_feature", "top_threshold", "TOP_INTERNAL") if top else ("node_feature", "node_threshold", "INTERNAL")
    target = "sums[tree_output[tree]]" if per_tree_output else "sums[c]" if leaf_width > 1 else "sums[0]"
    lines = [
        "#if defined(EDGEKIT_TREE_SIMD) && defined(__AARCH64EL__) && defined(__ARM_NEON)",
        "#define TREE_NEON 1",
        f"#define NEON_LANES {lanes}u  /* the cost rule's choice (neon_gain); EDGEKIT_TREE_LANES pins it */",
        "#include <arm_neon.h>",
        "",
        "/* right = x >= t; in a block holding a NaN: !(x < t), unless x is NaN and the node sends NaN left */",
        "static ALWAYS_INLINE uint32x4_t neon_right(const float32x4_t x, const float32x4_t t, const uint32x4_t nan_left, const int has_nan) {",
        "    if (!has_nan) return vcgeq_f32(x, t);",
        "    return vbicq_u32(vornq_u32(vceqq_f32(x, x), nan_left), vcltq_f32(x, t));",
        "}",
        "",
        "/* four lanes' values, each from its own offset */",
        "static ALWAYS_INLINE float32x4_t neon_gather(const float *base, const uint32x4_t at) {",
        "    float32x4_t x = vld1q_dup_f32(base + vgetq_lane_u32(at, 0));",
        "    x = vld1q_lane_f32(base + vgetq_lane_u32(at, 1), x, 1);",
        "    x = vld1q_lane_f32(base + vgetq_lane_u32(at, 2), x, 2);",
        "    return vld1q_lane_f32(base + vgetq_lane_u32(at, 3), x, 3);",
        "}",
        "",
        "/* One tree for the 16 rows of xt (feature-major: feature f of row k at f * 16 + k). */",
        "static ALWAYS_INLINE void neon_tree(const float *xt, const uint32_t tree, float32x4_t (*sums)[4], const int has_nan) {",
        f"    const uint16_t *feature = {feature} + tree * {internal};",
        f"    const float *threshold = {threshold} + tree * {internal};",
        "    uint32x4_t local[4];  /* each lane's node on the current level, counted from the level's first */",
        *_bsl_levels(min(depth, BSL_LEVELS)),
        *_tbl_levels(BSL_LEVELS, min(depth, NEON_LEVELS)),
        "    uint32_t slot[16];",
        "    for (uint32_t v = 0; v < 4u; ++v) vst1q_u32(slot + 4u * v, local[v]);",
        *(_scalar_levels(NEON_LEVELS, depth) if not top else []),
        *(_leaves_complete() if not top else _leaves_node_walk(below)),
        "    for (uint32_t c = 0; c < LEAF_WIDTH; ++c) {",
        "        float value[16];",
        "        for (uint32_t k = 0; k < 16u; ++k) value[k] = leaf_value[offset[k] + c];",
        f"        for (uint32_t v = 0; v < 4u; ++v) {target}[v] = vaddq_f32({target}[v], vld1q_f32(value + 4u * v));",
        "    }",
        "}",
        "",
        "static void neon16(const float *rows, acc_t *acc) {",
        "    float xt[NUM_FEATURES * 16u] __attribute__((aligned(16)));  /* the block, feature-major */",
        "    uint32x4_t seen = vdupq_n_u32(~0u);  /* all ones while no value is NaN */",
        "    for (uint32_t i = 0; i < 16u * NUM_FEATURES; i += 4u) {",
        "        const float32x4_t x = vld1q_f32(rows + i);",
        "        seen = vandq_u32(seen, vceqq_f32(x, x));",
        "    }",
        *_transpose(),
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
    return lines


def _compare(node: int, name: str) -> list[str]:
    """Node ``node`` (level order) compared for all 16 rows: its feature's row of the block, four vectors."""
    return [
        "    {",
        f"        const uint16_t word = feature[{node}];",
        f"        const float32x4_t t = vdupq_n_f32(threshold[{node}]);",
        "        const uint32x4_t nan_left = vdupq_n_u32(0u - (uint32_t)(word >> 15));",
        "        const float32x4x4_t x = vld1q_f32_x4(xt + (word & 0x7FFFu) * 16u);",
        *(f"        {name}[{v}] = neon_right(x.val[{v}], t, nan_left, has_nan);" for v in range(4)),
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
    return [*lines, f"    for (uint32_t v = 0; v < 4u; ++v) local[v] = {bits};  /* the answers' bits, the root's highest */"]


def _tbl_levels(first: int, end: int) -> list[str]:
    """Levels first .. end-1 (8, 16, 32 nodes): the level's feature words and thresholds in
    registers, each lane's looked up by TBL on byte indices; the row's value gathered."""
    lines = []
    for level in range(first, end):
        nodes, base = 1 << level, (1 << level) - 1
        feature_regs, threshold_regs = nodes * 2 // 16, nodes * 4 // 16  # 1/2/4 and 2/4/8
        load_features = (f"vld1q_u8(words8)" if feature_regs == 1 else f"vld1q_u8_x{feature_regs}(words8)")
        feature_lookup = f"vqtbl{feature_regs}q_u8(words, wi)"
        if threshold_regs <= 4:
            threshold_load = [f"        const uint8x16x{threshold_regs}_t ths = vld1q_u8_x{threshold_regs}(ths8);"]
            threshold_lookup = f"vqtbl{threshold_regs}q_u8(ths, ti)"
        else:  # 128 bytes: two groups of four registers, TBL then TBX on the index past the first 64
            threshold_load = ["        const uint8x16x4_t low = vld1q_u8_x4(ths8), high = vld1q_u8_x4(ths8 + 64);"]
            threshold_lookup = "vqtbx4q_u8(vqtbl4q_u8(low, ti), high, veorq_u8(ti, vdupq_n_u8(64)))"
        words_type = "uint8x16_t" if feature_regs == 1 else f"uint8x16x{feature_regs}_t"
        lines += [
            f"    {{  /* level {level}: {nodes} nodes */",
            f"        const uint8_t *words8 = (const uint8_t *)(feature + {base}), *ths8 = (const uint8_t *)(threshold + {base});",
            f"        const {words_type} words = {load_features};",
            *threshold_load,
            "        for (uint32_t v = 0; v < 4u; ++v) {",
            "            /* byte indices: a word's 2 bytes (its upper half out of range: 0), a threshold's 4 */",
            "            const uint8x16_t wi = vreinterpretq_u8_u32(vmlaq_n_u32(vdupq_n_u32(0xFFFF0100u), local[v], 0x0202u));",
            "            const uint8x16_t ti = vreinterpretq_u8_u32(vmlaq_n_u32(vdupq_n_u32(0x03020100u), local[v], 0x04040404u));",
            f"            const uint32x4_t word = vreinterpretq_u32_u8({feature_lookup});",
            f"            const float32x4_t t = vreinterpretq_f32_u8({threshold_lookup});",
            "            const uint32x4_t lane = vaddq_u32(vdupq_n_u32(4u * v), vcombine_u32(vcreate_u32(0x100000000ull), vcreate_u32(0x300000002ull)));",
            "            /* the value's offset: (word & 0x7FFF) * 16 + lane */",
            "            const float32x4_t x = neon_gather(xt, vsraq_n_u32(lane, vshlq_n_u32(word, 17), 13));",
            "            const uint32x4_t right = neon_right(x, t, vtstq_u32(word, vdupq_n_u32(0x8000u)), has_nan);",
            "            local[v] = vsubq_u32(vshlq_n_u32(local[v], 1), right);",
            "        }",
            "    }",
        ]
    return lines


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
