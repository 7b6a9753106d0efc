"""XGBoost and LightGBM boosters as a bundle runs them: class probabilities or predicted values.

A bundle stores the booster alone (XGBoost's UBJSON, LightGBM's text model), whichever API trained
it; these wrappers give it the ``predict_proba``/``predict`` the rest of edgekit calls. The output
is what the library's own predict gives, with two objectives read as probabilities: XGBoost's
binary:logitraw (a margin: sigmoid) and multi:softmax (a class index: the softmax of the margins,
whose arg max is that index).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

# Objectives whose output edgekit reproduces on every target; task = what the output is.
XGBOOST_OBJECTIVES = {
    "binary:logistic": "classification", "binary:logitraw": "classification",
    "multi:softprob": "classification", "multi:softmax": "classification",
    "reg:squarederror": "regression", "reg:squaredlogerror": "regression", "reg:logistic": "regression",
    "reg:pseudohubererror": "regression", "reg:absoluteerror": "regression", "reg:quantileerror": "regression",
    "reg:gamma": "regression", "reg:tweedie": "regression", "count:poisson": "regression",
}
LIGHTGBM_OBJECTIVES = {
    "binary": "classification", "multiclass": "classification",
    "regression": "regression", "regression_l1": "regression", "huber": "regression", "fair": "regression",
    "quantile": "regression", "mape": "regression", "cross_entropy": "regression",
    "poisson": "regression", "gamma": "regression", "tweedie": "regression",
}


class XGBoostModel:
    """An XGBoost Booster with edgekit's outputs."""

    def __init__(self, booster: Any, rounds: int | None = None) -> None:
        self.booster = booster
        self.rounds = rounds  # predict with the first `rounds` rounds only (None: all)

    def get_booster(self) -> Any:
        return self.booster

    @cached_property
    def objective(self) -> str:
        return str(json.loads(self.booster.save_config())["learner"]["objective"]["name"])

    def _predict(self, X: np.ndarray, margin: bool = False) -> np.ndarray:
        # What XGBClassifier/XGBRegressor.predict call: no DMatrix, NaN = missing.
        return self.booster.inplace_predict(np.asarray(X, dtype=np.float32), iteration_range=(0, self.rounds or 0),
                                            predict_type="margin" if margin else "value", missing=np.nan)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.objective == "binary:logitraw":
            positive = 1.0 / (1.0 + np.exp(-self._predict(X, margin=True).astype(np.float64)))
        elif self.objective == "multi:softmax":
            return softmax(self._predict(X, margin=True).astype(np.float64))
        else:
            positive = self._predict(X)
            if positive.ndim == 2:
                return positive
        # As XGBClassifier computes it (float32 1 - p), so a trained bundle reproduces its reference.
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._predict(X)

    def save(self, path: Path) -> None:
        self.booster.save_model(path)


class LightGBMModel:
    """A LightGBM Booster (every tree it holds: the file is saved at the best iteration)."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    @cached_property
    def objective(self) -> str:
        return str(self.booster.dump_model(num_iteration=1)["objective"]).split()[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        values = self.predict(X)
        return values if values.ndim == 2 else np.column_stack([1.0 - values, values])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(np.asarray(X, dtype=np.float32), num_threads=1))

    def save(self, path: Path) -> None:
        self.booster.save_model(path)


class TreeliteModel:
    """A tree model only Treelite reads (XGBoost's legacy binary format, which XGBoost 3 no longer
    loads), run by Treelite's reference predictor (GTIL) and stored as a Treelite checkpoint."""

    def __init__(self, model: Any, objective: str | None = None) -> None:
        self.treelite = model
        self.objective = objective

    def _predict(self, X: np.ndarray) -> np.ndarray:
        import treelite

        outputs = treelite.gtil.predict(self.treelite, np.asarray(X, dtype=np.float32), nthread=1)
        return np.asarray(outputs, dtype=np.float64).reshape(len(X), -1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        values = self._predict(X)
        return values if values.shape[1] > 1 else np.column_stack([1.0 - values[:, 0], values[:, 0]])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._predict(X)[:, 0]

    def save(self, path: Path) -> None:
        self.treelite.serialize(str(path))


def fold_output_transform(booster: Any, scale: float, shift: float) -> None:
    """Make an XGBoost booster that predicts z predict z * scale + shift, in place: every leaf value
    times scale, the base score times scale plus shift (float32, as XGBoost keeps them).

    The result is a plain XGBoost model: its file, Treelite's reading of it and so every compiled
    artifact hold the folded numbers, so they reproduce its outputs as exactly as any other model's.
    Split thresholds are untouched: every number goes back as the float64 text of a float32, which
    XGBoost reads as that same float32.
    """
    model = json.loads(booster.save_raw(raw_format="json"))
    learner = model["learner"]
    for tree in learner["gradient_booster"]["model"]["trees"]:
        leaf = np.asarray(tree["left_children"]) == -1
        conditions = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
        conditions[leaf] = _float32(conditions[leaf] * scale)
        tree["split_conditions"] = conditions.tolist()
        tree["base_weights"] = _float32(np.asarray(tree["base_weights"], dtype=np.float32) * scale).tolist()
        tree["loss_changes"] = _float32(np.asarray(tree["loss_changes"], dtype=np.float32) * scale**2).tolist()
    parameters = learner["learner_model_param"]
    text = parameters["base_score"]
    base = np.asarray(json.loads(text) if text.lstrip().startswith("[") else [float(text)], dtype=np.float32)
    folded = _float32(base * scale + shift).tolist()
    parameters["base_score"] = json.dumps(folded) if text.lstrip().startswith("[") else repr(folded[0])
    booster.load_model(bytearray(json.dumps(model).encode()))


def _float32(values: np.ndarray) -> np.ndarray:
    """float64 arithmetic rounded once to float32, as float64 (whose JSON text reads back exactly)."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)


def read_margin_as_probability(model: Any) -> None:
    """Give a Treelite model of binary:logitraw the sigmoid edgekit reads its margin through."""
    header = model.get_header_accessor()
    header.set_field("postprocessor", "sigmoid")
    header.set_field("sigmoid_alpha", np.array([1.0], dtype=np.float32))


def softmax(margins: np.ndarray) -> np.ndarray:
    shifted = np.exp(margins - margins.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
