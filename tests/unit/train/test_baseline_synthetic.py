import numpy as np
import pandas as pd
import pytest

from edgekit.data.baseline import decile_edges, feature_baseline, histogram, prediction_baseline
from edgekit.data.schema import infer_schema
from edgekit.data.synthetic import generate_sensors, parse_knobs
from edgekit.errors import BadInput


def test_histogram_bins_follow_the_documented_rule():
    edges = np.array([1.0, 2.0])
    # bin i holds edges[i-1] <= x < edges[i]: an edge value belongs to the bin above it
    assert histogram(np.array([0.5, 1.0, 1.5, 2.0, 9.0, np.nan]), edges).tolist() == [1, 2, 2]


def test_feature_baseline_counts_every_row_once():
    frame = pd.DataFrame({"x": np.arange(100.0), "kind": ["a", "b"] * 50})
    frame.loc[3, "x"] = np.nan
    schema = infer_schema(frame, "y", "t")
    baseline = feature_baseline(schema, schema.encode(frame))
    numeric, categorical = baseline["features"]
    assert sum(numeric["counts"]) + numeric["missing"] == 100 and numeric["missing"] == 1
    assert len(numeric["counts"]) == len(numeric["edges"]) + 1 == 10
    assert categorical["counts"] == [50, 50]


def test_prediction_baseline_for_binary_scores():
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    summary = prediction_baseline("classification", outputs, ["no", "yes"])
    assert summary["counts"] == [1, 2]
    assert sum(summary["positive_score"]["counts"]) == 3
    assert decile_edges(np.array([np.nan])).size == 0


def test_sensors_are_seeded_and_drift_moves_them():
    base = generate_sensors(parse_knobs("rows=2000&seed=3"))
    assert base.equals(generate_sensors(parse_knobs("rows=2000&seed=3")))
    drifted = generate_sensors(parse_knobs("rows=2000&seed=3&drift=1"))
    assert drifted["temperature_c"].mean() > base["temperature_c"].mean() + 5
    assert drifted["failure"].mean() > base["failure"].mean()
    assert 0.05 < base["failure"].mean() < 0.2
    assert base.drop(columns=["machine_type", "failure"]).isna().mean().mean() == pytest.approx(0.01, abs=0.005)


@pytest.mark.parametrize(
    "query, message",
    [("rows=0", "knob 'rows'"), ("colour=red", "knob 'colour'"), ("drift=lots", "knob 'drift'"), ("concept=2", "knob 'concept'")],
)
def test_bad_knobs_are_named(query, message):
    with pytest.raises(BadInput, match=message):
        parse_knobs(query)


def test_regression_prediction_edges_sit_between_outputs_so_an_ulp_moves_no_bin():
    """Tree outputs tie on a decile; a compiled artifact's float32 sum one ulp below the tie must count the same bins."""
    outputs = np.repeat(np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32), [10, 40, 30, 20])
    summary = prediction_baseline("regression", outputs, None)
    edges = np.asarray(summary["edges"])
    assert not np.isin(edges, outputs).any()  # no output lies on an edge
    assert summary["counts"] == histogram(outputs.astype(np.float64), edges).tolist()
    assert sum(summary["counts"]) == 100
    nudged = np.nextafter(outputs, np.float32(-np.inf))  # every output one float32 ulp lower
    assert histogram(nudged.astype(np.float64), edges).tolist() == summary["counts"]
