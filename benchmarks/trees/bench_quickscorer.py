"""QuickScorer-family scorers vs. edgekit's C table layout on the same XGBoost models, one thread.

QuickScorer (Lucchese et al., SIGIR 2015) scores a tree by bitvectors instead of a walk: a tree's
leaves are the bits of one word, every node that sends the row right clears its left subtree's
leaves, and the exit leaf is the lowest bit left (edgekit/compile/c/quickscorer.py). Compared, all
from the same tree tables and all bit-identical to the table layout (checked on every batch):

  table          edgekit's table layout (--layout table), its library through ctypes: the CPU's
                 best kernels (the AVX-512 walk of tree_simd/x86.py, 16 rows per instruction)
  quickscorer    edgekit's quickscorer layout (--layout quickscorer): the table layout with its
                 AVX-512 batches scored by bitvectors, every node of a tree tested for 16 rows and
                 the tree's words in registers, leaves picked by a permute; single rows are the
                 table layout's walk
  qs scalar      QuickScorer as published: per feature its nodes sorted by threshold, scanned while
                 x >= t, one row at a time (batches and single rows)
  v-qs avx512    V-QuickScorer (Lucchese et al., SIGIR 2016): the same scan for 16 rows at once,
                 going on while any row has x >= t, the rows' words per tree in memory; its single
                 rows are the scalar QuickScorer's

The last two are generated here (research_source); they lose to the table layout on every model,
so edgekit does not ship them. The quickscorer layout is what compile picks, without --layout,
for trees of at most 32 leaves on x86-64 (quickscorer.py's cost rule, from these figures).

Models (XGBoost, trained by edgekit; 20 000-row classification tables):
  xgb-100x6     100 trees, depth 6, 30 features
  xgb-1000x4    1000 trees, depth 4, learning rate 0.1, 30 features (many shallow trees)
  xgb-300x5     300 trees, depth 5, learning rate 0.1, 30 features (at most 32 leaves: the rule's edge)
  xgb-500x6     500 trees, depth 6, learning rate 0.1, 120 features
  xgb-1000x8    1000 trees, depth 8, learning rate 0.1, 30 features: trees of more than 64 leaves,
                past one 64-bit word: the table layout alone, with the leaf counts that rule it out

Every system runs in a fresh process per round, in interleaved rounds (the order rotating); a
figure is the median over rounds. Batch = 10 000 test rows drawn with replacement; single row =
one row per call from Python, cycling through 256 test rows, groups of 20 calls per clock reading.
Work counts beside the figures: node visits per row (the table walk's internal nodes on each
path), QuickScorer's right-going nodes per row (what the scan touches), nodes per block of 16
rows (V-QuickScorer: the scan goes on while any row goes right) and the internal nodes the
tree-wise kernel tests per row (all of them, for 16 rows at once).

    .venv/bin/python benchmarks/trees/bench_quickscorer.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

# benchmarks/ holds the shared modules; this script sits a folder down (benchmarks/ is at its module limit)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_c import classification_table
from bench_tree_batch import clock_ghz
from timing import (
    arguments,
    interleaved_rounds,
    machine_line,
    mean_node_visits,
    medians,
    scratch,
    time_predict,
    write_results,
)

COMMAND = ".venv/bin/python benchmarks/trees/bench_quickscorer.py [--out benchmarks/results] [--quick]"
BATCH_ROWS = 10_000
MODELS = {
    "xgb-100x6": (30, {"n_estimators": "100", "max_depth": "6"}),
    "xgb-1000x4": (30, {"n_estimators": "1000", "max_depth": "4", "learning_rate": "0.1"}),
    "xgb-300x5": (30, {"n_estimators": "300", "max_depth": "5", "learning_rate": "0.1"}),
    "xgb-500x6": (120, {"n_estimators": "500", "max_depth": "6", "learning_rate": "0.1"}),
    "xgb-1000x8": (30, {"n_estimators": "1000", "max_depth": "8", "learning_rate": "0.1"}),
}
RESEARCH = {"qs scalar": 0, "v-qs avx512": 1}  # research_source's kernels (QS_KERNEL)


def worker(path: Path, batch: Path, single: int, batches: int) -> None:
    from edgekit_runtime.predictors.c import CPredictor

    time_predict(CPredictor(path).predict, np.load(batch), single, batches)


def wide_table(work: Path, features: int) -> str:
    """A 20 000-row classification table of ``features`` features (the 30-feature one is bench_c's)."""
    if features == 30:
        return classification_table(work)
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=20_000, n_features=features, n_informative=features // 2, n_redundant=features // 5,
                               random_state=0)
    path = work / f"table{features}.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join([f"f{i}" for i in range(features)] + ["label"]),
               comments="", fmt="%.7g")
    return str(path)


