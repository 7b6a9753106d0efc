"""Evaluation metrics, and which one tuning optimises."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics

# The metric tuning minimises on the validation split, per task.
OBJECTIVE = {"classification": "log_loss", "regression": "rmse"}
HIGHER_IS_BETTER = {"accuracy", "f1", "roc_auc", "r2"}
# A model must beat a constant predictor on the test split by more than this (R², or accuracy
# over always predicting the training split's most frequent class) to pass without a warning.
CONSTANT_MARGIN = 0.01


def model_outputs(model: object, task: str, X: np.ndarray) -> np.ndarray:
    """What a bundle records and every compiled artifact must reproduce: class probabilities
    (rows x classes) for classification, predicted values for regression; float64."""
    with warnings.catch_warnings():
        # An imported estimator fitted on a DataFrame is fed arrays in its own column order.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        if task == "classification":
            return np.asarray(model.predict_proba(X), dtype=np.float64)  # type: ignore[attr-defined]
        return np.asarray(model.predict(X), dtype=np.float64).reshape(-1)  # type: ignore[attr-defined]


def evaluate(task: str, y: np.ndarray, outputs: np.ndarray) -> dict[str, float | None]:
    if task == "classification":
        return classification_metrics(y, outputs)
    return regression_metrics(y, outputs)


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    n_classes = proba.shape[1]
    # float32 models (XGBoost) give rows that sum to 1 only within float32 rounding.
    proba = proba / proba.sum(axis=1, keepdims=True)
    predicted = proba.argmax(axis=1)
    binary = n_classes == 2
    result: dict[str, float | None] = {
        "accuracy": float(metrics.accuracy_score(y, predicted)),
        "f1": float(metrics.f1_score(y, predicted, average="binary" if binary else "macro", zero_division=0)),
        "log_loss": float(metrics.log_loss(y, proba, labels=np.arange(n_classes))),
        "roc_auc": None,
    }
    # ROC-AUC is undefined when a split lacks a class; report None rather than a made-up number.
    if len(np.unique(y)) == n_classes:
        if binary:
            result["roc_auc"] = float(metrics.roc_auc_score(y, proba[:, 1]))
        else:
            result["roc_auc"] = float(metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    return result


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted))),
        "mae": float(metrics.mean_absolute_error(y, predicted)),
        "r2": float(metrics.r2_score(y, predicted)),
    }


def constant_predictor_warning(task: str, y_train: np.ndarray, y_test: np.ndarray, test: dict[str, float | None],
                               classes: list | None = None) -> str | None:
    """A one-line warning when the test metric is no better than a constant predictor's, else None."""
    if task == "regression":
        r2 = test.get("r2")
        if r2 is None or r2 > CONSTANT_MARGIN:
            return None
        return (f"the model is no better than a constant predictor: test R² {r2:.3g} (predicting the mean scores 0); "
                "check the label and the features, or try another --model or --tune")
    accuracy = test.get("accuracy")
    if accuracy is None or len(y_train) == 0 or len(y_test) == 0:
        return None
    majority = int(np.bincount(np.asarray(y_train, dtype=np.int64)).argmax())
    rate = float(np.mean(np.asarray(y_test) == majority))
    if accuracy > rate + CONSTANT_MARGIN:
        return None
    name = classes[majority] if classes is not None and majority < len(classes) else majority
    return (f"the model is no better than a constant predictor: test accuracy {accuracy:.3g}, always predicting "
            f"class {name!r} scores {rate:.3g}; check the label and the features, or try another --model or --tune")
