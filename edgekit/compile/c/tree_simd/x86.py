"""x86-64 SIMD kernels for the table layout: a batch walks 16 rows (AVX-512) or 8 rows (AVX2) per
instruction, one lane per row.

A scalar walk costs three loads per node visit (feature, threshold, the row's value), so it cannot
go below about one cycle per visit. Here the top levels of a tree live in registers: a level of
up to 32 nodes (AVX-512; 8 with AVX2) is loaded once per tree and block of rows, and each lane picks
its node with a permute instead of a load; only the row's value is gathered (from the block
transposed feature-major, so the root's value is one plain load). Deeper levels gather feature and
threshold too. Several trees are walked together so the gathers' latency overlaps. Trees too
sparse to pad walk their top levels so (a complete copy of them: the ``top_*`` arrays) and go on
with a gathered node walk; their single rows walk 16 trees per instruction (``tree_row16``).

Leaves are added tree by tree in the same order as the scalar walk, so every row's sum (and its
output) is bit-identical to the single-row call's. The kernels are compiled with target
attributes and chosen per call with __builtin_cpu_supports (toolchain define EDGEKIT_TREE_SIMD), so
one .so runs on any x86-64; blocks of fewer rows and other CPUs take the scalar walk.
"""

from __future__ import annotations

TOP_LEVELS = 6  # levels of a node-walk tree walked in complete form: as many as AVX-512 registers hold
PAD = 32  # entries every node array carries past its end: the widest level load and 32-bit gathers of 16-bit entries read ahead


def simd_kernels(leaf_width: int, per_tree_output: bool, top: bool, block16: bool = True) -> list[str]:
    """The AVX-512 and AVX2 block functions (``trees16``, ``trees8``: 16 or 8 rows per instruction)
    and, for node-walk trees, the AVX-512 single-row function (``tree_row16``: 16 trees per
    instruction, every node gathered), for float32 thresholds and leaves.
    ``top``: the trees are node-walk tables with their top levels also in complete form (``top_*``
    arrays, TOP_DEPTH levels): the kernels walk those levels as complete trees, then go on from the
    node each lane reached with a gathered node walk (feature, threshold, child) until every lane is
    at a leaf. Else the trees are complete (DEPTH levels) and the bottom slot is the leaf.
    ``block16`` False: no ``trees16`` (another kernel takes the AVX-512 batches: quickscorer.py)."""
    walked = ("top_feature", "top_threshold", "TOP_INTERNAL", "TOP_DEPTH") if top else ("node_feature", "node_threshold", "INTERNAL", "DEPTH")
    return [
        f"#if defined(EDGEKIT_TREE_SIMD) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && {walked[3]} > 0",
        "#define TREE_SIMD 1",
        "#include <immintrin.h>",
        *(f"#define WALK_{name} {value}" for name, value in zip(("FEATURE", "THRESHOLD", "INTERNAL", "DEPTH"), walked, strict=True)),
        *(_kernel(_AVX512, leaf_width, per_tree_output, top) if block16 else []),
        *_kernel(_AVX2, leaf_width, per_tree_output, top),
        # One row, trees in lanes: only for node-walk trees with AVX-512, where it beats the scalar
        # walk's unpredictable leaf tests (XGBoost 1000x8: 1.7x); on complete trees, and with AVX2's
        # 8 lanes, gathering every node loses to the scalar walk (100x6: 2x slower).
        *(_row_kernel(_AVX512, leaf_width, per_tree_output, top) if top else []),
        "#endif",
        "",
    ]


_AVX512 = {
    "lanes": 16, "target": "avx512f", "trees": 4, "register_levels": 5,
    "vf": "__m512", "vi": "__m512i",
    "set1": "_mm512_set1_epi32", "setf": "_mm512_set1_ps", "add": "_mm512_add_epi32", "mullo": "_mm512_mullo_epi32", "min": "_mm512_min_epu32", "sub": "_mm512_sub_epi32",
    "addf": "_mm512_add_ps", "and": "_mm512_and_si512", "slli": "_mm512_slli_epi32",
    "loadf": "_mm512_loadu_ps", "load_aligned": "_mm512_load_ps", "storef": "_mm512_storeu_ps",
    "zero_i": "_mm512_setzero_si512", "lane": "_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)",
    "words16": "_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)({p})))",
}
_AVX2 = {
    "lanes": 8, "target": "avx2", "trees": 8, "register_levels": 3,
    "vf": "__m256", "vi": "__m256i",
    "set1": "_mm256_set1_epi32", "setf": "_mm256_set1_ps", "add": "_mm256_add_epi32", "mullo": "_mm256_mullo_epi32", "min": "_mm256_min_epu32", "sub": "_mm256_sub_epi32",
    "addf": "_mm256_add_ps", "and": "_mm256_and_si256", "slli": "_mm256_slli_epi32",
    "loadf": "_mm256_loadu_ps", "load_aligned": "_mm256_load_ps", "storef": "_mm256_storeu_ps",
    "zero_i": "_mm256_setzero_si256", "lane": "_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)",
    "words16": "_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)({p})))",
}