def _build(source: str, work: Path, kernel: int) -> Path:
    """research_source built like an artifact for this machine, with one kernel."""
    from edgekit.compile.c.toolchains import HOST_TRIPLE, compile_objects, link_libraries, toolchain_for

    work.mkdir(parents=True, exist_ok=True)
    (work / "model.c").write_text(source)
    toolchain = toolchain_for(HOST_TRIPLE)
    toolchain = dataclasses.replace(toolchain, defines=(*toolchain.defines, f"-DQS_KERNEL={kernel}"))
    return link_libraries(toolchain, compile_objects(toolchain, [work / "model.c"], work / "obj"), work / "lib")["shared"]


def work_counts(tables, rows: np.ndarray) -> dict:
    """Per row: the internal nodes QuickScorer's scan touches (those that send the row right), the
    nodes V-QuickScorer scans per block of 16 rows (while any row goes right), and all internal
    nodes (what the tree-wise kernel tests)."""
    from edgekit.compile.c.quickscorer import bitvector_nodes

    nodes = bitvector_nodes(tables)
    right, scanned = 0.0, 0.0
    blocks = rows[: len(rows) - len(rows) % 16].reshape(-1, 16, rows.shape[1])
    for feature in np.unique(nodes.feature):
        at = nodes.feature == feature
        thresholds = np.sort(nodes.threshold[at])
        x = rows[:, feature]
        goes = np.searchsorted(thresholds, np.nan_to_num(x, nan=-np.inf), side="right")
        goes = np.where(np.isnan(x), nodes.default_right[at].sum(), goes)
        right += goes.mean()
        scanned += np.searchsorted(thresholds, np.nanmax(blocks[:, :, feature], axis=1), side="right").mean() / 16
    return {"right_nodes_per_row": float(right), "vqs_nodes_per_row": float(scanned), "internal_nodes": nodes.num_splits}


def prepare(name: str, bundle, work: Path) -> tuple[dict[str, Path], dict]:
    from edgekit import compile_bundle
    from edgekit.compile.c.quickscorer import MAX_LEAVES, tree_leaf_counts
    from edgekit.compile.trees.tables import bundle_trees

    tables = bundle_trees(bundle).tables
    table = compile_bundle(bundle.path, "c", work / f"{name}-table", options={"layout": "table"})
    systems = {"table": table.path / "lib" / "libedgekit_model.so"}
    leaves = tree_leaf_counts(tables)
    facts = {"trees": tables.num_trees, "features": tables.num_features,
             "table_form": (table.path / "src" / "model.c").read_text().split(": table layout (")[1].split(")")[0],
             "leaves_max": int(leaves.max()), "leaves_mean": float(leaves.mean()), "trees_over_64_leaves": int((leaves > MAX_LEAVES).sum())}
    default = compile_bundle(bundle.path, "c", work / f"{name}-default")  # no --layout: the cost rule's pick
    facts["default_layout"] = default.info.options["layout"]
    if leaves.max() <= MAX_LEAVES:
        quickscorer = compile_bundle(bundle.path, "c", work / f"{name}-quickscorer", options={"layout": "quickscorer"})
        systems["quickscorer"] = quickscorer.path / "lib" / "libedgekit_model.so"
        facts["word_bits"] = 32 if "32-bit words" in (quickscorer.path / "src" / "model.c").read_text().splitlines()[0] else 64
        source = research_source(tables, bundle.info.content_hash, f"bundle {name}")
        for system, kernel in RESEARCH.items():
            systems[system] = _build(source, work / f"{name}-qs{kernel}", kernel)
    return systems, facts


