"""The model-family registry: every family the trainer can fit, what it supports, how to build it.

Families register in one place (``_register_builtin``) so the list is explicit and testable.
scikit-learn families that cannot take NaN are wrapped in a pipeline with an imputer, so a bundle's
model always accepts the same rows (NaN = missing) that devices send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from .space import Choice, FloatRange, IntRange, Space

if TYPE_CHECKING:  # the registry is read by --help: scikit-learn is imported when a model is built
    import numpy as np
    from sklearn.base import BaseEstimator

BOTH = frozenset({"classification", "regression"})
CLASSIFICATION = frozenset({"classification"})
REGRESSION = frozenset({"regression"})

Builder = Callable[[str, dict[str, Any], int], "BaseEstimator"]
Fitter = Callable[["BaseEstimator", "np.ndarray", "np.ndarray"], "BaseEstimator"]


def plain_fit(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    return estimator.fit(X, y)


def scaled_fit(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    """Fit an imputer -> standard scaler -> estimator pipeline with every feature whose standard
    deviation is below float32's resolution held constant (scale 1, as scikit-learn does for zero
    variance): 1/scale is infinite in float32, so no device build could reproduce what the model
    would learn from such a feature (issue 20: a column of std 1.4e-42 blocked every dense target)."""
    import numpy as np

    preprocessing, model = estimator[:-1], estimator[-1]
    standardised = preprocessing.fit_transform(X)
    scaler = preprocessing[-1]
    tiny = scaler.scale_ < np.finfo(np.float32).tiny  # float32's smallest normal number
    if tiny.any():
        scaler.scale_ = np.where(tiny, 1.0, scaler.scale_)
        standardised = preprocessing.transform(X)
    model.fit(standardised, y)
    return estimator


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    tasks: frozenset[str]
    build: Builder  # (task, params, seed) -> an unfitted estimator
    defaults: dict[str, Any]
    space: Space
    model_format: str  # "xgboost-ubj", "lightgbm-txt" or "skops"
    kind: str  # "trees", "linear" or "mlp": what later stages compile it as
    fit: Fitter = field(default=plain_fit)

    def parse_params(self, given: dict[str, str]) -> dict[str, Any]:
        """Hyperparameters given as text (--param KEY=VALUE), typed like the family's own."""
        known = sorted({*self.defaults, *self.space})
        parsed: dict[str, Any] = {}
        for key, text in given.items():
            if key not in known:
                raise BadInput(f"{self.name} has no hyperparameter '{key}'", f"its hyperparameters are: {', '.join(known)}")
            dimension = self.space.get(key)
            if isinstance(dimension, Choice):
                matches = [option for option in dimension.options if str(option).replace(" ", "") == text.replace(" ", "")]
                if not matches:
                    raise BadInput(f"--param {key}={text} is not allowed", f"choose one of: {', '.join(map(str, dimension.options))}")
                parsed[key] = matches[0]
                continue
            kind = (int if isinstance(dimension, IntRange) else float if isinstance(dimension, FloatRange)
                    else type(self.defaults[key]) if key in self.defaults and self.defaults[key] is not None else str)
            try:
                parsed[key] = kind(text) if kind is not bool else text.lower() in ("1", "true", "yes")
            except ValueError as exc:
                raise BadInput(f"--param {key}={text}: expected {kind.__name__}", f"e.g. --param {key}={self.defaults.get(key, 1)}") from exc
        return parsed


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family, *, replace: bool = False) -> None:
    if family.name in _FAMILIES and not replace:
        raise ValueError(f"model family '{family.name}' is already registered (pass replace=True to override)")
    _FAMILIES[family.name] = family


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def get_family(name: str, task: str | None = None) -> Family:
    family = _FAMILIES.get(name)
    if family is None:
        raise BadInput(f"unknown model family '{name}'", f"choose one of: {', '.join(family_names())}")
    if task is not None and task not in family.tasks:
        fitting = [other for other in family_names() if task in _FAMILIES[other].tasks]
        raise BadInput(
            f"model family '{name}' does not do {task}", f"for {task} choose one of: {', '.join(fitting)}"
        )
    return family