def _isa_ops(isa: dict) -> dict[str, str]:
    """The few operations whose form differs between AVX-512 (masks, operand order) and AVX2."""
    if isa["lanes"] == 16:
        return {
            "permute_i": "_mm512_permutexvar_epi32({local}, {table})",
            "permute_f": "_mm512_permutexvar_ps({local}, {table})",
            "permute2_i": "_mm512_permutex2var_epi32({low}, {local}, {high})",
            "permute2_f": "_mm512_permutex2var_ps({low}, {local}, {high})",
            "gather_i": "_mm512_i32gather_epi32({index}, (const void *)({base}), {scale})",
            "gather_f": "_mm512_i32gather_ps({index}, {base}, 4)",
            # right = x >= t, or x is NaN and the node's default direction (bit 15 clear) is right
            "right": ("const __mmask16 right = _mm512_cmp_ps_mask(x, th, _CMP_GE_OQ) | (_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q)"
                      " & _mm512_testn_epi32_mask(words, _mm512_set1_epi32(0x8000)));"),
            "step": "idx[j] = _mm512_mask_add_epi32(twice, right, twice, one);",
        }
    return {
        "permute_i": "_mm256_permutevar8x32_epi32({table}, {local})",
        "permute_f": "_mm256_permutevar8x32_ps({table}, {local})",
        "gather_i": "_mm256_i32gather_epi32((const int *)(const void *)({base}), {index}, {scale})",
        "gather_f": "_mm256_i32gather_ps({base}, {index}, 4)",
        "right": ("const __m256i right = _mm256_or_si256(_mm256_castps_si256(_mm256_cmp_ps(x, th, _CMP_GE_OQ)), _mm256_and_si256("
                  "_mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)), _mm256_cmpeq_epi32(_mm256_and_si256(words, "
                  "_mm256_set1_epi32(0x8000)), _mm256_setzero_si256())));"),
        "step": "idx[j] = _mm256_sub_epi32(twice, right);",  # right is -1 in a lane that goes right
    }


