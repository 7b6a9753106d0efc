import numpy as np
import pytest

from edgekit.compile.parity import certificate, edge_rows
from edgekit.compile.trees.thresholds import float32_at_or_below


def _reference(rows=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3)).astype(np.float32)
    outputs = np.column_stack([1 / (1 + np.exp(X[:, 0])), 1 - 1 / (1 + np.exp(X[:, 0]))])
    return {"X": X[:10], "outputs": outputs[:10], "test_X": X, "test_outputs": outputs, "test_y": outputs.argmax(1)}


def _model(X):
    p = 1 / (1 + np.exp(X[:, 0].astype(np.float64)))
    return np.column_stack([p, 1 - p])


def test_edge_rows_sit_on_and_beside_each_threshold():
    base = np.zeros((2, 3), dtype=np.float32)
    rows = edge_rows(base, {1: np.array([0.5], dtype=np.float32), 2: np.array([-1.0], dtype=np.float32)})
    assert rows.shape == (6, 3)
    on = np.float32(0.5)
    assert sorted(rows[rows[:, 1] != 0, 1].tolist()) == sorted(
        [np.nextafter(on, np.float32(-1)), on, np.nextafter(on, np.float32(1))]
    )
    assert edge_rows(base, {}).shape == (0, 3)


def test_float32_rounding_keeps_the_comparison_exact():
    thresholds = np.array([0.1, 1 / 3, 2.5, 1e-8])
    rounded = float32_at_or_below(thresholds)
    assert np.all(rounded.astype(np.float64) <= thresholds)
    assert np.all(np.nextafter(rounded, np.float32(np.inf)).astype(np.float64) > thresholds)


def test_a_faithful_artifact_passes():
    result = certificate("classification", "fp32", _model, lambda X: _model(X).astype(np.float32), _reference(), np.zeros((0, 3), np.float32))
    assert result["passed"] and result["label_agreement"] == 1.0 and result["metric"]["loss"] == 0.0


def test_a_drifting_artifact_fails_with_reasons():
    def flipped(X):
        return _model(X)[:, ::-1]

    result = certificate("classification", "fp32", _model, flipped, _reference(), np.zeros((0, 3), np.float32))
    assert not result["passed"]
    assert any("label agreement" in failure for failure in result["failures"])
    assert any("max_abs_diff" in failure for failure in result["failures"])


def test_int8_does_not_gate_on_max_abs_diff_but_on_labels():
    def noisy(X):
        return _model(X) + 0.05

    result = certificate("classification", "int8", _model, noisy, _reference(), np.zeros((0, 3), np.float32))
    assert result["passed"] and result["tolerance"]["max_abs_diff"] is None
    assert result["max_abs_diff"] == pytest.approx(0.05, abs=1e-6)


def _rare_class_reference(rows=2000, positives=25):
    """A 1 %-positive binary problem the original gets right (positives at p = 0.9); every row distinct."""
    X = np.zeros((rows, 3), dtype=np.float32)
    X[:, 1] = np.arange(rows)
    X[:positives, 0] = 1.0
    outputs = np.where(X[:, :1] > 0.5, [[0.1, 0.9]], [[0.95, 0.05]])
    return {"X": X[:100], "outputs": outputs[:100], "test_X": X, "test_outputs": outputs, "test_y": outputs.argmax(axis=1)}


def _rare_class_original(X):
    return np.where(X[:, :1] > 0.5, [[0.1, 0.9]], [[0.95, 0.05]])


def _dropping(misses):
    """An artifact that calls the first ``misses`` positive rows (by their index column) negative."""
    def artifact(X):
        out = _rare_class_original(X)
        out[(X[:, 0] > 0.5) & (X[:, 1] < misses)] = [0.6, 0.4]
        return out
    return artifact