def research_source(tables, model_id: str, origin: str) -> str:
    """The published QuickScorer (QS_KERNEL=0: one row at a time) and V-QuickScorer (QS_KERNEL=1:
    AVX-512 batches of 16 rows, single rows and the tail scalar) from edgekit's tree tables; binary
    and regression models (one output, leaf_width 1). Both scan, per feature, its nodes by
    ascending threshold while x >= t (a NaN sentinel ends each feature); a NaN input ANDs its
    feature's default-right nodes. Leaves are added in tree order: bit-identical to the table layout."""
    from edgekit.compile.c.literals import api_constants, array, float_literals, int_literals, unsigned_type
    from edgekit.compile.c.quickscorer import bitvector_nodes, mask_literals, padded_leaves
    from edgekit.compile.c.table import _finish
    from edgekit.compile.c.tree_common import tree_head

    assert tables.num_outputs == 1 and tables.leaf_width == 1
    nodes = bitvector_nodes(tables)
    bits, halves = nodes.word_bits, 2 if nodes.word_bits == 64 else 1
    order = np.lexsort((nodes.tree, nodes.threshold, nodes.feature))  # per feature, by threshold
    counts = np.bincount(nodes.feature, minlength=tables.num_features)
    begin = np.concatenate([[0], np.cumsum(counts + 1)])  # + 1: each feature's sentinel
    slot = begin[nodes.feature[order]] + np.arange(len(order)) - np.concatenate([[0], np.cumsum(counts)])[nodes.feature[order]]
    threshold = np.full(begin[-1], np.nan, dtype=np.float32)
    tree, mask = np.zeros(begin[-1], dtype=np.int64), np.full(begin[-1], (1 << bits) - 1, dtype=np.uint64)
    threshold[slot], tree[slot], mask[slot] = nodes.threshold[order], nodes.tree[order], nodes.mask[order]
    nan = np.flatnonzero(nodes.default_right)
    nan = nan[np.argsort(nodes.feature[nan], kind="stable")]
    nan_begin = np.concatenate([[0], np.cumsum(np.bincount(nodes.feature[nan], minlength=tables.num_features))])
    padded = padded_leaves(tables, nodes)
    leaf_values = padded.reshape(-1)
    ctz = "__builtin_ctzll" if bits == 64 else "__builtin_ctz"
    if bits == 64:
        ones, mask_of = "_mm512_set1_epi64(-1)", "_mm512_set1_epi64((long long){})"
        ands = ["w[0] = _mm512_mask_and_epi64(w[0], (__mmask8)m, w[0], mask);", "w[1] = _mm512_mask_and_epi64(w[1], (__mmask8)(m >> 8), w[1], mask);"]
        index = ["const __m512i l0 = _mm512_lzcnt_epi64(_mm512_and_si512(words[t][0], _mm512_sub_epi64(_mm512_setzero_si512(), words[t][0])));",
                 "const __m512i l1 = _mm512_lzcnt_epi64(_mm512_and_si512(words[t][1], _mm512_sub_epi64(_mm512_setzero_si512(), words[t][1])));",
                 ("const __m512i leaf = _mm512_sub_epi32(_mm512_set1_epi32(63), _mm512_inserti64x4(_mm512_castsi256_si512("
                 "_mm512_cvtepi64_epi32(l0)), _mm512_cvtepi64_epi32(l1), 1));")]
    else:
        ones, mask_of = "_mm512_set1_epi32(-1)", "_mm512_set1_epi32((int){})"
        ands = ["w[0] = _mm512_mask_and_epi32(w[0], m, w[0], mask);"]
        index = [("const __m512i leaf = _mm512_sub_epi32(_mm512_set1_epi32(31), "
                 "_mm512_lzcnt_epi32(_mm512_and_si512(words[t][0], _mm512_sub_epi32(_mm512_setzero_si512(), words[t][0]))));")]
    values = "leaf_value + t * TREE_LEAVES"
    pick = {16: [f"const __m512 value = _mm512_permutexvar_ps(leaf, _mm512_load_ps({values}));"],
            32: [f"const __m512 value = _mm512_permutex2var_ps(_mm512_load_ps({values}), leaf, _mm512_load_ps({values} + 16));"],
            64: [f"const __m512 low = _mm512_permutex2var_ps(_mm512_load_ps({values}), leaf, _mm512_load_ps({values} + 16));",
                 f"const __m512 high = _mm512_permutex2var_ps(_mm512_load_ps({values} + 32), leaf, _mm512_load_ps({values} + 48));",
                 "const __m512 value = _mm512_mask_blend_ps(_mm512_test_epi32_mask(leaf, _mm512_set1_epi32(32)), low, high);"]}[padded.shape[1]]

    def scan(list_mask: str, words: str) -> list[str]:
        return [f"                const __m512i mask = {mask_of.format(list_mask)};", f"                __m512i *w = {words};",
                *("                " + line for line in ands)]

    target = '__attribute__((target("avx512f,avx512cd,avx512dq")))'
    lines = [
        *tree_head(tables, f"{origin}: QuickScorer ({bits}-bit words)"),
        f"typedef uint{bits}_t word_t;",
        "typedef float acc_t;",
        f"#define TREE_LEAVES {padded.shape[1]}u",
        *api_constants(tables.output_width, model_id),
        array("float", "qs_threshold", float_literals(threshold), len(threshold)),
        array(unsigned_type(tables.num_trees), "qs_tree", int_literals(tree), len(tree)),
        array("word_t", "qs_mask", mask_literals(mask, bits), len(mask)),
        array(unsigned_type(int(begin[-1])), "qs_begin", int_literals(begin), "NUM_FEATURES + 1"),
        array(unsigned_type(tables.num_trees), "nan_tree", int_literals(nodes.tree[nan]), max(1, len(nan))),
        array("word_t", "nan_mask", mask_literals(nodes.mask[nan], bits), max(1, len(nan))),
        array(unsigned_type(len(nan)), "nan_begin", int_literals(nan_begin), "NUM_FEATURES + 1"),
        f"static const float leaf_value[{leaf_values.size}u] __attribute__((aligned(64))) = {{\n    {float_literals(leaf_values)}\n}};",
        array("float", "base_score", float_literals(tables.base_scores), "NUM_ACC"),
        *([array("float", "tree_share", float_literals(1.0 / tables.trees_per_output()), "NUM_ACC")] if tables.average else []),
        "static void score_row(const float *row, acc_t *acc) {",
        "    word_t v[NUM_TREES];",
        "    for (uint32_t t = 0; t < NUM_TREES; ++t) v[t] = (word_t)~(word_t)0;",
        "    for (uint32_t f = 0; f < NUM_FEATURES; ++f) {",
        "        const float x = row[f];",
        "        if (x != x) { for (uint32_t j = nan_begin[f]; j < nan_begin[f + 1]; ++j) v[nan_tree[j]] &= nan_mask[j]; continue; }",
        "        for (uint32_t i = qs_begin[f]; x >= qs_threshold[i]; ++i) v[qs_tree[i]] &= qs_mask[i];",
        "    }",
        "    acc[0] = base_score[0];",
        f"    for (uint32_t t = 0; t < NUM_TREES; ++t) acc[0] += leaf_value[t * TREE_LEAVES + (uint32_t){ctz}(v[t])];",
        "}",
        *_finish(tables, None),
        "#if QS_KERNEL == 1 && defined(EDGEKIT_TREE_SIMD) && defined(__x86_64__) && defined(__GNUC__)",
        "#define VQS 1",
        "#include <immintrin.h>",
        f"static {target} void block16(const float *rows, acc_t *acc) {{",
        "    float xt[NUM_FEATURES * 16u] __attribute__((aligned(64)));",
        "    for (uint32_t k = 0; k < 16u; ++k) for (uint32_t f = 0; f < NUM_FEATURES; ++f) xt[f * 16u + k] = rows[k * NUM_FEATURES + f];",
        f"    __m512i words[NUM_TREES][{halves}];",
        f"    for (uint32_t t = 0; t < NUM_TREES; ++t) for (uint32_t h = 0; h < {halves}u; ++h) words[t][h] = {ones};",
        "    for (uint32_t f = 0; f < NUM_FEATURES; ++f) {",
        "        const __m512 x = _mm512_load_ps(xt + f * 16u);",
        "        for (uint32_t i = qs_begin[f];; ++i) {",
        "            const __mmask16 m = _mm512_cmp_ps_mask(x, _mm512_set1_ps(qs_threshold[i]), _CMP_GE_OQ);",
        "            if (!m) break;  /* no lane goes right here, nor further on (the sentinel: NaN) */",
        "            {",
        *scan("qs_mask[i]", "words[qs_tree[i]]"),
        "            }",
        "        }",
        "        const __mmask16 m = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);",
        "        if (m)",
        "            for (uint32_t j = nan_begin[f]; j < nan_begin[f + 1]; ++j) {",
        *scan("nan_mask[j]", "words[nan_tree[j]]"),
        "            }",
        "    }",
        "    __m512 sums = _mm512_set1_ps(base_score[0]);",
        "    for (uint32_t t = 0; t < NUM_TREES; ++t) {",
        *("        " + line for line in (*index, *pick)),
        "        sums = _mm512_add_ps(sums, value);",
        "    }",
        "    _mm512_storeu_ps(acc, sums);",
        "}",
        "#endif",
        "void edgekit_predict(const float *row, float *out) { acc_t acc[1]; score_row(row, acc); finish(acc, out); }",
        "void edgekit_predict_batch(const float *rows, size_t n, float *out) {",
        "    size_t i = 0;",
        "#if defined(VQS)",
        '    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq"))',
        "        for (acc_t wide[16]; i + 16 <= n; i += 16) {",
        "            block16(rows + i * NUM_FEATURES, wide);",
        "            for (uint32_t b = 0; b < 16u; ++b) finish(wide + b, out + (i + b) * edgekit_num_outputs);",
        "        }",
        "#endif",
        "    for (acc_t acc[1]; i < n; ++i) { score_row(rows + i * NUM_FEATURES, acc); finish(acc, out + i * edgekit_num_outputs); }",
        "}",
        "",
    ]
    return "\n".join(lines)