def _kernel(isa: dict, leaf_width: int, per_tree_output: bool, top: bool) -> list[str]:
    lanes, ops = isa["lanes"], _isa_ops(isa)
    name, target, vf, vi = f"trees{lanes}", isa["target"], isa["vf"], isa["vi"]

    def level_lookup(width: int) -> list[str]:
        """words and thresholds of each lane's node on a level of ``width`` nodes held in registers."""
        if width <= lanes:
            return [
                f"                    words = {ops['permute_i'].format(local='local', table=isa['words16'].format(p='WALK_FEATURE + base'))};",
                f"                    th = {ops['permute_f'].format(local='local', table=isa['loadf'] + '(WALK_THRESHOLD + base)')};",
            ]
        return [
            f"                    words = {ops['permute2_i'].format(low=isa['words16'].format(p='WALK_FEATURE + base'), local='local', high=isa['words16'].format(p='WALK_FEATURE + base + 16'))};",
            f"                    th = {ops['permute2_f'].format(low=isa['loadf'] + '(WALK_THRESHOLD + base)', local='local', high=isa['loadf'] + '(WALK_THRESHOLD + base + 16)')};",
        ]

    register_levels = isa["register_levels"]
    lookups = []
    for level in range(1, register_levels + 1):
        lookups += [f"                {'if' if level == 1 else 'else if'} (level == {level}u) {{", *level_lookup(1 << level), "                }"]
    gather = [
        "                else {  /* deeper levels: gather the node too */",
        f"                    words = {isa['and']}({ops['gather_i'].format(index='idx[j]', base='WALK_FEATURE + tree * WALK_INTERNAL', scale=2)}, {isa['set1']}(0xFFFF));",
        f"                    th = {ops['gather_f'].format(index='idx[j]', base='WALK_THRESHOLD + tree * WALK_INTERNAL')};",
        "                }",
    ]
    target_sum = "sums[tree_output[tree]]" if per_tree_output else "sums[c]" if leaf_width > 1 else "sums[0]"
    return [
        f"/* {lanes} rows; acc: {lanes} * NUM_ACC sums, row by row. */",
        f'static inline __attribute__((always_inline, target("{target}"))) void {name}_walk(const float *xt, const uint32_t first, const uint32_t count, {vf} *sums) {{',
        f"    const {vi} lane = {isa['lane']}, one = {isa['set1']}(1);",
        f"    {vi} idx[{isa['trees']}];",
        "    UNROLL for (uint32_t j = 0; j < count; ++j) {",
        "        const uint32_t tree = first + j;",
        f"        const {vf} root = {isa['load_aligned']}(xt + (WALK_FEATURE[tree * WALK_INTERNAL] & 0x7FFFu) * {lanes}u);",
        f"        const {vf} x = root, th = {isa['setf']}(WALK_THRESHOLD[tree * WALK_INTERNAL]);",
        f"        const {vi} words = {isa['set1']}(WALK_FEATURE[tree * WALK_INTERNAL]), twice = one;",
        f"        {ops['right']}",
        f"        {ops['step']}  /* the root's index is 0: twice it plus one is 1 */",
        "    }",
        "    UNROLL for (uint32_t level = 1; level < WALK_DEPTH; ++level) {",
        "        UNROLL for (uint32_t j = 0; j < count; ++j) {",
        "            const uint32_t tree = first + j, base = tree * WALK_INTERNAL + (1u << level) - 1u;",
        f"            const {vi} local = {isa['sub']}(idx[j], {isa['set1']}((int)(1u << level) - 1));",
        f"            {vi} words;",
        f"            {vf} th;",
        "            (void)local;",
        "            {",
        *lookups,
        *gather,
        "            }",
        f"            const {vi} at = {isa['add']}({isa['slli']}({isa['and']}(words, {isa['set1']}(0x7FFF)), {lanes.bit_length() - 1}), lane);",
        f"            const {vf} x = {ops['gather_f'].format(index='at', base='xt')};",
        f"            {ops['right']}",
        f"            const {vi} twice = {isa['add']}({isa['add']}(idx[j], idx[j]), one);",
        f"            {ops['step']}",
        "        }",
        "    }",
        *(_go_on(isa, ops, target_sum) if top else _complete_leaves(isa, ops, target_sum)),
        "}",
        "",
        f'static __attribute__((target("{target}"))) void {name}(const float *rows, acc_t *acc) {{',
        f"    float xt[NUM_FEATURES * {lanes}u] __attribute__((aligned(64)));  /* the block, feature-major */",
        f"    for (uint32_t k = 0; k < {lanes}u; ++k)",
        f"        for (uint32_t f = 0; f < NUM_FEATURES; ++f) xt[f * {lanes}u + k] = rows[k * NUM_FEATURES + f];",
        f"    {vf} sums[NUM_ACC];",
        f"    for (uint32_t c = 0; c < NUM_ACC; ++c) sums[c] = {isa['setf']}(base_score[c]);",
        f"    const uint32_t whole = NUM_TREES - NUM_TREES % {isa['trees']}u;",
        f"    for (uint32_t t = 0; t < whole; t += {isa['trees']}u) {name}_walk(xt, t, {isa['trees']}u, sums);",
        f"    for (uint32_t t = whole; t < NUM_TREES; ++t) {name}_walk(xt, t, 1u, sums);",
        f"    acc_t by_output[NUM_ACC][{lanes}];",
        f"    for (uint32_t c = 0; c < NUM_ACC; ++c) {isa['storef']}(by_output[c], sums[c]);",
        f"    for (uint32_t k = 0; k < {lanes}u; ++k)",
        "        for (uint32_t c = 0; c < NUM_ACC; ++c) acc[k * NUM_ACC + c] = by_output[c][k];",
        "}",
        "",
    ]


