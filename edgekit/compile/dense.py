"""Linear, logistic and MLP models as one plain form: standardise, fill NaN, dense layers.

The scikit-learn pipeline (imputer -> standard scaler -> estimator) becomes explicit steps that
every backend (ONNX, C, TFLite) emits the same way: ``(x - mean) * inverse_scale``, then NaN ->
the imputed value in standardised units (0 when the imputer used the mean, as edgekit's dense
families do). The scaler is not folded into the weights: dividing by tiny standard deviations gives
a few huge weights that wreck the int8 scale of all others, and uncentred inputs waste the int8
range of the first layer's activations.

A feature whose standard deviation is below float32's smallest normal number (1.2e-38) is held
constant, as scikit-learn holds a zero-variance feature (and a min-max scaler a range below 10
eps): its inverse scale becomes 1, so it standardises to ~0. Its float32 values are denormals with
a few bits left, and 1/scale overflows float32 (1/1.4e-42 is inf): every row would standardise to
+-inf or NaN. The original model still uses the feature in float64; the parity certificate
measures what holding it costs, and ``DenseModel.held`` lets a refusal name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import BadInput

# Smallest normal float32: below it a feature's spread has lost its precision in float32.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

Activation = Literal["identity", "relu", "tanh", "logistic"]
OutputKind = Literal["binary", "softmax", "identity"]


@dataclass(frozen=True)
class DenseLayer:
    weights: np.ndarray  # (inputs, outputs), float64
    bias: np.ndarray  # (outputs,)
    activation: Activation


@dataclass(frozen=True)
class DenseModel:
    mean: np.ndarray  # standardisation: (x - mean) * inverse_scale
    inverse_scale: np.ndarray
    fill: np.ndarray  # what a missing input becomes, in standardised units
    layers: tuple[DenseLayer, ...]
    output: OutputKind  # binary: one logit -> [1-p, p]; softmax: one logit per class; identity: values
    held: tuple[tuple[int, float], ...] = ()  # (feature, its scale): spread below float32's resolution, held constant

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The folded arithmetic in float64: what scikit-learn computes, but for held features."""
        values = (X.astype(np.float64) - self.mean) * self.inverse_scale
        values = np.where(np.isnan(values), self.fill, values)
        for layer in self.layers:
            values = activate(values @ layer.weights + layer.bias, layer.activation)
        if self.output == "binary":
            positive = 1.0 / (1.0 + np.exp(-values[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        if self.output == "softmax":
            shifted = np.exp(values - values.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)
        return values[:, 0]


def activate(values: np.ndarray, activation: Activation) -> np.ndarray:
    if activation == "relu":
        return np.maximum(values, 0.0)
    if activation == "tanh":
        return np.tanh(values)
    if activation == "logistic":
        return 1.0 / (1.0 + np.exp(-values))
    return values


def dense_from_pipeline(model: Any, n_features: int) -> DenseModel:
    """Fold a linear/logistic/MLP pipeline (an imputer and a standard or min-max scaler in either
    order, then the estimator) into a DenseModel."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    *preprocessing, estimator = steps
    fill, fill_is_scaled = np.zeros(n_features), True  # no imputer: a missing input becomes 0 after scaling
    mean, inverse_scale = np.zeros(n_features), np.ones(n_features)
    held: tuple[tuple[int, float], ...] = ()
    scaled = False
    for step in preprocessing:
        if isinstance(step, SimpleImputer):
            fill, fill_is_scaled = np.asarray(step.statistics_, dtype=np.float64), scaled
        elif isinstance(step, StandardScaler):
            mean = np.asarray(step.mean_ if step.mean_ is not None else mean, dtype=np.float64)
            inverse_scale = 1.0 / np.asarray(step.scale_ if step.scale_ is not None else 1.0 / inverse_scale, dtype=np.float64)
            inverse_scale, held = _hold_tiny_scales(inverse_scale)
            scaled = True
        elif isinstance(step, MinMaxScaler):  # x * scale_ + min_ = (x - (-min_ / scale_)) * scale_
            inverse_scale = np.asarray(step.scale_, dtype=np.float64)  # a range below 10 eps is already 1
            mean = -np.asarray(step.min_, dtype=np.float64) / inverse_scale
            scaled = True
        else:
            raise BadInput(f"cannot fold pipeline step {type(step).__name__}",
                           "dense models take an imputer and a standard or min-max scaler")
    layers, output = _estimator_layers(estimator)
    standardised_fill = fill if fill_is_scaled else (fill - mean) * inverse_scale
    standardised_fill[np.abs(standardised_fill) < 1e-9] = 0.0  # mean imputation: exactly "no information"
    return DenseModel(mean=mean, inverse_scale=inverse_scale, fill=standardised_fill, layers=tuple(layers), output=output,
                      held=held)


def _hold_tiny_scales(inverse_scale: np.ndarray) -> tuple[np.ndarray, tuple[tuple[int, float], ...]]:
    """Hold constant each feature whose scale is below float32's smallest normal number, as
    scikit-learn holds a constant one: inverse scale 1, so it standardises to x - mean, which is
    ~0 (scikit-learn's own test is relative to the mean: a denormal spread around a mean that
    small passes it)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = np.abs(1.0 / inverse_scale)
    tiny = ~(scale >= FLOAT32_TINY)  # NaN and inf inverse scales too
    held = tuple((int(index), float(scale[index])) for index in np.flatnonzero(tiny))
    return np.where(tiny, 1.0, inverse_scale), held


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
