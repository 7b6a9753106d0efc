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

Huge inputs: float64 scikit-learn computes ``(x - mean) * inverse_scale`` of 3e38 exactly, float32
overflows to inf and ``inf - inf`` in the first layer gives NaN. Clipping each standardised value
would turn the row (and can flip its label), so every backend bounds the row instead, keeping its
direction (``bounded_standardise`` is the arithmetic): with ``power`` the power of two at or above
the largest |inverse_scale|,

    u = (x - mean) * (inverse_scale / power)      |u| <= |x - mean|: never overflows
    u = where(isnan(u), fill / power, u)
    z = clip(u * min(power, limit / max(|u| * reach)), +-float32 max)    per row

For ordinary rows ``z = u * power`` is bit for bit ``(x - mean) * inverse_scale`` (scaling by a
power of two is exact); a row whose largest |z| would pass ``limit`` is scaled down to it as a whole.
A feature counts by its ``reach``, its largest |first-layer weight| over the layer's largest: a
feature the model gives no (or next to no) weight cannot overflow anything, and letting it shrink
the row would hand the label to the biases, where float64 keeps the other features' answer; the
clip keeps such a feature finite, so its zero weight times it stays 0.
Linear layers and ReLU MLPs are positively homogeneous up to their biases, negligible at that
magnitude, and tanh/logistic saturate, so labels and saturated probabilities match float64. An
infinite input gives ``inf * 0 = NaN``: a non-finite output, which the runtime serves as an error.
``limit`` is what the backend's arithmetic takes: float32 layers (``float_limit``), float16
layers, or int8 activations (``int8_limit``, the calibrated input range).

int8 activations hold a few standard deviations, float16 layers a few hundred: at 1e30 the
float64 logit is the extreme feature's weight times 1e30, while theirs is that weight times their
bound plus the bias and the other features, which can win; and with int8 weights the rounded
weights alone decide there between close classes. So every reduced-precision build (fp16, int8
weights or activations) gives no answer (NaN, which the runtime serves as an error) for a row
further out than REFUSE_BEYOND standard deviations, rather than a label the original would not give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import BadInput

# Smallest normal float32: below it a feature's spread has lost its precision in float32.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT16_MAX = float(np.finfo(np.float16).max)
HEADROOM = 8.0  # on top of the worst-case growth: float32 rounding and summation order
FLOAT16_LIMIT_FLOOR = 2.0**8  # fp16 rows are bounded no nearer than 256 standard deviations
REFUSE_BEYOND = 2.0**20  # standard deviations: no measurement, and past what fp16 or int8 carry

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

    @property
    def power(self) -> float:
        """The power of two at or above the largest |inverse_scale| (1 for none above 0)."""
        largest = float(np.max(np.abs(self.inverse_scale.astype(np.float32)), initial=0.0))
        return float(2.0 ** np.ceil(np.log2(largest))) if largest > 0 else 1.0

    def unit_scale(self) -> np.ndarray:
        """inverse_scale / power in float32: exact, and at most 1 in magnitude."""
        return self.inverse_scale.astype(np.float32) / np.float32(self.power)

    def reach(self) -> np.ndarray:
        """float32 per feature: its largest |first-layer weight| over the layer's largest, in [0, 1]
        (how much a huge value of it can move the first layer: the row bound counts it so)."""
        weights = np.abs(self.layers[0].weights) if self.layers else np.ones((self.n_features, 1))
        largest = float(np.max(weights, initial=0.0))
        reach = weights.max(axis=1, initial=0.0) / largest if largest > 0 else np.ones(self.n_features)
        return reach.astype(np.float32)

    def unit_fill(self) -> np.ndarray:
        return np.broadcast_to(self.fill, self.mean.shape).astype(np.float32) / np.float32(self.power)

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


def float_limit(model: DenseModel, float_max: float = FLOAT32_MAX, int8_weights: bool = True) -> float:
    """The largest max|z| whose layers cannot overflow ``float_max``: each layer multiplies the
    largest magnitude by at most its largest sum of |weights| into one unit (int8 weights: of
    |codes|, which the C target sums before the layer's scale), until a tanh or logistic bounds it."""
    growth = 1.0
    for layer in model.layers:
        absolute = np.abs(layer.weights)
        gain = float(np.max(absolute.sum(axis=0), initial=0.0))
        largest = float(np.max(absolute, initial=0.0))
        if int8_weights and largest > 0:
            gain *= max(1.0, 127.0 / largest)
        growth *= max(gain, 1.0)
        if layer.activation in ("tanh", "logistic"):
            break
    return float(2.0 ** np.floor(np.log2(float_max / (HEADROOM * growth))))


def float16_limit(model: DenseModel) -> float:
    """float16 layers: past the floor an overflow is possible; it gives a non-finite output, served
    as an error, never a label."""
    return max(float_limit(model, FLOAT16_MAX, int8_weights=False), FLOAT16_LIMIT_FLOOR)


def int8_limit(model: DenseModel, calibration: np.ndarray) -> float:
    """int8 activations: the largest |standardised value| of the calibration rows, so no calibration
    row is touched; a row further out is scaled back to it, and quantization then clips at most the
    shorter side of an asymmetric range."""
    standard = (np.asarray(calibration, dtype=np.float64) - model.mean) * model.inverse_scale
    standard = np.where(np.isnan(standard), model.fill, standard)
    largest = float(np.max(np.abs(standard) * model.reach(), initial=0.0))
    return min(largest * (1 + 2.0**-10), float_limit(model)) if largest > 0 else 1.0


def bounded_standardise(model: DenseModel, X: np.ndarray, limit: float) -> np.ndarray:
    """The backends' float32 standardisation (module docstring), in NumPy: what they compute."""
    power = np.float32(model.power)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        units = (np.asarray(X, dtype=np.float32) - model.mean.astype(np.float32)) * model.unit_scale()
        units = np.where(np.isnan(units), model.unit_fill(), units)
        largest = np.max(np.abs(units) * model.reach(), axis=1, keepdims=True, initial=0.0)
        bounded = units * np.minimum(power, np.float32(limit) / largest)
        return np.clip(bounded, -np.float32(FLOAT32_MAX), np.float32(FLOAT32_MAX), out=bounded)


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