def _complete_leaves(isa: dict, ops: dict[str, str], target_sum: str) -> list[str]:
    """Complete trees: the bottom slot each lane reached is its leaf."""
    vi = isa["vi"]
    leaf = ops["gather_f"].format(index="slot", base="leaf_value + tree * LEAVES * LEAF_WIDTH")
    return [
        "    UNROLL for (uint32_t j = 0; j < count; ++j) {",
        "        const uint32_t tree = first + j;",
        f"        const {vi} slot0 = {isa['sub']}(idx[j], {isa['set1']}(INTERNAL));",
        "        for (uint32_t c = 0; c < LEAF_WIDTH; ++c) {",
        f"            const {vi} slot = LEAF_WIDTH == 1 ? slot0 : {isa['add']}({isa['mullo']}(slot0, {isa['set1']}(LEAF_WIDTH)), {isa['set1']}((int)c));",
        f"            {target_sum} = {isa['addf']}({target_sum}, {leaf});",
        "        }",
        "    }",
    ]


def _go_on(isa: dict, ops: dict[str, str], target_sum: str | None, slot_base: str = "top_slot + (first + j) * TOP_SLOTS",
           slot_index: str = "") -> list[str]:
    """Below the top levels: each lane walks on from the node it reached (gathered node walk, the
    trees in lock step) until all lanes are at leaves; a leaf's child entry is its value's offset.
    ``target_sum`` None: the row form (lanes are trees of one row, its values gathered from ``row``;
    the leaves' offsets are left in ``node``)."""
    vi, vf, lanes = isa["vi"], isa["vf"], isa["lanes"]
    row_form = target_sum is None
    child = f"{isa['and']}({ops['gather_i'].format(index='{index}', base='node_child', scale='CHILD_BYTES')}, {isa['set1']}((int)CHILD_MASK))"
    if lanes == 16:
        leafy = ["            const __mmask16 active = _mm512_cmpneq_epi32_mask(feature, _mm512_set1_epi32(LEAF_MARK));",
                 "            if (!active) continue;"]
        step = "            node[j] = _mm512_mask_mov_epi32(node[j], active, _mm512_mask_add_epi32(next, right, next, one));"
    else:
        leafy = ["            const __m256i leafy = _mm256_cmpeq_epi32(feature, _mm256_set1_epi32(LEAF_MARK));",
                 "            if (_mm256_movemask_epi8(leafy) == -1) continue;"]
        step = "            node[j] = _mm256_blendv_epi8(_mm256_sub_epi32(next, right), node[j], leafy);"
    x_lookup = ([f"            const {vf} x = {ops['gather_f'].format(index=isa['min'] + '(feature, ' + isa['set1'] + '(NUM_FEATURES - 1))', base='row')};"]
                if row_form else
                [f"            const {vi} at = {isa['add']}({isa['slli']}({isa['min']}(feature, {isa['set1']}(NUM_FEATURES - 1)), {lanes.bit_length() - 1}), lane);",
                 f"            const {vf} x = {ops['gather_f'].format(index='at', base='xt')};"])
    walk = [
        f"    {vi} node[{isa['trees']}];",
        "    UNROLL for (uint32_t j = 0; j < count; ++j)",
        f"        node[j] = {ops['gather_i'].format(index=slot_index or isa['sub'] + '(idx[j], ' + isa['set1'] + '(TOP_INTERNAL))', base=slot_base, scale=4)};",
        "    for (uint32_t moving = 1; moving;) {",
        "        moving = 0;",
        "        UNROLL for (uint32_t j = 0; j < count; ++j) {",
        f"            const {vi} words = {isa['and']}({ops['gather_i'].format(index='node[j]', base='node_feature', scale=2)}, {isa['set1']}(0xFFFF));",
        f"            const {vi} feature = {isa['and']}(words, {isa['set1']}(0x7FFF));",
        *leafy,
        "            moving = 1;",
        f"            const {vf} th = {ops['gather_f'].format(index='node[j]', base='node_threshold')};",
        "            /* a lane already at a leaf reads feature 0: its answer is dropped */",
        *x_lookup,
        f"            {ops['right']}",
        f"            const {vi} next = {child.format(index='node[j]')};",
        step,
        "        }",
        "    }",
    ]
    if row_form:  # the leaves' value offsets, for the caller to add in tree order
        return [*walk, "    UNROLL for (uint32_t j = 0; j < count; ++j)", f"        node[j] = {child.format(index='node[j]')};"]
    return [
        *walk,
        "    UNROLL for (uint32_t j = 0; j < count; ++j) {",
        "        const uint32_t tree = first + j;",
        "        (void)tree;",
        f"        const {vi} offset = {child.format(index='node[j]')};",
        "        for (uint32_t c = 0; c < LEAF_WIDTH; ++c) {",
        f"            const {vi} slot = {isa['add']}(offset, {isa['set1']}((int)c));",
        f"            {target_sum} = {isa['addf']}({target_sum}, {ops['gather_f'].format(index='slot', base='leaf_value')});",
        "        }",
        "    }",
    ]


