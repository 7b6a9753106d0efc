"""The dense C batch entry point (blocks of rows as small matrix products) against the single-row
entry point of the same library: generated C through the host gcc, loaded with ctypes."""

import dataclasses
import subprocess
import warnings

import numpy as np
import pytest
from edgekit_runtime.predictors.c import CPredictor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tests_support import require_tool

from edgekit.compile.c.dense import dense_block, dense_source
from edgekit.compile.c.literals import float_literals
from edgekit.compile.c.toolchains import (
    C_RUNTIME_DIRECTORY,
    HOST_TRIPLE,
    compile_objects,
    link_libraries,
    toolchain_for,
)
from edgekit.compile.dense import dense_from_pipeline

rng = np.random.default_rng(3)
FEATURES = 7
X = rng.normal(size=(300, FEATURES)) * [1, 10, 0.01, 1000, 1, 1, 3] + [0, 5, 400, -3, 0, 0, 1]

MODELS = {
    "mlp-relu-softmax": (MLPClassifier(hidden_layer_sizes=(13, 6), max_iter=60), np.digitize(X[:, 0], [-0.5, 0.5])),
    "mlp-tanh-binary": (MLPClassifier(hidden_layer_sizes=(9,), activation="tanh", max_iter=60), (X[:, 1] > 5).astype(int)),
    "mlp-logistic-regression": (MLPRegressor(hidden_layer_sizes=(5, 4), activation="logistic", max_iter=60), X[:, 0]),
    "logistic-binary": (LogisticRegression(), (X[:, 0] > 0).astype(int)),
    "ridge": (Ridge(), X[:, 0] * 3 + X[:, 1]),
}


def _dense(name):
    estimator, y = MODELS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = make_pipeline(StandardScaler(), estimator).fit(X, y)
    return dense_from_pipeline(pipeline, FEATURES)


def _library(model, int8, work, defines=None):
    require_tool("gcc", "gcc")
    work.mkdir(parents=True, exist_ok=True)
    source = work / "model.c"
    source.write_text(dense_source(model, "0" * 64, "a test", int8))
    toolchain = toolchain_for(HOST_TRIPLE)
    if defines is not None:
        toolchain = dataclasses.replace(toolchain, defines=defines)
    objects = compile_objects(toolchain, [source], work / "obj")
    return CPredictor(link_libraries(toolchain, objects, work / "lib")["shared"])


def _rows(count):
    rows = rng.normal(size=(count, FEATURES)) * X.std(axis=0) + X.mean(axis=0)
    rows[::9, 2] = np.nan  # missing values take the fill
    rows[5] = np.nan
    rows[17, :] = 3e38  # bounded to the layers' float range
    rows[23, 3] = -3e38
    rows[29, 1] = 1e30
    rows[31, :] = np.inf
    rows[37, 0] = -np.inf
    return rows.astype(np.float32)


def _single_rows(predictor, rows):
    return np.stack([predictor.predict(row).reshape(-1) for row in rows])


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
@pytest.mark.parametrize("name", list(MODELS))
def test_batch_entry_point_matches_the_single_row_entry_point(name, int8, tmp_path):
    model = _dense(name)
    predictor = _library(model, int8, tmp_path)
    rows = _rows(301)  # not a whole number of blocks
    single = _single_rows(predictor, rows)
    for count in (301, 16, 5, 1):  # whole blocks, one block, a short block alone
        batch = predictor.predict(rows[:count]).reshape(count, -1)
        np.testing.assert_array_equal(batch, single[:count])  # bit for bit (NaN where the single row has NaN)
    assert np.isfinite(single[:5]).all()
    assert np.isnan(single[17]).all() if int8 else np.isfinite(single[17]).all()  # int8: refused, float32: bounded


def test_microcontroller_builds_keep_the_row_loop_and_agree(tmp_path):
    model = _dense("mlp-relu-softmax")
    rows = _rows(40)
    blocked = _library(model, False, tmp_path / "blocked").predict(rows)
    portable = _library(model, False, tmp_path / "portable", defines=()).predict(rows)  # no target clones
    np.testing.assert_allclose(blocked, portable, rtol=0, atol=1e-6, equal_nan=True)
    by_rows = _library(model, False, tmp_path / "rows", defines=("-DEDGEKIT_BLOCK=1u",)).predict(rows)
    np.testing.assert_allclose(blocked, by_rows, rtol=0, atol=1e-6, equal_nan=True)


def test_block_size_keeps_the_activation_buffers_within_64_kib_of_stack():
    model = _dense("ridge")
    assert dense_block(model) == 16
    wide = dataclasses.replace(model, mean=np.zeros(1500), inverse_scale=np.ones(1500), fill=np.zeros(1500),
                               layers=(dataclasses.replace(model.layers[0], weights=np.zeros((1500, 1))),))
    assert dense_block(dataclasses.replace(wide, mean=np.zeros(600))) == 8
    assert dense_block(wide) == 0  # 8 rows of 1500 floats twice would pass 64 KiB: one row at a time


DRIVER = r"""
#include <math.h>
#include <stdio.h>
#include "edgekit_model.h"
static const float rows[] = {%s};
#define N %du
int main(void) {
    static float batch[N * 16], single[16];
    edgekit_predict_batch(rows, N, batch);
    double worst = 0.0;
    unsigned mismatched = 0;
    for (unsigned r = 0; r < N; ++r) {
        edgekit_predict(rows + r * edgekit_num_features, single);
        for (unsigned k = 0; k < edgekit_num_outputs; ++k) {
            const float b = batch[r * edgekit_num_outputs + k], s = single[k];
            if (isnan(b) != isnan(s)) ++mismatched;
            else if (!isnan(b) && fabs((double)b - s) > worst) worst = fabs((double)b - s);
        }
    }
    printf("%%u %%.9g\n", mismatched, worst);
    return 0;
}
"""


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
def test_aarch64_batch_entry_point_matches_the_single_row_entry_point_under_qemu(int8, tmp_path):
    """The NEON build of the block kernels (the x86-64 ones run above), through qemu-user."""

    toolchain = toolchain_for("aarch64-linux-gnu")
    compiler = require_tool(toolchain.compiler, toolchain.package)
    require_tool("qemu-aarch64", "qemu-user")
    model = _dense("mlp-relu-softmax")
    rows = _rows(45)
    source = tmp_path / "model.c"
    source.write_text(dense_source(model, "0" * 64, "a test", int8))
    objects = compile_objects(toolchain, [source], tmp_path / "obj")
    driver = tmp_path / "driver.c"
    driver.write_text(DRIVER % (float_literals(rows), len(rows)))
    program = tmp_path / "driver"
    subprocess.run([compiler, "-std=c99", "-O2", "-static", f"-I{C_RUNTIME_DIRECTORY}",
                    str(driver), *map(str, objects), "-o", str(program), "-lm"], check=True)
    mismatched, worst = subprocess.run(["qemu-aarch64", str(program)], capture_output=True, text=True,
                                       check=True).stdout.split()
    assert int(mismatched) == 0 and float(worst) <= 1e-6, (mismatched, worst)

