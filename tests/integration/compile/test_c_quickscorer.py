"""The quickscorer layout (the table layout, its AVX-512 batches scored by bitvectors): every row's
output bit for bit the table layout's, on 16-, 32- and 64-leaf trees, several outputs, missing and
non-finite values; the models it refuses; and the cost rule compile applies without --layout."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from edgekit_runtime.predictors.c import CPredictor
from tests_support import require_tool

from edgekit import compile_bundle, train_bundle
from edgekit.compile.c.quickscorer import (
    bitvector_nodes,
    quickscorer_choice,
    quickscorer_refusal,
    quickscorer_source,
    tree_leaf_counts,
)
from edgekit.compile.c.table import table_source
from edgekit.compile.c.toolchains import HOST_TRIPLE, compile_objects, link_libraries, toolchain_for
from edgekit.compile.trees.tables import bundle_trees
from edgekit.errors import BadInput

SENSORS = "synthetic:sensors?rows=4000&missing=0.1"
CASES = {  # (data, family, params, word bits, leaf values per tree in registers)
    "depth-4": (SENSORS, "xgboost", {"n_estimators": "21", "max_depth": "4"}, 32, 16),
    "depth-5": (SENSORS, "xgboost", {"n_estimators": "19", "max_depth": "5"}, 32, 32),
    "depth-6": (SENSORS, "xgboost", {"n_estimators": "9", "max_depth": "6"}, 64, 64),
    "softmax": ("bundled:wine", "xgboost", {"n_estimators": "6", "max_depth": "3"}, 32, 16),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    work = tmp_path_factory.mktemp("quickscorer-bundles")
    return {name: train_bundle(data, work / name, family=family, params=params) for name, (data, family, params, _, _) in CASES.items()}


def _library(source: str, work: Path, lanes: int | None = None) -> CPredictor:
    require_tool("gcc", "gcc")
    work.mkdir(parents=True, exist_ok=True)
    (work / "model.c").write_text(source)
    toolchain = toolchain_for(HOST_TRIPLE)
    if lanes is not None:
        toolchain = dataclasses.replace(toolchain, defines=(*toolchain.defines, f"-DEDGEKIT_TREE_LANES={lanes}u"))
    return CPredictor(link_libraries(toolchain, compile_objects(toolchain, [work / "model.c"], work / "obj"), work / "lib")["shared"])


def _rows(reference: np.ndarray, count: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    rows = reference[rng.integers(0, len(reference), count)].astype(np.float32)
    rows[rng.random(rows.shape) < 0.15] = np.nan  # missing values take each node's default direction
    rows[5] = np.nan
    rows[9, :] = np.inf
    rows[12, :] = -np.inf
    rows[14, :] = 3e38
    rows[40:56] = rows[40:56].copy()
    rows[40:56][np.isnan(rows[40:56])] = 0.0  # a whole block without NaN: the kernel's other instance
    return rows


def _avx512() -> bool:
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "").split()
    return {"avx512f", "avx512cd", "avx512dq"} <= set(flags)


@pytest.mark.parametrize("name", list(CASES))
def test_bitvector_batches_give_every_row_the_table_layouts_output_bit_for_bit(name, models, tmp_path):
    bundle = models[name]
    tables = bundle_trees(bundle).tables
    _, _, _, bits, leaves = CASES[name]
    source = quickscorer_source(tables, bundle.info.content_hash, "a test")
    assert f"{bits}-bit words" in source.splitlines()[0] and f"#define TREE_LEAVES {leaves}u" in source
    assert "bitvector16(" in source and "trees16(" not in source
    rows = _rows(bundle.reference()["X"], 16 * 9 + 7)  # 9 blocks of 16 and a tail
    walk = _library(table_source(tables, bundle.info.content_hash, "a test"), tmp_path / "table", lanes=0).predict(rows)
    paths = {"cpu": None, "scalar": 0}  # the CPU's kernels (bitvector16 where AVX-512 is), and the walk without SIMD
    for path, lanes in paths.items():
        predictor = _library(source, tmp_path / path, lanes)
        np.testing.assert_array_equal(predictor.predict(rows), walk, err_msg=path)
        single = np.stack([predictor.predict(row[None, :]).reshape(-1) for row in rows[:40]])
        np.testing.assert_array_equal(single.reshape(walk[:40].shape), walk[:40], err_msg=path)
        if path == "cpu":  # and the model itself: the certificate's test rows
            reference = bundle.reference()
            got = predictor.predict(reference["test_X"].astype(np.float32))
            np.testing.assert_allclose(got.reshape(reference["test_outputs"].shape), reference["test_outputs"], atol=1e-5)
    assert _avx512() or "avx512f" not in Path("/proc/cpuinfo").read_text(), "this machine runs the bitvector kernel"


def test_leaf_masks_pick_the_walks_leaf(models):
    """The lowest bit left after every right-going node's AND is the leaf the walk reaches."""
    tables = bundle_trees(models["depth-5"]).tables
    nodes = bitvector_nodes(tables)
    rows = models["depth-5"].reference()["X"][:50].astype(np.float32)
    for row in rows:
        words = np.full(tables.num_trees, (1 << nodes.word_bits) - 1, dtype=np.uint64)
        x = row[nodes.feature]
        right = np.where(np.isnan(x), nodes.default_right, x >= nodes.threshold)
        for tree, mask in zip(nodes.tree[right], nodes.mask[right], strict=True):
            words[tree] &= mask
        lowest = np.array([int(w & -w).bit_length() - 1 for w in words.astype(object)])
        for tree, root in enumerate(tables.roots):
            node = root
            while tables.feature[node] >= 0:
                value = row[tables.feature[node]]
                node = tables.child[node] + (0 if (tables.default_left[node] if np.isnan(value) else value < tables.threshold[node]) else 1)
            assert nodes.leaf_node[nodes.leaf_begin[tree] + lowest[tree]] == node