def test_an_int8_build_that_drops_the_rare_class_fails_though_labels_agree_globally():
    reference, empty = _rare_class_reference(), np.zeros((0, 3), np.float32)
    result = certificate("classification", "int8", _rare_class_original, _dropping(5), reference, empty, ["no", "yes"])
    assert result["label_agreement"] > 0.99  # what hid the loss before
    assert not result["passed"]
    assert any(failure.startswith("class yes: the artifact keeps 80.00% of the 50 rows") for failure in result["failures"])
    assert any("class yes: test recall 1.000 -> 0.800" in failure for failure in result["failures"])
    no, yes = result["classes"]
    assert yes["class"] == "yes" and yes["rows"] == 50 and not yes["passed"] and yes["recall"]["artifact"] == pytest.approx(0.8)
    assert no["passed"] and no["agreement"] == 1.0 and result["tolerance"]["class_agreement"] == 0.90
    one = certificate("classification", "int8", _rare_class_original, _dropping(1), reference, empty, ["no", "yes"])
    assert one["passed"], one["failures"]  # one row alone is not a verdict on a class


def test_regression_certificates_have_no_classes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2)).astype(np.float32)
    values = X[:, 0].astype(np.float64)
    reference = {"X": X[:5], "outputs": values[:5], "test_X": X, "test_outputs": values, "test_y": values}
    result = certificate("regression", "fp32", lambda rows: rows[:, 0].astype(np.float64), lambda rows: rows[:, 0], reference,
                         np.zeros((0, 2), np.float32))
    assert result["passed"] and result["classes"] is None and "class_agreement" not in result["tolerance"]


def _passed():
    return {"passed": True, "failures": [], "sets": {}}


def test_a_finite_wrong_label_at_huge_values_fails_the_certificate():
    from edgekit.compile.parity import check_extremes, extreme_rows

    rows = extreme_rows(_reference()["X"], [0, 1, 2])
    assert rows.shape == (4 * (3 + 2), 3) and np.abs(rows).max() == np.finfo(np.float32).max
    assert np.isin(np.abs(rows), np.float32([1e30, np.finfo(np.float32).max])).sum() == 4 * (3 + 3 + 3)

    def saturated_wrong(X):  # finite, and the other class wherever a value is huge
        wrong = _model(X)
        huge = (np.abs(X) >= 1e30).any(axis=1)
        wrong[huge] = wrong[huge, ::-1]
        return wrong

    result = check_extremes(_passed(), "classification", _model, saturated_wrong, rows)
    assert not result["passed"] and "finite label other than the original's" in result["failures"][0]
    assert result["sets"]["extremes"]["disagreements"] > 0


def test_nan_at_huge_values_is_counted_as_an_error_not_a_label():
    from edgekit.compile.parity import check_extremes, extreme_rows

    rows = extreme_rows(_reference()["X"], [0, 1, 2])

    def overflowing(X):
        out = _model(X).astype(np.float32)
        out[(np.abs(X) >= 1e30).sum(axis=1) > 1] = np.nan  # several huge values: inf - inf
        return out

    result = check_extremes(_passed(), "classification", _model, overflowing, rows)
    extremes = result["sets"]["extremes"]
    assert result["passed"] and extremes["errors"] == 4 * 2 and extremes["disagreements"] == 0


def test_nan_outputs_on_ordinary_rows_fail_the_certificate():
    from edgekit.compile.parity import check_extremes

    def sometimes_nan(X):  # NaN on rows of class 0: argmax(NaN) is 0 as well, so the labels agree
        out = _model(X).astype(np.float32)
        out[np.flatnonzero(out.argmax(axis=1) == 0)[:1]] = np.nan
        return out

    reference = _reference()
    result = certificate("classification", "fp32", _model, sometimes_nan, reference, np.zeros((0, 3), np.float32))
    assert result["passed"] and result["max_abs_diff"] == 0.0  # what the comparisons alone make of NaN
    result = check_extremes(result, "classification", _model, sometimes_nan, np.zeros((0, 3), np.float32))
    assert not result["passed"] and result["failures"] == ["NaN or infinite outputs on the reference, test rows"]