def check_identical(systems: dict[str, Path], batch: np.ndarray) -> dict[str, float]:
    """Each system's largest difference from the table layout on the batch (0: bit-identical)."""
    from edgekit_runtime.predictors.c import CPredictor

    reference = CPredictor(systems["table"]).predict(batch)
    return {system: float(np.max(np.abs(CPredictor(path).predict(batch) - reference))) for system, path in systems.items()}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    args = arguments(__doc__.splitlines()[0], "fewer rounds and repeats, the two 30-feature shallow models")
    rounds, single, batches = (3, 100, 5) if args.quick else (5, 300, 10)
    from edgekit import train_bundle
    from edgekit.compile.trees.tables import bundle_trees

    results = []
    with scratch() as work:
        ghz = clock_ghz(work)
        for name in ("xgb-100x6", "xgb-1000x4") if args.quick else MODELS:
            features, params = MODELS[name]
            bundle = train_bundle(wide_table(work, features), work / name, family="xgboost", name=name, params=params)
            rows = np.asarray(bundle.reference()["test_X"], dtype=np.float32)
            batch = np.ascontiguousarray(rows[np.random.default_rng(0).integers(0, len(rows), BATCH_ROWS)])
            np.save(work / f"{name}-batch.npy", batch)
            systems, facts = prepare(name, bundle, work)
            tables = bundle_trees(bundle).tables
            facts["visits_per_row"] = mean_node_visits(tables, batch.astype(np.float64), count_leaf=False)
            if len(systems) > 1:
                facts.update(work_counts(tables, batch))
            facts["max_abs_diff_vs_table"] = check_identical(systems, batch)
            samples = interleaved_rounds(__file__, {system: [str(path), str(work / f"{name}-batch.npy"), str(single), str(batches)]
                                                    for system, path in systems.items()}, rounds, f"{name}: ")
            runs = medians(samples)
            for run in runs.values():
                run["ns_per_row"] = run["batch_ms"] * 1e6 / BATCH_ROWS
                run["batch_speedup"] = runs["table"]["batch_ms"] / run["batch_ms"]  # > 1: faster than the table layout
                run["single_row_speedup"] = runs["table"]["single_row_us"] / run["single_row_us"]
            results.append({"model": name, **facts, "clock_ghz": ghz, "rounds": rounds, "runs": runs})
            written = write_results(args.out, "bench_quickscorer_quick" if args.quick else "bench_quickscorer", results, markdown)
    print(written.read_text())


