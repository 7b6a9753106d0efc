"""The tree tables read through Treelite, and the C table layout built from them, reproduce the
original models: the NumPy walk directly, the C through gcc -Werror and the harness on stdin."""

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests_support import require_tool

from edgekit import train_bundle
from edgekit.compile.c.table import table_source
from edgekit.compile.trees.tables import tables_from_treelite, treelite_model

RUNTIME_C = Path(__file__).resolve().parents[3] / "runtimes" / "c"
CASES = [
    ("bundled:breast-cancer", "xgboost", None, None),
    ("bundled:wine", "xgboost", None, None),
    ("bundled:wine", "random-forest", None, None),
    ("synthetic:sensors?rows=2000&missing=0.05", "hist-gradient-boosting", None, None),
    ("synthetic:sensors?rows=2000&missing=0.05", "extra-trees", None, None),
    ("synthetic:sensors?rows=1500&missing=0", "gradient-boosting", "temperature_c", "regression"),
]


@pytest.mark.parametrize("data, family, label, task", CASES)
def test_tables_and_c_reproduce_the_model(data, family, label, task, tmp_path):
    gcc = require_tool("gcc", "gcc")
    bundle = train_bundle(data, tmp_path / "b", family=family, label=label, task=task)
    reference = bundle.reference()
    expected = reference["test_outputs"]
    tables = tables_from_treelite(*treelite_model(bundle.model, family))
    np.testing.assert_allclose(tables.predict(reference["test_X"]).reshape(expected.shape), expected, atol=1e-6)

    (tmp_path / "model.c").write_text(table_source(tables, bundle.info.content_hash, "test"))
    build = subprocess.run(
        [gcc, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(RUNTIME_C),
         str(RUNTIME_C / "harness.c"), str(RUNTIME_C / "edgekit_threads.c"), str(tmp_path / "model.c"), "-o", str(tmp_path / "harness"),
         "-pthread", "-lm"],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    rows = io.StringIO()
    np.savetxt(rows, reference["test_X"], fmt="%.9g", delimiter=",")
    run = subprocess.run([str(tmp_path / "harness")], input=rows.getvalue(), capture_output=True, text=True, check=True)
    got = np.loadtxt(io.StringIO(run.stdout), delimiter=",", ndmin=2).reshape(expected.shape)
    scale = 1.0 if task is None else float(np.max(np.abs(expected)))
    np.testing.assert_allclose(got, expected, atol=1e-5 * scale)


def test_harness_refuses_a_short_row(tmp_path):
    gcc = require_tool("gcc", "gcc")
    bundle = train_bundle("bundled:wine", tmp_path / "b", family="xgboost")
    tables = tables_from_treelite(*treelite_model(bundle.model, "xgboost"))
    (tmp_path / "model.c").write_text(table_source(tables, bundle.info.content_hash, "test"))
    subprocess.run(
        [gcc, "-std=c99", "-I", str(RUNTIME_C), str(RUNTIME_C / "harness.c"), str(RUNTIME_C / "edgekit_threads.c"), str(tmp_path / "model.c"), "-pthread",
         "-o", str(tmp_path / "harness"), "-lm"], check=True,
    )
    run = subprocess.run([str(tmp_path / "harness")], input="1,2,3\n", capture_output=True, text=True, check=False)
    assert run.returncode == 2 and "row 1 does not have 13 numeric fields" in run.stderr
