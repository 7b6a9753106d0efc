"""A trained model to and from its file in a bundle, in a format that is not pickle.

XGBoost models are saved in XGBoost's own UBJSON format, LightGBM models in LightGBM's text format,
models only Treelite reads (XGBoost's legacy binary) as Treelite checkpoints (all hold trees and
numbers only); they load as the wrappers of ``boosters``. scikit-learn
models go through skops,
which rebuilds objects without executing code; it still refuses any type not on an allowlist, and
ours is the short list of scikit-learn internals our families produce. A file holding anything else
is refused, never loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BadInput

MODEL_FILES = {"xgboost-ubj": "model.ubj", "lightgbm-txt": "model.txt", "treelite": "model.treelite", "skops": "model.skops"}

# Types skops does not trust by default but that our scikit-learn families need.
TRUSTED_SKOPS_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
})


def save_model(model: Any, model_format: str, directory: Path) -> str:
    """``model``: a fitted estimator, a booster, or one of edgekit's booster wrappers."""
    name = MODEL_FILES[model_format]
    if model_format == "xgboost-ubj":
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        booster.save_model(directory / name)
    elif model_format == "treelite":
        model.save(directory / name)
    elif model_format == "lightgbm-txt":
        booster = getattr(model, "booster_", None) or getattr(model, "booster", None) or model
        booster.save_model(directory / name)
    else:
        import skops.io

        skops.io.dump(model, directory / name)
    return name


def load_model(path: Path, model_format: str) -> Any:
    if model_format not in MODEL_FILES:
        raise BadInput(f"{path}: unknown model format '{model_format}'", f"known formats: {', '.join(MODEL_FILES)}")
    if model_format == "xgboost-ubj":
        return _load_xgboost(path)
    if model_format == "lightgbm-txt":
        return _load_lightgbm(path)
    if model_format == "treelite":
        return _load_treelite(path)
    return _load_skops(path)


def _load_xgboost(path: Path) -> Any:
    import xgboost

    from .boosters import XGBoostModel

    try:
        return XGBoostModel(xgboost.Booster(model_file=path))
    except xgboost.core.XGBoostError as exc:
        raise BadInput(f"{path}: XGBoost cannot read this model file", "retrain or restore the bundle") from exc


def _load_lightgbm(path: Path) -> Any:
    import lightgbm

    from .boosters import LightGBMModel

    try:
        return LightGBMModel(lightgbm.Booster(model_file=path))
    except lightgbm.basic.LightGBMError as exc:
        raise BadInput(f"{path}: LightGBM cannot read this model file", "retrain or restore the bundle") from exc


def _load_treelite(path: Path) -> Any:
    import treelite

    from .boosters import TreeliteModel

    try:
        return TreeliteModel(treelite.Model.deserialize(str(path)))
    except treelite.TreeliteError as exc:
        raise BadInput(f"{path}: Treelite cannot read this checkpoint", "restore the bundle") from exc


def _load_skops(path: Path) -> Any:
    import skops.io

    try:
        untrusted = set(skops.io.get_untrusted_types(file=path))
        refused = sorted(untrusted - TRUSTED_SKOPS_TYPES)
        if refused:
            raise BadInput(
                f"{path}: holds types edgekit does not trust: {', '.join(refused)}",
                "load only bundles that edgekit itself trained",
            )
        return skops.io.load(path, trusted=sorted(untrusted))
    except BadInput:
        raise
    except Exception as exc:  # skops raises many types for a damaged zip; all mean the same here
        raise BadInput(f"{path}: not a readable skops model file ({exc.__class__.__name__})", "retrain or restore the bundle") from exc