def markdown(results: list[dict], machine: dict) -> str:
    lines = [
        "# QuickScorer-family scorers vs. edgekit's C table layout",
        "",
        (f"{machine_line(machine)}. One thread; a fresh process per system per round, interleaved rounds, medians. "
         f"Batch = {BATCH_ROWS} rows (edgekit_predict_batch through ctypes); single row = one call per row from Python, "
         "cycling through 256 rows. Speed-up = table ÷ system (> 1: faster than the table layout). Every system's outputs "
         "are checked against the table layout's on the batch."),
        "",
        f"Reproduce: `{COMMAND}` (the systems and the work counts: the script's docstring).",
        "",
    ]
    for result in results:
        lines += [f"## {result['model']}: {result['trees']} trees, {result['features']} features (table layout: {result['table_form']})", ""]
        work = (f"Leaves per tree: max {result['leaves_max']}, mean {result['leaves_mean']:.1f}. Node visits per row (table walk): "
                f"{result['visits_per_row']:.0f}.")
        if "internal_nodes" in result:
            work += (f" QuickScorer, {result['word_bits']}-bit words: {result['internal_nodes']} internal nodes, "
                     f"{result['right_nodes_per_row']:.0f} go right per row (scalar scan), {result['vqs_nodes_per_row']:.0f} "
                     f"per row scanned by blocks of 16 (V-QS).")
        else:
            work += (f" {result['trees_over_64_leaves']} of {result['trees']} trees have more than 64 leaves: no QuickScorer "
                     "build (one 64-bit word per tree).")
        work += f" Compile without --layout picks: {result['default_layout']}."
        lines += [work + f" Clock {result['clock_ghz']:.2f} GHz; {result['rounds']} rounds.", "",
                  "| system | batch ns/row | batch speed-up | single row µs | single-row speed-up | max abs diff vs table |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, run in result["runs"].items():
            lines.append(f"| {name} | {run['ns_per_row']:.0f} | {run['batch_speedup']:.2f}× | {run['single_row_us']:.2f} | "
                         f"{run['single_row_speedup']:.2f}× | {result['max_abs_diff_vs_table'][name]:.2g} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
