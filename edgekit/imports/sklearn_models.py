"""scikit-learn models from a .skops file, a pickle (only when trusted), or a fitted estimator.

skops rebuilds objects without running code and names every type it does not trust; edgekit
accepts the scikit-learn internals its own families need and refuses anything else by name. A
pickle runs whatever code it holds while loading, so it is read only with --trust-pickle.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInput
from ..train.metrics import model_outputs
from ..train.model_io import TRUSTED_SKOPS_TYPES
from .model import ImportedModel, file_identity, refuse_task, unsupported

# Final estimators -> the edgekit family that compiles them.
ESTIMATOR_FAMILIES = {
    "RandomForestClassifier": "random-forest", "RandomForestRegressor": "random-forest",
    "ExtraTreesClassifier": "extra-trees", "ExtraTreesRegressor": "extra-trees",
    "GradientBoostingClassifier": "gradient-boosting", "GradientBoostingRegressor": "gradient-boosting",
    "HistGradientBoostingClassifier": "hist-gradient-boosting", "HistGradientBoostingRegressor": "hist-gradient-boosting",
    "LogisticRegression": "logistic", "Ridge": "linear", "LinearRegression": "linear",
    "MLPClassifier": "mlp", "MLPRegressor": "mlp",
}
SCALERS = ("StandardScaler", "MinMaxScaler")
PICKLE_WARNING = ("warning: {path} is a pickle, and loading a pickle runs any code it holds; "
                  "it is loaded because you passed --trust-pickle (save models with skops.io.dump instead)")


def load_skops(path: Path, task: str | None) -> ImportedModel:
    import skops.io

    try:
        untrusted = set(skops.io.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises many types for a damaged zip; all mean the same here
        raise BadInput(f"{path}: not a readable skops file ({exc.__class__.__name__})",
                       "save the model again with skops.io.dump(model, 'model.skops')") from exc
    refused = sorted(untrusted - TRUSTED_SKOPS_TYPES)
    if refused:
        raise BadInput(f"{path}: holds types edgekit does not trust: {', '.join(refused)}",
                       "import a model made only of scikit-learn estimators edgekit supports")
    try:
        model = skops.io.load(path, trusted=sorted(untrusted))
    except Exception as exc:
        raise BadInput(f"{path}: not a readable skops file ({exc.__class__.__name__})",
                       "save the model again with skops.io.dump(model, 'model.skops')") from exc
    imported = from_sklearn(model, task, path.name)
    imported.details["source"] = file_identity(path, "skops")
    return imported


def load_pickle(path: Path, trust_pickle: bool) -> Any:
    """The object a trusted pickle holds (any library's model): the caller reads it as an object."""
    if not trust_pickle:
        raise BadInput(f"{path} is a pickle, and loading a pickle runs any code it holds",
                       "save the model with skops.io.dump (scikit-learn) or save_model (XGBoost, LightGBM), "
                       "or pass --trust-pickle if you trust where the file came from")
    import joblib

    print(PICKLE_WARNING.format(path=path), file=sys.stderr)
    try:
        return joblib.load(path)
    except Exception as exc:  # a damaged pickle fails in any of a dozen ways
        raise BadInput(f"{path}: the pickle cannot be loaded ({exc.__class__.__name__}: {str(exc)[:120]})",
                       "save the model again, with the library versions installed here") from exc


def from_sklearn(model: Any, task: str | None, what: str | None = None) -> ImportedModel:
    from sklearn.base import is_classifier
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    what = what or type(model).__name__
    steps = [step for _, step in model.steps] if isinstance(model, Pipeline) else [model]
    *preprocessing, estimator = steps
    name = type(estimator).__name__
    family = ESTIMATOR_FAMILIES.get(name)
    if family is None:
        raise unsupported(f"{what}: scikit-learn {name}")
    _check_preprocessing(preprocessing, family, what)
    for step in steps:
        try:
            check_is_fitted(step)
        except Exception as exc:
            raise BadInput(f"{what}: the {type(step).__name__} is not fitted", "fit the model before importing it") from exc
    _check_estimator(estimator, name, what)
    model_task = "classification" if is_classifier(estimator) else "regression"
    refuse_task(task, model_task, what)
    classes = [value.item() if isinstance(value, np.generic) else value for value in estimator.classes_] \
        if model_task == "classification" else None
    names = getattr(model, "feature_names_in_", None)

    def original_outputs(X: np.ndarray) -> np.ndarray:  # the estimator is stored as it is
        return model_outputs(model, model_task, X)

    return ImportedModel(
        library="scikit-learn", family=family, model=model, task=model_task, classes=classes,
        n_features=int(steps[0].n_features_in_), feature_names=[str(n) for n in names] if names is not None else None,
        original_outputs=original_outputs,
        details={"estimator": name, "steps": [type(step).__name__ for step in steps]},
    )


def _check_preprocessing(preprocessing: list[Any], family: str, what: str) -> None:
    names = [type(step).__name__ for step in preprocessing]
    for step, name in zip(preprocessing, names, strict=True):
        if name == "SimpleImputer":
            if getattr(step, "add_indicator", False):
                raise BadInput(f"{what}: SimpleImputer(add_indicator=True) adds columns edgekit cannot compile",
                               "use add_indicator=False")
        elif name not in SCALERS:
            raise unsupported(f"{what}: pipeline step {name}")
    if names.count("SimpleImputer") > 1 or sum(names.count(scaler) for scaler in SCALERS) > 1:
        raise BadInput(f"{what}: at most one imputer and one scaler can stand before the estimator (got {names})",
                       "merge the steps, or import a pipeline of SimpleImputer and one scaler")
    dense = family in {"logistic", "linear", "mlp"}  # folded into the first layer's affine map: no clipping there
    if dense and any(name == "MinMaxScaler" and getattr(step, "clip", False) for step, name in zip(preprocessing, names, strict=True)):
        raise BadInput(f"{what}: MinMaxScaler(clip=True) in front of a {family} model cannot be compiled exactly",
                       "refit with clip=False (trees take clip=True: it is folded into their thresholds)")


def _check_estimator(estimator: Any, name: str, what: str) -> None:
    if name.startswith("MLP") and estimator.activation not in {"identity", "relu", "tanh", "logistic"}:
        raise BadInput(f"{what}: MLP activation {estimator.activation} is not supported", "use relu, tanh or logistic")
    if name.startswith("HistGradientBoosting"):
        if getattr(estimator, "is_categorical_", None) is not None and np.any(estimator.is_categorical_):
            raise BadInput(f"{what}: the model has categorical splits, which no edgekit target compiles yet",
                           "train it on numeric (e.g. one-hot or ordinal-coded) features")
        loss = getattr(estimator, "loss", "")
        if name.endswith("Regressor") and loss not in {"squared_error", "absolute_error", "quantile"}:
            raise BadInput(f"{what}: HistGradientBoostingRegressor loss {loss} is not supported",
                           "use loss='squared_error', 'absolute_error' or 'quantile'")
    if name == "GradientBoostingRegressor" and getattr(estimator, "loss", "") not in {"squared_error", "absolute_error", "huber", "quantile"}:
        raise BadInput(f"{what}: GradientBoostingRegressor loss {estimator.loss} is not supported", "use loss='squared_error'")
