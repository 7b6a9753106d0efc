"""Drift statistics on real histograms: the device's Histograms counting synthetic sensor data
against a baseline from the training data, summed by the server's Totals."""

import numpy as np
import pytest
from edgekit_runtime.inputs.telemetry import Histograms

from edgekit.data.baseline import feature_baseline
from edgekit.data.schema import infer_schema
from edgekit.data.synthetic import LABEL, generate_sensors, parse_knobs
from edgekit.server.monitoring.drift import DriftThresholds, feature_drift, ks_binned, ks_critical, psi
from edgekit.server.monitoring.totals import Totals

# offset + regime move these and nothing else (test_offset_and_regime_move_only_their_sensors)
MOVED = {"temperature_c", "load_pct", "current_a", "rpm"}


def _frame(knobs: str):
    return generate_sensors(parse_knobs(knobs)).drop(columns=[LABEL])


@pytest.fixture(scope="module")
def training():
    frame = _frame("rows=5000&seed=0")
    schema = infer_schema(frame, LABEL, "synthetic:sensors")
    return schema, {"features": feature_baseline(schema, schema.encode(frame)), "predictions": {}}


def _observed(training, knobs: str, reports: int = 20, rows: int = 100) -> Totals:
    schema, baseline = training
    encoded = schema.encode(_frame(knobs)).astype(np.float32)
    totals = Totals()
    for index in range(reports):  # one device's reports, each a fresh set of counters
        histograms = Histograms(baseline)
        histograms.add(encoded[index * rows:(index + 1) * rows], None)
        snapshot = histograms.snapshot()
        totals.add({"counters": {"rows": rows, "histogram_rows": snapshot["rows"]}, "features": snapshot["features"]})
    return totals


def _breached(training, totals: Totals) -> set[str]:
    return {found.feature for found in feature_drift(training[1], totals) if found.breaches(DriftThresholds())}


@pytest.mark.parametrize("seed", range(1, 11))
def test_no_alarm_without_drift(training, seed):
    assert _breached(training, _observed(training, f"rows=2000&seed={seed}")) == set()


@pytest.mark.parametrize("seed", range(1, 6))
def test_a_shifted_sensor_and_a_new_regime_alarm_on_the_moved_features_only(training, seed):
    breached = _breached(training, _observed(training, f"rows=2000&seed={seed}&offset=8&regime=0.4"))
    assert {"temperature_c", "load_pct", "current_a"} <= breached <= MOVED


def test_offset_alone_moves_only_temperature(training):
    assert _breached(training, _observed(training, "rows=2000&seed=3&offset=6")) == {"temperature_c"}


def test_offset_and_regime_move_only_their_sensors():
    plain, moved = _frame("rows=3000&seed=4"), _frame("rows=3000&seed=4&offset=8&regime=0.4")
    unchanged = {column for column in plain.columns if plain[column].equals(moved[column])}
    assert unchanged == set(plain.columns) - MOVED


def test_too_few_rows_give_no_verdict(training):
    totals = _observed(training, "rows=2000&seed=2&offset=20", reports=2)  # 200 rows < min_rows 500
    assert _breached(training, totals) == set()
    assert _breached(training, _observed(training, "rows=2000&seed=2&offset=20", reports=6)) == {"temperature_c"}


def test_statistics_on_known_histograms():
    assert psi(np.array([50, 50]), np.array([50, 50])) == pytest.approx(0.0)
    assert psi(np.array([90, 10]), np.array([10, 90])) > 1.0
    assert ks_binned(np.array([1, 0, 0]), np.array([0, 0, 1]), ordered=True) == pytest.approx(1.0)
    assert ks_binned(np.array([1, 1]), np.array([1, 1]), ordered=False) == 0.0
    assert ks_critical(10_000, 10_000) < ks_critical(100, 100)


def test_latency_quantile_reads_the_bucket_bounds():
    totals = Totals()
    totals.add({"latency_us": {"buckets": [1, 2, 5], "counts": [90, 9, 1, 0]}})
    assert totals.latency_quantile(0.5) == 1 and totals.latency_quantile(0.99) == 2 and totals.latency_quantile(1.0) == 5
    totals.add({"latency_us": {"buckets": [1, 2, 5], "counts": [0, 0, 0, 100]}})
    assert totals.latency_quantile(0.99) == float("inf")
