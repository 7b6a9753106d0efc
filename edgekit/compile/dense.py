"""Linear, logistic and MLP models as one plain form: NaN fill, input scaling, dense layers.

The scikit-learn pipeline (median imputer -> standard scaler -> estimator) becomes explicit steps
that every backend (ONNX, C, TFLite) emits the same way. The scaler's centring goes into the first
layer's bias; its division stays a separate multiply: folding it into the weights divides by tiny
standard deviations, and the few huge weights that gives would wreck the int8 scale of all others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import BadInput

Activation = Literal["identity", "relu", "tanh", "logistic"]
OutputKind = Literal["binary", "softmax", "identity"]


@dataclass(frozen=True)
class DenseLayer:
    weights: np.ndarray  # (inputs, outputs), float64
    bias: np.ndarray  # (outputs,)
    activation: Activation


@dataclass(frozen=True)
class DenseModel:
    fill: np.ndarray  # value that replaces NaN, per input feature
    inverse_scale: np.ndarray  # inputs are multiplied by this before the first layer
    layers: tuple[DenseLayer, ...]
    output: OutputKind  # binary: one logit -> [1-p, p]; softmax: one logit per class; identity: values

    @property
    def n_features(self) -> int:
        return int(self.fill.shape[0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The reference arithmetic in float64 (what scikit-learn computes)."""
        values = np.where(np.isnan(X), self.fill, X).astype(np.float64) * self.inverse_scale
        for layer in self.layers:
            values = _activate(values @ layer.weights + layer.bias, layer.activation)
        if self.output == "binary":
            positive = 1.0 / (1.0 + np.exp(-values[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        if self.output == "softmax":
            shifted = np.exp(values - values.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)
        return values[:, 0]


def _activate(values: np.ndarray, activation: Activation) -> np.ndarray:
    if activation == "relu":
        return np.maximum(values, 0.0)
    if activation == "tanh":
        return np.tanh(values)
    if activation == "logistic":
        return 1.0 / (1.0 + np.exp(-values))
    return values


def dense_from_pipeline(model: Any, n_features: int) -> DenseModel:
    """Fold an edgekit linear/logistic/MLP pipeline into a DenseModel."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    *preprocessing, estimator = steps
    fill = np.zeros(n_features)
    mean, scale = np.zeros(n_features), np.ones(n_features)
    for step in preprocessing:
        if isinstance(step, SimpleImputer):
            fill = np.asarray(step.statistics_, dtype=np.float64)
        elif isinstance(step, StandardScaler):
            mean = np.asarray(step.mean_ if step.mean_ is not None else mean, dtype=np.float64)
            scale = np.asarray(step.scale_ if step.scale_ is not None else scale, dtype=np.float64)
        else:
            raise BadInput(f"cannot fold pipeline step {type(step).__name__}", "dense models take an imputer and a scaler")
    layers, output = _estimator_layers(estimator)
    first = layers[0]
    # ((x - mean) / scale) @ W + b  ==  (x / scale) @ W + (b - (mean / scale) @ W)
    centred = DenseLayer(first.weights, first.bias - (mean / scale) @ first.weights, first.activation)
    return DenseModel(fill=fill, inverse_scale=1.0 / scale, layers=(centred, *layers[1:]), output=output)


def _estimator_layers(estimator: Any) -> tuple[list[DenseLayer], OutputKind]:
    name = type(estimator).__name__
    if name == "LogisticRegression":
        weights = np.asarray(estimator.coef_, dtype=np.float64).T
        bias = np.asarray(estimator.intercept_, dtype=np.float64)
        return [DenseLayer(weights, bias, "identity")], "binary" if weights.shape[1] == 1 else "softmax"
    if name in {"Ridge", "LinearRegression"}:
        weights = np.asarray(estimator.coef_, dtype=np.float64).reshape(-1, 1)
        return [DenseLayer(weights, np.atleast_1d(np.float64(estimator.intercept_)), "identity")], "identity"
    if name in {"MLPClassifier", "MLPRegressor"}:
        count = len(estimator.coefs_)
        layers = [
            DenseLayer(
                np.asarray(w, dtype=np.float64),
                np.asarray(b, dtype=np.float64),
                estimator.activation if index < count - 1 else "identity",
            )
            for index, (w, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_, strict=True))
        ]
        output = {"logistic": "binary", "softmax": "softmax", "identity": "identity"}[estimator.out_activation_]
        return layers, output  # type: ignore[return-value]
    raise BadInput(f"{name} is not a dense model", "dense compilation takes logistic, linear and mlp families")
