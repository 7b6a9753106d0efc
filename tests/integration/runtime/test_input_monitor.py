"""The input monitor. A C artifact counts in C (edgekit_monitor.c) within each call; a library built
before it, and the other runtimes, count in Python (single rows deferred). Both count every row's
violations and take the same histogram sample of a large batch. Whichever counts, what a report
says must equal the Python monitor counting each call's rows at once, whenever it is asked: at
edges float32 cannot hold, NaN, +-inf, out of range."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest
from edgekit_runtime import load
from edgekit_runtime.errors import InvalidInput, NonFiniteOutput
from edgekit_runtime.inputs.monitor import DEFERRED_ROWS, HISTOGRAM_ALL_ROWS, HISTOGRAM_STEP, InputMonitor
from edgekit_runtime.inputs.telemetry import Histograms
from edgekit_runtime.loader import LoadedModel
from edgekit_runtime.manifest import verify_directory
from edgekit_runtime.predictors.c import CPredictor
from tests_support import edgekit_home, require_tool, six_feature_logistic

from edgekit import train_bundle
from edgekit.bundle import ModelBundle
from edgekit.compile import compile_bundle
from edgekit.compile.c.toolchains import HOST_TRIPLE, compile_objects, link_libraries, toolchain_for
from edgekit.data.sources import load_table


def _hard_rows(artifact, rows: np.ndarray, seed: int) -> np.ndarray:
    """``rows`` with cells at every numeric feature's bin edges (as float32, and one float32 step
    either side), NaN, +-inf, and far out of range."""
    rng = np.random.default_rng(seed)
    rows = np.array(rows, dtype=np.float32)
    baseline = json.loads((artifact / "baseline.json").read_text())["features"]["features"]
    for index, feature in enumerate(baseline):
        if feature["kind"] == "categorical" or not feature["edges"]:
            continue
        picked = rng.choice(len(rows), size=min(len(rows), 3 * len(feature["edges"])), replace=False)
        at = np.float32(np.repeat(feature["edges"], 3)[: len(picked)])
        step = np.tile(np.float32([-np.inf, 0, np.inf]), len(feature["edges"]))[: len(picked)]
        rows[picked, index] = np.where(step == 0, at, np.nextafter(at, step))
    cells = rng.integers(0, rows.size, size=(4, max(1, rows.size // 50)))
    for values, where in zip((np.nan, np.inf, -np.inf, 1e30), cells, strict=True):
        rows.flat[where] = values
    return np.ascontiguousarray(rows)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """C artifacts, each with rows in which every kind of violation happens: sensors (12 features,
    a categorical one, missing values in training; a binary classifier with a score histogram),
    diabetes (10 features, a regression: the value histogram), the digits MLP (64 features, 10
    classes), the six-feature logistic model (fewer features than a vector), and a logistic model on
    259 features (an odd row over 256: its range test goes row by row, not as one stream)."""
    require_tool("gcc", "gcc")
    root = tmp_path_factory.mktemp("monitor")
    built = {}
    with edgekit_home(root):
        sensors = train_bundle("synthetic:sensors?rows=1500&missing=0.05", root / "sensors")
        rows = ModelBundle.load(sensors.path).schema.encode(load_table("synthetic:sensors?rows=600&missing=0.05&seed=3").frame)
        rows[::7, 1] = 1e9  # above the training maximum
        rows[::11, 2] = -5.0  # below the minimum
        rows[::13, 0] = np.nan  # a category that was never missing in training
        rows[::17, 0] = 1.5  # not a category code
        built["sensors"] = (compile_bundle(sensors.path, "c", root / "sensors-c").path, rows)
        for name, data, family in (("diabetes", "bundled:diabetes", "xgboost"), ("digits", "bundled:digits", "mlp")):
            bundle = train_bundle(data, root / name, family=family, params={"n_estimators": "10"} if family == "xgboost" else {})
            built[name] = (compile_bundle(bundle.path, "c", root / f"{name}-c").path, bundle.reference()["X"])
        logistic = six_feature_logistic(root)
        built["logistic"] = (compile_bundle(logistic.path, "c", root / "logistic-c").path, logistic.reference()["X"])
        rng = np.random.default_rng(7)
        wide = pd.DataFrame(rng.normal(size=(300, 259)), columns=[f"f{index}" for index in range(259)])
        wide["label"] = (wide["f0"] + wide["f258"] > 0).astype(int)
        bundle = train_bundle(wide, root / "wide", family="logistic", label="label")
        built["wide"] = (compile_bundle(bundle.path, "c", root / "wide-c").path, bundle.reference()["X"])
    return {name: (artifact, _hard_rows(artifact, np.resize(rows, (600, rows.shape[1])), seed))
            for seed, (name, (artifact, rows)) in enumerate(built.items())}


def _expected(artifact, calls):
    """The counts to reproduce: the Python monitor counting each call's rows at once — every row's
    violations, and the histograms of every row of a call of up to HISTOGRAM_ALL_ROWS rows, of every
    HISTOGRAM_STEP-th row of a larger one."""
    model = load(artifact)
    monitor = InputMonitor(model.schema, Histograms.load(artifact))
    for rows in calls:
        rows = np.asarray(rows, dtype=np.float32)
        monitor._count_violations(rows, None)
        sample = rows[:: 1 if len(rows) <= HISTOGRAM_ALL_ROWS else HISTOGRAM_STEP]
        monitor.histograms.add(sample, model.runtime_predict(sample))
    report = monitor.report()
    report["histograms"].pop("latency_us")
    return report


def _singles(rows):
    """Rows predicted one by one (or in calls of up to HISTOGRAM_ALL_ROWS), as calls binned whole."""
    return [rows[start: start + HISTOGRAM_ALL_ROWS] for start in range(0, len(rows), HISTOGRAM_ALL_ROWS)]


def _without_latency(report):
    latency = report["histograms"].pop("latency_us")
    return report, sum(latency["counts"])


def _predict(model, rows):
    try:
        model.predict(rows)
    except NonFiniteOutput:  # an infinite input may have no output; its row is counted all the same
        pass


@pytest.mark.parametrize("name", ["sensors", "diabetes", "digits", "logistic", "wide"])
def test_a_c_artifact_counts_every_row_in_c_as_the_python_monitor_counts_them_at_once(models, name):
    artifact, rows = models[name]
    model = load(artifact)
    assert model.monitor.native is not None
    calls = 0
    for row in rows[:100]:
        _predict(model, row)
        calls += 1
    for start, size in ((100, 1), (101, 7), (108, 1)):
        _predict(model, rows[start: start + size])
        calls += 1
    middle, timed = _without_latency(model.input_report())  # a report mid-stream
    assert middle == _expected(artifact, _singles(rows[:109])) and timed == calls
    large = np.resize(rows, (1000, rows.shape[1]))
    _predict(model, large)  # every row's violations, every 16th row's histograms
    for row in rows[109:]:
        _predict(model, row)
    calls += 1 + len(rows) - 109
    final, timed = _without_latency(model.input_report())
    assert final == _expected(artifact, [*_singles(rows[:109]), large, *_singles(rows[109:])])
    assert timed == calls and final["rows"] == len(rows) + 1000 and final["histograms"]["rows"] == len(rows) + 1000 // HISTOGRAM_STEP + 1
    assert final["rows_with_violations"] > 0 and min(final["violations"][kind] for kind in ("missing", "below_min", "above_max")) > 0


def test_threads_predicting_at_once_are_all_counted(models):
    artifact, rows = models["sensors"]
    model = load(artifact, threads=2)
    shares = np.array_split(np.resize(rows, (4 * 2000, rows.shape[1])), 8)

    def work(share, single):
        if single:
            for row in share:
                _predict(model, row)
        else:
            for start in range(0, len(share), 7):
                _predict(model, share[start: start + 7])
            _predict(model, share)  # one large batch each, split over C threads too

    workers = [threading.Thread(target=work, args=(share, index % 2 == 0)) for index, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    reports = [model.input_report() for _ in range(5)]  # reports while they predict: each a consistent total
    for worker in workers:
        worker.join()
    final, _ = _without_latency(model.input_report())
    calls = [piece for index, share in enumerate(shares) for piece in _singles(share) + ([share] if index % 2 else [])]
    assert final == _expected(artifact, calls)
    assert all(report["rows"] <= final["rows"] for report in reports)


def test_a_non_finite_output_is_still_refused_and_its_row_counted(models):
    artifact, rows = models["logistic"]
    model = load(artifact)
    assert model.monitor.native is not None
    batch = np.array([rows[0], [np.inf] * 6, rows[1]], dtype=np.float32)
    with pytest.raises(NonFiniteOutput, match="1 of 3 rows .* row 1") as raised:
        model.predict(batch)
    assert raised.value.rows == [1] and np.isfinite(raised.value.outputs[[0, 2]]).all()
    with pytest.raises(NonFiniteOutput, match="row 0") as raised:
        model.predict(batch[1])
    assert raised.value.outputs.shape == (1, 2) and np.isnan(raised.value.outputs).any()
    report, _ = _without_latency(model.input_report())
    assert report == _expected(artifact, [batch, batch[1:2]])


@pytest.fixture(scope="module")
def old_library(models, tmp_path_factory):
    """The sensors artifact's library as built before edgekit_monitor.c: its own sources without it."""
    artifact, _ = models["sensors"]
    work = tmp_path_factory.mktemp("old")
    toolchain = toolchain_for(HOST_TRIPLE)
    objects = compile_objects(toolchain, [artifact / "src" / "model.c", artifact / "src" / "edgekit_threads.c"], work / "obj")
    return link_libraries(toolchain, objects, work / "lib")["shared"]


