"""The table layout's SIMD batch kernels (AVX-512: 16 rows per instruction, AVX2: 8) against its
scalar walk and its single-row entry point: every path gives every row bit for bit the same
output, on complete and node-walk trees of many shapes, with missing values and non-finite inputs."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from edgekit_runtime.predictors.c import CPredictor
from tests_support import require_tool

from edgekit import train_bundle
from edgekit.compile.c.table import table_source
from edgekit.compile.c.toolchains import HOST_TRIPLE, compile_objects, link_libraries, toolchain_for
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
    from sklearn.datasets import make_classification

    work = tmp_path_factory.mktemp("simd-bundles")
    X, y = make_classification(n_samples=20_000, n_features=30, n_informative=18, random_state=0)  # near-complete deep trees
    dense = work / "dense30.csv"
    np.savetxt(dense, np.column_stack([X, y]), delimiter=",", header=",".join([f"f{i}" for i in range(30)] + ["label"]),
               comments="", fmt="%.7g")
    built = {}
    for name, (data, family, params) in CASES.items():
        label, task = ("temperature_c", "regression") if family == "gradient-boosting" else ("label", None) if data == "dense30" else (None, None)
        built[name] = train_bundle(str(dense) if data == "dense30" else data, work / name, family=family, params=params, label=label, task=task)
    return built


def _library(source: str, work, lanes: int) -> CPredictor:
    require_tool("gcc", "gcc")
    work.mkdir(parents=True, exist_ok=True)
    (work / "model.c").write_text(source)
    toolchain = toolchain_for(HOST_TRIPLE)
    toolchain = dataclasses.replace(toolchain, defines=(*toolchain.defines, f"-DEDGEKIT_TREE_LANES={lanes}u"))
    objects = compile_objects(toolchain, [work / "model.c"], work / "obj")
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
    reference = bundle.reference()  # and every path is the model: the certificate's test rows
    expected = reference["test_outputs"]
    test_rows = reference["test_X"].astype(np.float32)
    for path, predictor in predictors.items():
        got = predictor.predict(test_rows).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, atol=1e-5 * max(1.0, float(np.abs(expected).max())), err_msg=path)


def test_binned_and_integer_leaf_tables_keep_the_scalar_walk(models):
    from edgekit.compile.trees.quantize import bin_thresholds, quantize_leaves

    tables = bundle_trees(models["xgboost-binary-missing"]).tables
    source = table_source(tables, "0" * 64, "a test", bin_thresholds(tables, "uint16"), quantize_leaves(tables, "int16"))
    assert "trees16(" not in source and "SIMD_PAD" not in source


def _cpu_has(feature: str) -> bool:
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return feature in flags.split()