def _imputed(estimator: BaseEstimator, scale: bool) -> BaseEstimator:
    """Trees get the median (robust, split-friendly); scaled models the mean, which standardises
    to exactly 0: a missing input then carries no information into the weights."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not scale:
        return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), estimator)
    return make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(), estimator)


def _xgboost(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    import xgboost

    options = {"tree_method": "hist", "random_state": seed, "n_jobs": 0, **params}
    if task == "classification":
        return xgboost.XGBClassifier(**options)
    return xgboost.XGBRegressor(**options)


def _fit_xgboost(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    """Squared-error regression learns a standardised target, then the scale is folded into the
    leaves and the base score (``boosters.fold_output_transform``): the saved booster predicts in
    the target's own units. XGBoost drops splits whose gain is below 1e-6 (its kRtEps), and gains
    scale with the target squared: on a target of order 1e-4 every tree stays a single leaf. With a
    standardised target and no L1 penalty nor gamma (edgekit sets neither), leaf weights G/(H+lambda)
    scale exactly with the target, so a target of ordinary size gets the same trees as before."""
    import numpy as np
    from sklearn.base import is_regressor

    from .boosters import fold_output_transform

    if not is_regressor(estimator) or estimator.get_params().get("objective") not in (None, "reg:squarederror"):
        return estimator.fit(X, y)
    mean, scale = float(np.mean(y)), float(np.std(y)) or 1.0
    estimator.fit(X, (y - mean) / scale)
    fold_output_transform(estimator.get_booster(), scale, mean)
    return estimator


def _lightgbm(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    import lightgbm

    # subsample only acts with a bagging frequency; verbose=-1 keeps LightGBM's log off stdout.
    options = {"random_state": seed, "subsample_freq": 1, "verbose": -1, **params}
    if task == "classification":
        return lightgbm.LGBMClassifier(**options)
    return lightgbm.LGBMRegressor(**options)


def _forest(extra: bool) -> Builder:
    def build(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
        from sklearn import ensemble

        if task == "classification":
            cls = ensemble.ExtraTreesClassifier if extra else ensemble.RandomForestClassifier
        else:
            cls = ensemble.ExtraTreesRegressor if extra else ensemble.RandomForestRegressor
        return _imputed(cls(random_state=seed, n_jobs=-1, **params), scale=False)

    return build


def _gradient_boosting(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn import ensemble

    cls = ensemble.GradientBoostingClassifier if task == "classification" else ensemble.GradientBoostingRegressor
    return _imputed(cls(random_state=seed, **params), scale=False)


def _hist_gradient_boosting(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn import ensemble

    if task == "classification":
        return ensemble.HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **params)
    return ensemble.HistGradientBoostingRegressor(random_state=seed, early_stopping=False, **params)


def _logistic(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression

    return _imputed(LogisticRegression(max_iter=2000, random_state=seed, **params), scale=True)


def _linear(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn.linear_model import Ridge

    return _imputed(Ridge(**params), scale=True)


def _mlp(task: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    from sklearn import neural_network

    options = {"max_iter": 300, "random_state": seed, **params}
    options["hidden_layer_sizes"] = tuple(options.get("hidden_layer_sizes", (64,)))
    if task == "classification":
        return _imputed(neural_network.MLPClassifier(**options), scale=True)
    return _imputed(neural_network.MLPRegressor(**options), scale=True)


def _fit_mlp(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    """Regression MLPs learn a standardised target; the scale is then folded into the output layer,
    so the saved model is a plain MLP that predicts in the target's own units."""
    import numpy as np
    from sklearn.base import is_regressor

    network = estimator[-1]
    if not is_regressor(network):
        return scaled_fit(estimator, X, y)
    mean, scale = float(np.mean(y)), float(np.std(y)) or 1.0
    scaled_fit(estimator, X, (y - mean) / scale)
    network.coefs_[-1] = network.coefs_[-1] * scale
    network.intercepts_[-1] = network.intercepts_[-1] * scale + mean
    return estimator


_TREE_SPACE: Space = {
    "n_estimators": IntRange(50, 300),
    "max_depth": IntRange(4, 14),
    "min_samples_leaf": IntRange(1, 10),
    "max_features": Choice(("sqrt", 0.5, 1.0)),
}