def _model_with(artifact, library):
    descriptor = verify_directory(artifact)
    model = load(artifact)
    return LoadedModel(artifact, descriptor, CPredictor(library, descriptor["bundle"]["content_hash"]), model.schema)


def test_a_library_built_before_the_c_monitor_is_counted_in_python(models, old_library):
    artifact, rows = models["sensors"]
    model = _model_with(artifact, old_library)
    assert model.monitor.native is None
    for row in rows[:DEFERRED_ROWS + 37]:
        _predict(model, row)
    report, timed = _without_latency(model.input_report())
    assert report == _expected(artifact, _singles(rows[:DEFERRED_ROWS + 37])) and timed == DEFERRED_ROWS + 37


@pytest.mark.parametrize("asked_at", [1, 100, DEFERRED_ROWS, DEFERRED_ROWS + 37])
def test_python_monitor_single_rows_counted_later_equal_every_row_counted_at_once(models, old_library, asked_at):
    artifact, rows = models["sensors"]
    model = _model_with(artifact, old_library)
    for row in rows[:asked_at]:
        _predict(model, row)
    middle, timed = _without_latency(model.input_report())  # a report while rows are still pending
    assert middle == _expected(artifact, _singles(rows[:asked_at])) and timed == asked_at
    for row in rows[asked_at:]:
        _predict(model, row)
    final, timed = _without_latency(model.input_report())
    assert final == _expected(artifact, _singles(rows)) and timed == len(rows)
    assert final["rows_with_violations"] > 0 and set(final["violations"]) == {"missing", "below_min", "above_max", "unknown_category"}