def _row_kernel(isa: dict, leaf_width: int, per_tree_output: bool, top: bool) -> list[str]:
    """One row, a tree per lane: every node is gathered (each lane its own tree), the row's values
    too; the lanes' leaf values are then added in tree order, as the scalar walk adds them, and the
    trees past the last whole group take the scalar walk."""
    lanes, ops, vi, vf = isa["lanes"], _isa_ops(isa), isa["vi"], isa["vf"]
    name, target = f"tree_row{lanes}", isa["target"]
    if top:
        ending = _go_on(isa, ops, None, slot_base="top_slot",
                        slot_index=f"{isa['add']}({isa['mullo']}(tree, {isa['set1']}(TOP_SLOTS)), {isa['sub']}(idx[j], {isa['set1']}(TOP_INTERNAL)))")
        offsets = "node[0]"
    else:
        ending = []
        offsets = (f"{isa['mullo']}({isa['add']}({isa['mullo']}(tree, {isa['set1']}(LEAVES)), {isa['sub']}(idx[0], {isa['set1']}(INTERNAL))), "
                   f"{isa['set1']}(LEAF_WIDTH))")
    into = "acc[tree_output[first + k]]" if per_tree_output else "acc[c]" if leaf_width > 1 else "acc[0]"
    return [
        f'static __attribute__((target("{target}"))) void {name}(const float *row, acc_t *acc) {{',
        f"    const {vi} lane = {isa['lane']}, one = {isa['set1']}(1);",
        "    for (uint32_t k = 0; k < NUM_ACC; ++k) acc[k] = base_score[k];",
        f"    const uint32_t whole = NUM_TREES - NUM_TREES % {lanes}u, count = 1u;  /* one vector of trees at a time */",
        "    (void)count;",
        f"    for (uint32_t first = 0; first < whole; first += {lanes}u) {{",
        f"        const {vi} tree = {isa['add']}({isa['set1']}((int)first), lane);",
        f"        {vi} idx[1] = {{{isa['zero_i']}()}};",
        "        const uint32_t j = 0;",
        "        UNROLL for (uint32_t level = 0; level < WALK_DEPTH; ++level) {",
        f"            const {vi} at = {isa['add']}({isa['mullo']}(tree, {isa['set1']}(WALK_INTERNAL)), idx[0]);",
        f"            const {vi} words = {isa['and']}({ops['gather_i'].format(index='at', base='WALK_FEATURE', scale=2)}, {isa['set1']}(0xFFFF));",
        f"            const {vf} th = {ops['gather_f'].format(index='at', base='WALK_THRESHOLD')};",
        f"            const {vf} x = {ops['gather_f'].format(index=isa['and'] + '(words, ' + isa['set1'] + '(0x7FFF))', base='row')};",
        f"            {ops['right']}",
        f"            const {vi} twice = {isa['add']}({isa['add']}(idx[0], idx[0]), one);",
        f"            {ops['step']}",
        "        }",
        *["    " + line for line in ending],
        "        (void)j;",
        f"        const {vi} offset = {offsets};",
        f"        float value[{lanes}];",
        "        for (uint32_t c = 0; c < LEAF_WIDTH; ++c) {",
        f"            {isa['storef']}(value, {ops['gather_f'].format(index=isa['add'] + '(offset, ' + isa['set1'] + '((int)c))', base='leaf_value')});",
        f"            for (uint32_t k = 0; k < {lanes}u; ++k) {into} += value[k];",
        "        }",
        "    }",
        "    for (uint32_t t = whole; t < NUM_TREES; ++t) walk(row, 0u, t, 1u, 1u, acc, 0u, 1u);  /* the tail may outnumber BLOCK */",
        "}",
        "",
    ]
