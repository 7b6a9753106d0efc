import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from edgekit.compile.dense import dense_from_pipeline
from edgekit.errors import BadInput

rng = np.random.default_rng(1)
X = rng.normal(size=(200, 4)) * [1, 10, 0.01, 1000] + [0, 5, 400, -3]
X_missing = X.copy()
X_missing[::7, 1] = np.nan


@pytest.mark.parametrize(
    "estimator, y, method",
    [
        (LogisticRegression(), (X[:, 0] > 0).astype(int), "predict_proba"),
        (LogisticRegression(), np.digitize(X[:, 0], [-0.5, 0.5]), "predict_proba"),
        (Ridge(), X[:, 0] * 3 + X[:, 1], "predict"),
        (MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=50), np.digitize(X[:, 0], [0]), "predict_proba"),
        (MLPRegressor(hidden_layer_sizes=(8, 4), max_iter=50), X[:, 0], "predict"),
    ],
)
def test_dense_model_reproduces_the_pipeline(estimator, y, method):
    import warnings

    pipeline = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(X_missing, y)
    dense = dense_from_pipeline(pipeline, 4)
    np.testing.assert_allclose(dense.predict(X_missing), getattr(pipeline, method)(X_missing), rtol=1e-9, atol=1e-9)


def test_other_steps_are_refused():
    from sklearn.preprocessing import RobustScaler

    pipeline = make_pipeline(RobustScaler(), Ridge()).fit(X, X[:, 0])
    with pytest.raises(BadInput, match="cannot fold pipeline step RobustScaler"):
        dense_from_pipeline(pipeline, 4)


@pytest.mark.parametrize("order", ["impute-then-scale", "scale-then-impute"])
def test_min_max_scaler_and_imputer_fold_in_either_order(order):
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler

    rows = X.copy()
    rows[::7, 1] = np.nan
    steps = [SimpleImputer(strategy="median"), MinMaxScaler()]
    pipeline = make_pipeline(*(steps if order == "impute-then-scale" else steps[::-1]), Ridge()).fit(rows, X[:, 0])
    np.testing.assert_allclose(dense_from_pipeline(pipeline, 4).predict(rows), pipeline.predict(rows), atol=1e-9)


# Issue 20: a column whose standard deviation is 1.4e-42 (denormal in float32) made 1/scale
# infinite in float32, and every dense target refused (label agreement 0.48).
DENORMAL = np.column_stack([X, np.random.default_rng(2).normal(0.0, 1.4e-42, len(X))])


def test_a_feature_whose_scale_is_below_float32_resolution_is_held_constant_not_infinite():
    pipeline = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(DENORMAL, (X[:, 0] > 0).astype(int))
    dense = dense_from_pipeline(pipeline, 5)
    assert [index for index, _ in dense.held] == [4] and 1e-42 < dense.held[0][1] < 1e-41
    with np.errstate(over="ignore"):
        assert np.isfinite(dense.inverse_scale.astype(np.float32)).all()
    # In float32, as every backend computes it: the held feature standardises to ~0, every other
    # feature as before.
    rows = DENORMAL.astype(np.float32)
    standardised = (rows - dense.mean.astype(np.float32)) * dense.inverse_scale.astype(np.float32)
    assert np.all(np.abs(standardised[:, 4]) < 1e-38)
    np.testing.assert_allclose(standardised[:, :4], pipeline[:-1].transform(rows)[:, :4], rtol=1e-5, atol=1e-5)
    # The folded model is scikit-learn's with that feature pinned at its mean.
    pinned = DENORMAL.copy()
    pinned[:, 4] = pipeline[1].mean_[4]
    np.testing.assert_allclose(dense.predict(DENORMAL), pipeline.predict_proba(pinned), atol=1e-9)


def test_a_min_max_range_below_float32_resolution_is_already_held_by_scikit_learn():
    from sklearn.preprocessing import MinMaxScaler

    pipeline = make_pipeline(MinMaxScaler(), Ridge()).fit(DENORMAL, X[:, 0])
    dense = dense_from_pipeline(pipeline, 5)
    assert dense.held == () and np.isfinite(dense.inverse_scale.astype(np.float32)).all()
    np.testing.assert_allclose(dense.predict(DENORMAL), pipeline.predict(DENORMAL), atol=1e-9)


def test_ordinary_scales_hold_nothing():
    pipeline = make_pipeline(StandardScaler(), Ridge()).fit(X, X[:, 0])
    assert dense_from_pipeline(pipeline, 4).held == ()


def test_float32_standardisation_of_huge_rows_keeps_their_direction_instead_of_overflowing():
    from edgekit.compile.dense import bounded_standardise, float_limit

    scaled = np.array([[0.1, 0.2, 0.05, 1.0, 3.0, 2.0]])
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    pipeline.fit(rng.normal(size=(100, 6)) * scaled, rng.integers(0, 2, 100))
    dense = dense_from_pipeline(pipeline, 6)
    limit = float_limit(dense)
    huge = np.array([[3e38, 3e38, 3e38, 0, 9, 6], [-3e38, 1e30, 0, 0, 0, 0]], dtype=np.float32)
    exact = (huge.astype(np.float64) - dense.mean) * dense.inverse_scale
    bounded = bounded_standardise(dense, huge, limit).astype(np.float64)
    assert np.isfinite(bounded).all() and (np.abs(bounded) * dense.reach()).max() <= limit * (1 + 1e-6)  # float32 rounding
    direction = exact / np.linalg.norm(exact, axis=1, keepdims=True)
    np.testing.assert_allclose(bounded / np.linalg.norm(bounded, axis=1, keepdims=True), direction, atol=1e-6)
    ordinary = (rng.normal(size=(50, 6)) * scaled).astype(np.float32)
    plain = (ordinary - dense.mean.astype(np.float32)) * dense.inverse_scale.astype(np.float32)
    assert np.array_equal(bounded_standardise(dense, ordinary, limit), plain)  # bit for bit below the bound
    infinite = bounded_standardise(dense, np.array([[np.inf, 0, 0, 0, 0, 0]], dtype=np.float32), limit)
    assert np.isnan(infinite).any()  # no answer: the runtime serves it as an error


def test_a_huge_value_of_a_feature_without_weight_leaves_the_row_alone():
    """A feature the first layer gives no weight cannot overflow anything: it must not shrink the
    others (their answer would go to the biases, where float64 keeps theirs); it stays finite, so
    0 * it is 0, not NaN."""
    from edgekit.compile.dense import bounded_standardise, float_limit

    data = rng.normal(size=(200, 3))
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, (data[:, 0] > 0).astype(int))
    pipeline[-1].coef_[0, 2] = 0.0  # as an L1 penalty leaves it
    dense = dense_from_pipeline(pipeline, 3)
    assert dense.reach()[2] == 0.0 and dense.reach().max() == 1.0
    rows = np.array([[1.5, -0.5, 1e30], [-1.5, 0.5, -3e38]], dtype=np.float32)
    bounded = bounded_standardise(dense, rows, float_limit(dense))
    plain = (rows[:, :2] - dense.mean[:2].astype(np.float32)) * dense.inverse_scale[:2].astype(np.float32)
    assert np.array_equal(bounded[:, :2], plain) and np.isfinite(bounded).all()
    logits = bounded.astype(np.float64) @ dense.layers[0].weights + dense.layers[0].bias
    np.testing.assert_allclose(logits[:, 0], pipeline.decision_function(rows.astype(np.float64)), rtol=1e-5)
