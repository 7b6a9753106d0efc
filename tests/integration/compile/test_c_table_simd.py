"""The table layout's SIMD batch kernels (AVX-512: 16 rows per instruction, AVX2: 8) against its
scalar walk and its single-row entry point: every path gives every row bit for bit the same
output, on complete and node-walk trees of many shapes, with missing values and non-finite inputs."""

from pathlib import Path

import numpy as np
import pytest
from edgekit_runtime.predictors.c import CPredictor
from tests_support import assert_matches_certificate, compile_tree_kernel, require_tool, train_tree_cases

from edgekit.compile.c.table import table_source
from edgekit.compile.c.toolchains import HOST_TRIPLE, link_libraries
from edgekit.compile.trees.tables import bundle_trees

# (data, family, params): binary and multi-class boosters, a regression, a forest averaging class
# vectors; trees shallower than a register level's load (it reads past the tree) and deeper than
# the levels held in registers (gathered); learned default directions for missing values
CASES = {
    "xgboost-binary-missing": ("synthetic:sensors?rows=20000&missing=0.1", "xgboost", {"n_estimators": "37", "max_depth": "4"}),
    "xgboost-softmax": ("bundled:digits", "xgboost", {"n_estimators": "5", "max_depth": "3"}),
    "xgboost-depth-8": ("dense30", "xgboost", {"n_estimators": "9", "max_depth": "8"}),
    "xgboost-depth-1": ("bundled:breast-cancer", "xgboost", {"n_estimators": "5", "max_depth": "1"}),
    "forest-classes": ("bundled:digits", "random-forest", {"n_estimators": "7", "max_depth": "5"}),
    "gbm-regression": ("synthetic:sensors?rows=5000&missing=0", "gradient-boosting", {"n_estimators": "13", "max_depth": "5"}),
    # too sparse to pad: the top levels in complete form, then a gathered node walk
    "walk-xgboost-missing": ("synthetic:sensors?rows=20000&missing=0.1", "xgboost", {"n_estimators": "37", "max_depth": "6"}),
    "walk-xgboost-depth-8": ("synthetic:sensors?rows=20000&missing=0.05", "xgboost", {"n_estimators": "9", "max_depth": "8"}),
    "walk-forest-classes": ("bundled:wine", "random-forest", {"n_estimators": "14", "max_depth": "4"}),  # 14 trees past the last 16: more than a block
    "walk-softmax-shallow": ("bundled:wine", "xgboost", {"n_estimators": "11", "max_depth": "3"}),
}
PATHS = {"avx512": ("avx512f", 16), "avx2": ("avx2", 8), "scalar": (None, 0)}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return train_tree_cases(tmp_path_factory.mktemp("simd-bundles"), CASES)


def _library(source: str, work, lanes: int) -> CPredictor:
    require_tool("gcc", "gcc")
    toolchain, objects = compile_tree_kernel(source, work, HOST_TRIPLE, lanes)
    return CPredictor(link_libraries(toolchain, objects, work / "lib")["shared"])


def _rows(reference: np.ndarray, count: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    rows = reference[rng.integers(0, len(reference), count)].astype(np.float32)
    rows[rng.random(rows.shape) < 0.15] = np.nan  # missing values take each node's default direction
    rows[7] = np.nan
    rows[11, :] = np.inf
    rows[13, 0] = -np.inf
    rows[17, :] = 3e38
    return rows


@pytest.mark.parametrize("name", list(CASES))
def test_every_batch_path_gives_each_row_its_single_row_output_bit_for_bit(name, models, tmp_path):
    bundle = models[name]
    tables = bundle_trees(bundle).tables
    source = table_source(tables, bundle.info.content_hash, "a test")
    form = "node walk" if name.startswith("walk-") else "complete trees"
    assert form in source.splitlines()[0] and "trees16(" in source and "trees8(" in source
    rows = _rows(bundle.reference()["X"], 301)  # 18 blocks of 16 and a tail of 13
    outputs, predictors = {}, {}
    for path, (feature, lanes) in PATHS.items():
        if feature is not None and not _cpu_has(feature):
            continue
        predictor = predictors[path] = _library(source, tmp_path / path, lanes)
        outputs[path] = predictor.predict(rows)
        single = np.stack([predictor.predict(row[None, :]).reshape(-1) for row in rows])
        np.testing.assert_array_equal(outputs[path].reshape(single.shape), single, err_msg=path)
    assert {"avx2", "scalar"} <= outputs.keys(), "this machine has AVX2"
    for path, output in outputs.items():
        np.testing.assert_array_equal(output, outputs["scalar"], err_msg=path)
    for path, predictor in predictors.items():  # and every path is the model
        assert_matches_certificate(predictor.predict, bundle, err_msg=path)


def test_binned_and_integer_leaf_tables_keep_the_scalar_walk(models):
    from edgekit.compile.trees.quantize import bin_thresholds, quantize_leaves

    tables = bundle_trees(models["xgboost-binary-missing"]).tables
    source = table_source(tables, "0" * 64, "a test", bin_thresholds(tables, "uint16"), quantize_leaves(tables, "int16"))
    assert "trees16(" not in source and "SIMD_PAD" not in source


def _cpu_has(feature: str) -> bool:
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return feature in flags.split()