def _register_builtin() -> None:
    register_family(Family(
        name="xgboost",
        description="XGBoost gradient-boosted trees (hist)",
        tasks=BOTH,
        build=_xgboost,
        defaults={"n_estimators": 100, "max_depth": 6, "learning_rate": 0.3},
        space={
            "n_estimators": IntRange(50, 300),
            "max_depth": IntRange(3, 8),
            "learning_rate": FloatRange(0.02, 0.3, log=True),
            "subsample": FloatRange(0.6, 1.0),
            "colsample_bytree": FloatRange(0.6, 1.0),
            "min_child_weight": FloatRange(0.5, 10.0, log=True),
            "reg_lambda": FloatRange(0.1, 10.0, log=True),
        },
        model_format="xgboost-ubj",
        kind="trees",
        fit=_fit_xgboost,
    ))
    register_family(Family(
        name="lightgbm",
        description="LightGBM gradient-boosted trees (leaf-wise)",
        tasks=BOTH,
        build=_lightgbm,
        defaults={"n_estimators": 100, "num_leaves": 31, "learning_rate": 0.1},
        space={
            "n_estimators": IntRange(50, 300),
            "num_leaves": IntRange(8, 127),
            "learning_rate": FloatRange(0.02, 0.3, log=True),
            "min_child_samples": IntRange(5, 50),
            "subsample": FloatRange(0.6, 1.0),
            "colsample_bytree": FloatRange(0.6, 1.0),
            "reg_lambda": FloatRange(1e-3, 10.0, log=True),
        },
        model_format="lightgbm-txt",
        kind="trees",
    ))
    # Depth is capped by default: an unbounded forest does not fit a microcontroller's flash.
    register_family(Family(
        name="random-forest",
        description="scikit-learn random forest",
        tasks=BOTH,
        build=_forest(extra=False),
        defaults={"n_estimators": 100, "max_depth": 10},
        space=_TREE_SPACE,
        model_format="skops",
        kind="trees",
    ))
    register_family(Family(
        name="extra-trees",
        description="scikit-learn extremely randomized trees",
        tasks=BOTH,
        build=_forest(extra=True),
        defaults={"n_estimators": 100, "max_depth": 10},
        space=_TREE_SPACE,
        model_format="skops",
        kind="trees",
    ))
    register_family(Family(
        name="gradient-boosting",
        description="scikit-learn gradient boosting",
        tasks=BOTH,
        build=_gradient_boosting,
        defaults={"n_estimators": 100, "max_depth": 3},
        space={
            "n_estimators": IntRange(50, 300),
            "max_depth": IntRange(2, 5),
            "learning_rate": FloatRange(0.02, 0.3, log=True),
            "subsample": FloatRange(0.6, 1.0),
        },
        model_format="skops",
        kind="trees",
    ))
    register_family(Family(
        name="hist-gradient-boosting",
        description="scikit-learn histogram gradient boosting",
        tasks=BOTH,
        build=_hist_gradient_boosting,
        defaults={"max_iter": 100},
        space={
            "max_iter": IntRange(50, 300),
            "max_depth": IntRange(3, 10),
            "learning_rate": FloatRange(0.02, 0.3, log=True),
            "max_leaf_nodes": IntRange(8, 63),
            "l2_regularization": FloatRange(1e-3, 10.0, log=True),
        },
        model_format="skops",
        kind="trees",
    ))
    register_family(Family(
        name="logistic",
        description="scikit-learn logistic regression (imputer + scaler)",
        tasks=CLASSIFICATION,
        build=_logistic,
        defaults={"C": 1.0},
        space={"C": FloatRange(1e-3, 1e2, log=True)},
        model_format="skops",
        kind="linear",
        fit=scaled_fit,
    ))
    register_family(Family(
        name="linear",
        description="scikit-learn ridge regression (imputer + scaler)",
        tasks=REGRESSION,
        build=_linear,
        defaults={"alpha": 1.0},
        space={"alpha": FloatRange(1e-3, 1e2, log=True)},
        model_format="skops",
        kind="linear",
        fit=scaled_fit,
    ))
    register_family(Family(
        name="mlp",
        description="scikit-learn multi-layer perceptron (imputer + scaler)",
        tasks=BOTH,
        build=_mlp,
        defaults={"hidden_layer_sizes": (64,)},
        space={
            "hidden_layer_sizes": Choice(((32,), (64,), (128,), (64, 32))),
            "alpha": FloatRange(1e-5, 1e-2, log=True),
            "learning_rate_init": FloatRange(1e-4, 1e-2, log=True),
        },
        model_format="skops",
        kind="mlp",
        fit=_fit_mlp,
    ))


_register_builtin()
