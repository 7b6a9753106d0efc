"""The input monitor defers single rows and samples batches' histograms; what it reports must equal
counting every row at once (violations, histograms of single rows, latencies), whenever it is asked."""

from __future__ import annotations

import numpy as np
import pytest
from edgekit_runtime import load
from edgekit_runtime.inputs.monitor import DEFERRED_ROWS, HISTOGRAM_STEP, InputMonitor
from edgekit_runtime.inputs.telemetry import Histograms
from tests_support import edgekit_home

from edgekit import train_bundle
from edgekit.bundle import ModelBundle
from edgekit.compile import compile_bundle
from edgekit.data.sources import load_table


@pytest.fixture(scope="module")
def sensors(tmp_path_factory):
    """A C artifact of a model with a categorical feature and missing values, and 600 rows in which
    every kind of violation happens."""
    root = tmp_path_factory.mktemp("monitor")
    with edgekit_home(root):
        bundle = train_bundle("synthetic:sensors?rows=1500&missing=0.05", root / "bundle")
    artifact = compile_bundle(bundle.path, "c", root / "artifact").path
    rows = ModelBundle.load(bundle.path).schema.encode(load_table("synthetic:sensors?rows=600&missing=0.05&seed=3").frame)
    rows[::7, 1] = 1e9  # above the training maximum
    rows[::11, 2] = -5.0  # below the minimum
    rows[::13, 0] = np.nan  # a category that was never missing in training
    rows[::17, 0] = 1.5  # not a category code
    return artifact, np.ascontiguousarray(rows, dtype=np.float32)


def _exact(artifact, rows):
    """Every row checked and binned at once: the counts deferral must reproduce."""
    model = load(artifact)
    monitor = InputMonitor(model.schema, Histograms.load(artifact))
    monitor._count_violations(rows, None)
    monitor.histograms.add(rows, model.runtime_predict(rows))
    report = monitor.report()
    report["histograms"].pop("latency_us")
    return report


def _without_latency(report):
    latency = report["histograms"].pop("latency_us")
    return report, sum(latency["counts"])


@pytest.mark.parametrize("asked_at", [1, 100, DEFERRED_ROWS, DEFERRED_ROWS + 37])
def test_single_rows_counted_later_equal_every_row_counted_at_once(sensors, asked_at):
    artifact, rows = sensors
    model = load(artifact)
    for row in rows[:asked_at]:
        model.predict(row)
    middle, timed = _without_latency(model.input_report())  # a report while rows are still pending
    assert middle == _exact(artifact, rows[:asked_at]) and timed == asked_at
    for row in rows[asked_at:]:
        model.predict(row)
    final, timed = _without_latency(model.input_report())
    assert final == _exact(artifact, rows) and timed == len(rows)
    assert final["rows_with_violations"] > 0 and set(final["violations"]) == {"missing", "below_min", "above_max", "unknown_category"}


def test_a_batch_counts_violations_on_every_row_and_bins_a_systematic_sample(sensors):
    artifact, rows = sensors
    model = load(artifact)
    model.predict(rows)
    report = model.input_report()
    exact = _exact(artifact, rows)
    assert {key: report[key] for key in ("rows", "rows_with_violations", "violations", "features")} == \
           {key: exact[key] for key in ("rows", "rows_with_violations", "violations", "features")}
    sampled = _exact(artifact, rows[::HISTOGRAM_STEP])["histograms"]
    assert report["histograms"]["rows"] == len(rows[::HISTOGRAM_STEP]) == sampled["rows"]
    assert report["histograms"]["features"] == sampled["features"] and report["histograms"]["predictions"] == sampled["predictions"]
