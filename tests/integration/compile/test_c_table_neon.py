"""The table layout's aarch64 NEON batch kernel (16 rows a block, four to a vector), cross-compiled
and run under qemu-aarch64: every batch row bit for bit its single-row output (the scalar walk) and
the model's, on complete and node-walk trees, with missing values and non-finite inputs, blocks
with and without a NaN, and a tail of rows past the last whole block."""

import subprocess

import numpy as np
import pytest
from tests_support import assert_matches_certificate, compile_tree_kernel, require_tool, train_tree_cases

from edgekit import compile_bundle
from edgekit.compile.c.table import table_source
from edgekit.compile.c.toolchains import C_RUNTIME_DIRECTORY, build_harness
from edgekit.compile.c.tree_simd import neon_gain
from edgekit.compile.trees.tables import bundle_trees

TRIPLE = "aarch64-linux-gnu"
# (data, family, params, the walk the table layout picks)
CASES = {
    # complete trees within the register levels, learned default directions for missing values
    "complete-missing": ("synthetic:sensors?rows=4000&missing=0.1", "xgboost", {"n_estimators": "23", "max_depth": "4"}, "complete"),
    # one and two levels: BSL levels only
    "depth-1": ("bundled:breast-cancer", "xgboost", {"n_estimators": "5", "max_depth": "1"}, "complete"),
    "depth-2": ("bundled:wine", "xgboost", {"n_estimators": "6", "max_depth": "2"}, None),
    # complete trees deeper than the register levels: the last levels lane by lane
    "complete-depth-8": ("dense30", "xgboost", {"n_estimators": "9", "max_depth": "8"}, "complete"),
    # node-walk trees deeper than their top levels: the scalar node walk below them
    "walk-deep-missing": ("synthetic:sensors?rows=20000&missing=0.05", "xgboost", {"n_estimators": "9", "max_depth": "8"}, "node walk"),
    # multi-class: one tree per class in turn (per-tree outputs), and a forest averaging class vectors
    "softmax": ("bundled:digits", "xgboost", {"n_estimators": "4", "max_depth": "3"}, None),
    "forest-classes": ("bundled:wine", "random-forest", {"n_estimators": "7", "max_depth": "5"}, None),
    "regression": ("synthetic:sensors?rows=3000&missing=0", "gradient-boosting", {"n_estimators": "11", "max_depth": "5"}, None),
}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return train_tree_cases(tmp_path_factory.mktemp("neon-bundles"), CASES)


def _harness(source: str, work, lanes: int):
    require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    require_tool("qemu-aarch64", "qemu-user")
    toolchain, objects = compile_tree_kernel(source, work, TRIPLE, lanes, C_RUNTIME_DIRECTORY / "edgekit_threads.c")
    return build_harness(toolchain, objects, work)


def _run(harness, rows: np.ndarray, *mode: str) -> np.ndarray:
    text = "\n".join(",".join(f"{value:.9g}" for value in row) for row in rows) + "\n"
    result = subprocess.run(["qemu-aarch64", str(harness), *mode], input=text, capture_output=True, text=True, check=True, timeout=300)
    return np.loadtxt(result.stdout.splitlines(), delimiter=",", ndmin=2, dtype=np.float32)


def _rows(reference: np.ndarray, count: int, missing: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    rows = reference[rng.integers(0, len(reference), count)].astype(np.float32)
    if missing:
        rows[16:] = np.where(rng.random(rows[16:].shape) < missing, np.nan, rows[16:])  # the first block has none
        rows[40] = np.nan
        rows[41, :] = np.inf
        rows[42, 0] = -np.inf
        rows[43, :] = 3e38
    return rows


@pytest.mark.parametrize("name", list(CASES))
def test_neon_batches_are_the_single_row_outputs_bit_for_bit(name, bundles, tmp_path):
    bundle = bundles[name]
    source = table_source(bundle_trees(bundle).tables, bundle.info.content_hash, "a test")
    walk = CASES[name][3]
    assert "neon16(" in source and (walk is None or walk in source.splitlines()[0])
    harness = _harness(source, tmp_path, 4)
    reference = bundle.reference()
    for missing in (0.0, 0.15):
        rows = _rows(reference["X"], 16 * 6 + 13, missing)  # six blocks and a tail of 13
        batch = _run(harness, rows, "--count-batch", "1")
        single = _run(harness, rows)  # edgekit_predict: the scalar walk, one row at a time
        np.testing.assert_array_equal(batch, single, err_msg=f"missing={missing}")
    assert_matches_certificate(lambda rows: _run(harness, rows, "--count-batch", "1"), bundle)  # and the batch is the model


def test_the_aarch64_artifact_records_the_cost_rule_and_its_batches_match_its_certificate(bundles, tmp_path):
    bundle = bundles["complete-missing"]
    artifact = compile_bundle(bundle.path, "c", tmp_path / "artifact", options={"triple": TRIPLE})
    options = artifact.info.options
    gain = neon_gain(bundle_trees(bundle).tables)
    assert options["layout"] == "table" and f"{gain.predicted:.2f}" in options["neon_rule"]
    source = (artifact.path / "src" / "model.c").read_text()
    assert f"#define NEON_LANES {4 if gain.chosen else 0}u" in source
    assert artifact.info.parity["max_abs_diff"] <= 1e-5
