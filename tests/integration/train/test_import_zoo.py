"""A zoo of models trained outside edgekit with hyperparameters edgekit never uses itself: each is
imported with a sample and compiled to every target that takes it, and on held-out rows (never in
the sample) every artifact must agree with the model's own predict to 1e-5 (x the output scale)
with >= 99.9 % of labels the same."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from edgekit_runtime import load
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from edgekit import compile_bundle, import_model
from edgekit.compile.trees.tables import bundle_trees
from edgekit.errors import BadInput

rng = np.random.default_rng(42)
ROWS, FEATURES = 6000, 12
X = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
X[rng.random(X.shape) < 0.05] = np.nan
SIGNAL = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) + np.sin(np.nan_to_num(X[:, 3]) * 3)
TRAIN, SAMPLE, HELD_OUT = slice(0, 3500), slice(3500, 4500), slice(4500, ROWS)
SCALES = np.float32([1e-3, 1.0, 250.0, 7e4, 1.0, 3.3, 1e5, 0.02, 1.0, 9.0, 1.0, 1e-2])


def _labels(classes: int) -> np.ndarray:
    return np.digitize(SIGNAL + rng.normal(scale=0.3, size=ROWS), np.quantile(SIGNAL, np.linspace(0, 1, classes + 1)[1:-1]))


BINARY, MANY = _labels(2), _labels(12)


def _xgb_early_stopped():
    model = xgb.XGBClassifier(n_estimators=400, max_depth=12, learning_rate=0.3, early_stopping_rounds=4)
    return model.fit(X[:3000], BINARY[:3000], eval_set=[(X[3000:3500], BINARY[3000:3500])], verbose=False)


ZOO = {
    "xgboost depth 14": lambda: xgb.XGBClassifier(n_estimators=60, max_depth=14, min_child_weight=0).fit(X[TRAIN], BINARY[TRAIN]),
    "xgboost early stopping": _xgb_early_stopped,
    "xgboost random forest, 12 classes": lambda: xgb.XGBClassifier(
        n_estimators=3, num_parallel_tree=4, subsample=0.7, colsample_bynode=0.7, max_depth=6).fit(X[TRAIN], MANY[TRAIN]),
    "xgboost dart regressor": lambda: xgb.XGBRegressor(
        n_estimators=40, booster="dart", rate_drop=0.2, skip_drop=0.3).fit(X[TRAIN], SIGNAL[TRAIN]),
    "lightgbm 255 leaves": lambda: lgb.LGBMClassifier(n_estimators=80, num_leaves=255, min_child_samples=2,
                                                      verbose=-1).fit(X[TRAIN], BINARY[TRAIN]),
    "lightgbm 12 classes, class weights": lambda: lgb.LGBMClassifier(n_estimators=30, class_weight="balanced",
                                                                     verbose=-1).fit(X[TRAIN], MANY[TRAIN]),
    "lightgbm random forest": lambda: lgb.LGBMRegressor(boosting_type="rf", n_estimators=50, subsample=0.7, subsample_freq=1,
                                                        verbose=-1).fit(X[TRAIN], SIGNAL[TRAIN]),
    "random forest, class weights, mode imputer": lambda: make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        RandomForestClassifier(n_estimators=40, class_weight="balanced", random_state=0)).fit(X[TRAIN], MANY[TRAIN]),
    "histogram boosting, early stopping": lambda: HistGradientBoostingClassifier(
        max_iter=300, early_stopping=True, random_state=0).fit(X[TRAIN], BINARY[TRAIN]),
    # Scalers folded into the thresholds (in either order with the imputer), on features of very
    # different magnitudes so float32 rounding of the scaled values matters.
    "standard scaler, then imputer, random forest": lambda: make_pipeline(
        StandardScaler(), SimpleImputer(strategy="median"),
        RandomForestClassifier(n_estimators=25, max_depth=10, random_state=0)).fit(X[TRAIN] * SCALES, BINARY[TRAIN]),
    "imputer, min-max scaler, gradient boosting regressor": lambda: make_pipeline(
        SimpleImputer(), MinMaxScaler(feature_range=(-1, 1)),
        GradientBoostingRegressor(n_estimators=60, max_depth=4, random_state=0)).fit(X[TRAIN] * SCALES, SIGNAL[TRAIN]),
    "min-max scaler, histogram boosting": lambda: make_pipeline(
        MinMaxScaler(), HistGradientBoostingClassifier(max_iter=50, random_state=0)).fit(X[TRAIN] * SCALES, MANY[TRAIN]),
    "extra trees regressor, unbounded depth": lambda: make_pipeline(
        SimpleImputer(), ExtraTreesRegressor(n_estimators=20, random_state=0)).fit(X[TRAIN], SIGNAL[TRAIN]),
}
TARGETS = (("onnx", {}), ("c", {}), ("c", {"layout": "ifelse"}), ("tflite", {}))
# TL2cgen's if-else C for tens of thousands of deep nodes takes gcc many minutes: past this the
# suite compiles the table layout only (the if-else layout is exercised on the smaller models).
IFELSE_MAX_NODES = 5_000


def _rows(name: str, part: slice) -> np.ndarray:
    return X[part] * SCALES if "scaler" in name else X[part]


@pytest.mark.parametrize("name", list(ZOO))
def test_models_trained_elsewhere_compile_exactly_everywhere(name, tmp_path):
    model = ZOO[name]()
    classifier = hasattr(model, "predict_proba")
    labels = None if not classifier else (MANY if "12 classes" in name else BINARY)
    sample = pd.DataFrame(_rows(name, SAMPLE), columns=[f"f{index}" for index in range(FEATURES)])
    bundle = import_model(model, sample if labels is None else sample.assign(label=labels[SAMPLE]), tmp_path / "bundle")
    held_out = _rows(name, HELD_OUT)
    expected = (model.predict_proba(held_out) if classifier else model.predict(held_out)).astype(np.float64)
    scale = 1.0 if classifier else max(1.0, float(np.max(np.abs(expected))))
    nodes = bundle_trees(bundle).tables.num_nodes
    for target, options in TARGETS:
        if options.get("layout") == "ifelse" and nodes > IFELSE_MAX_NODES:
            continue
        if target == "tflite" and "unbounded depth" in name:  # a target that cannot take it says why
            with pytest.raises(BadInput, match="deeper than the TFLite walk's 32 levels"):
                compile_bundle(bundle, target, tmp_path / "tflite")
            continue
        artifact = compile_bundle(bundle, target, tmp_path / f"{target}-{len(options)}", options=options)
        got = load(artifact.path).predict(held_out).reshape(expected.shape)
        difference = float(np.max(np.abs(got - expected)))
        assert difference <= 1e-5 * scale, f"{target} {options}: max abs diff {difference:.3g}"
        if classifier:
            assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.999, f"{target} {options}"