def test_the_cost_rule_picks_quickscorer_for_trees_of_at_most_32_leaves(models, tmp_path):
    shallow, deep = bundle_trees(models["depth-4"]).tables, bundle_trees(models["depth-6"]).tables
    assert tree_leaf_counts(deep).max() > 32
    assert quickscorer_choice(shallow, HOST_TRIPLE) is not None
    assert quickscorer_choice(deep, HOST_TRIPLE) is None
    assert quickscorer_choice(shallow, "aarch64-linux-gnu") is None  # no AVX-512 there: the table layout
    artifact = compile_bundle(models["depth-4"].path, "c", tmp_path / "default")  # no --layout: the rule decides
    assert artifact.info.options["layout"] == "quickscorer" and "32 leaves" in artifact.info.options["layout_rule"]
    table = compile_bundle(models["depth-4"].path, "c", tmp_path / "table", options={"layout": "table"})
    assert table.info.options["layout"] == "table" and "layout_rule" not in table.info.options


def test_models_without_a_bitvector_form_are_refused(models, tmp_path):
    with pytest.raises(BadInput, match="quantize"):
        compile_bundle(models["depth-4"].path, "c", tmp_path / "int16", options={"layout": "quickscorer", "quantize": "int16"})
    tables = bundle_trees(models["depth-4"]).tables
    assert quickscorer_refusal(tables) is None
    vectors = dataclasses.replace(tables, leaf_width=2, leaf_values=np.repeat(tables.leaf_values, 2), child=tables.child * 2)
    assert "vectors" in quickscorer_refusal(vectors).message  # a forest's leaves are class vectors
    assert quickscorer_choice(vectors, HOST_TRIPLE) is None
    many = dataclasses.replace(tables, roots=tables.roots[:1])  # all nodes one tree: past 64 leaves
    assert tree_leaf_counts(many).max() > 64 and "64" in quickscorer_refusal(many).message
