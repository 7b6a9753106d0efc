"""LightGBM models from a text model file or a Booster / LGBMClassifier / LGBMRegressor.

The bundle stores the model text LightGBM itself writes at the best iteration, which is what
LightGBM's predict uses by default (after early stopping too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInput
from ..train.boosters import LIGHTGBM_OBJECTIVES, LightGBMModel
from .model import ImportedModel, file_identity, refuse_task

KNOWN_FORMATS = ("v2", "v3", "v4")  # the "version=" line of LightGBM's model text
_DEFAULT_NAME = re.compile(r"^Column_\d+$")
_KIND_OF_REFUSED = {"lambdarank": "ranking", "rank_xendcg": "ranking", "multiclassova": "one-vs-all multiclass",
                    "custom": "custom"}


def load_lightgbm(path: Path, task: str | None) -> ImportedModel:
    import lightgbm

    text = path.read_text(encoding="utf-8", errors="replace")
    version = re.search(r"^version=(\S+)$", text[:4096], re.MULTILINE)
    if version is not None and version.group(1) not in KNOWN_FORMATS:
        raise BadInput(
            f"{path}: LightGBM model format {version.group(1)} is newer than LightGBM {lightgbm.__version__} reads",
            f"upgrade LightGBM (pip install -U lightgbm), or save the model with LightGBM {lightgbm.__version__}",
        )
    if "\nend of trees" not in text:
        raise BadInput(f"{path}: the LightGBM model text ends before its last tree (truncated?)",
                       "copy the whole file again, or save it with booster.save_model('model.txt')")
    try:
        booster = lightgbm.Booster(model_file=str(path))
    except lightgbm.basic.LightGBMError as exc:
        raise BadInput(f"{path}: LightGBM cannot read this model file (damaged?): {str(exc).splitlines()[0]}",
                       "save it again with booster.save_model('model.txt')") from exc
    details = {"source": file_identity(path, "lightgbm-text"), "model_format": f"LightGBM model text {version.group(1) if version else '?'}"}
    return _imported(booster, None, task, path.name, details)


def from_lightgbm(model: Any, task: str | None) -> ImportedModel:
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        return _imported(model, None, task, type(model).__name__, {})
    classes = [value.item() if isinstance(value, np.generic) else value for value in model.classes_] \
        if hasattr(model, "classes_") else None
    return _imported(model.booster_, classes, task, type(model).__name__, {})


def _imported(booster: Any, classes: list[Any] | None, task: str | None, what: str, details: dict[str, Any]) -> ImportedModel:
    import lightgbm

    text = booster.model_to_string()  # at the best iteration, when there is one: what predict uses
    header = booster.dump_model(num_iteration=1)
    objective = str(header["objective"]).split()[0] if header.get("objective") else "custom"
    if objective not in LIGHTGBM_OBJECTIVES:
        kind = _KIND_OF_REFUSED.get(objective, "this")
        raise BadInput(f"{what}: LightGBM objective {objective} ({kind} objective) is not one edgekit compiles",
                       f"supported objectives: {', '.join(sorted(LIGHTGBM_OBJECTIVES))}")
    if "\nis_linear=1" in text:
        raise BadInput(f"{what}: LightGBM linear trees (linear_tree=true) are not supported", "retrain with linear_tree=false")
    if header.get("pandas_categorical") or re.search(r"^num_cat=[1-9]", text, re.MULTILINE):
        raise BadInput(f"{what}: the model has categorical splits, which no edgekit target compiles yet",
                       "train it on numeric (e.g. one-hot or ordinal-coded) features")
    model_task = LIGHTGBM_OBJECTIVES[objective]
    refuse_task(task, model_task, what)
    if model_task == "classification" and classes is None:
        classes = list(range(max(int(header["num_class"]), 2)))
    names = list(booster.feature_name())
    original = LightGBMModel(booster)

    def original_outputs(X: np.ndarray) -> np.ndarray:
        outputs = original.predict_proba(X) if model_task == "classification" else original.predict(X)
        return np.asarray(outputs, dtype=np.float64)

    details.update({"objective": objective, "trees": booster.num_trees()})
    return ImportedModel(
        library="lightgbm", family="lightgbm", model=LightGBMModel(lightgbm.Booster(model_str=text)),
        task=model_task, classes=classes, n_features=booster.num_feature(),
        feature_names=None if all(_DEFAULT_NAME.match(name) for name in names) else names,
        original_outputs=original_outputs, details=details,
    )