def test_python_monitor_counts_a_batchs_violations_on_every_row_and_bins_a_systematic_sample(models, old_library):
    artifact, rows = models["sensors"]
    model = _model_with(artifact, old_library)
    _predict(model, rows)
    report, _ = _without_latency(model.input_report())
    assert report == _expected(artifact, [rows]) and report["rows"] == len(rows)
    assert report["histograms"]["rows"] == len(rows[::HISTOGRAM_STEP])


def test_encoded_rows_with_unknown_categories_are_counted_in_c_as_in_python(models, old_library):
    """The serving modes' path (predict_encoded): an unknown category is NaN in the row and marked;
    it counts as an unknown category, not as a missing value."""
    artifact, rows = models["sensors"]
    unknown = np.zeros(rows.shape, dtype=bool)
    unknown[::5, 0] = True
    marked = rows.copy()
    marked[unknown] = np.nan
    counted = {}
    for label, model in (("c", load(artifact)), ("python", _model_with(artifact, old_library))):
        model.predict_encoded(marked, unknown)
        report = model.input_report()
        counted[label] = {key: report[key] for key in ("rows", "rows_with_violations", "violations", "features")}
    assert counted["c"] == counted["python"] and counted["c"]["violations"]["unknown_category"] >= unknown.sum()


def test_a_single_row_in_any_float_layout_is_one_counted_call_with_the_same_answer(models):
    """The harness's single-row path (one closure, one C call) takes float64 rows, 1-D rows and
    strided views, and answers and counts them exactly as the contiguous float32 row."""
    artifact, rows = models["digits"]
    model = load(artifact)
    row = rows[:1]
    expected = model.runtime_predict(row)
    wide = np.zeros((1, 2 * rows.shape[1]), dtype=np.float32)
    wide[0, ::2] = row[0]
    layouts = [row, row[0], row.astype(np.float64), row[0].astype(np.float64), wide[:, ::2], row.tolist()]
    for layout in layouts:
        np.testing.assert_array_equal(model.predict(layout), expected)
    report, timed = _without_latency(model.input_report())
    assert report == _expected(artifact, [row] * len(layouts)) and timed == len(layouts)
    with pytest.raises(InvalidInput, match=f"expected rows of {rows.shape[1]} features"):
        model.predict(row[:, :-1])
    with pytest.raises(InvalidInput, match="rows must be numbers"):
        model.predict(np.array([["a"] * rows.shape[1]]))
