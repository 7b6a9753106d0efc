"""XGBoost models from a file (.json, .ubj) or a Booster / XGBClassifier / XGBRegressor.

The bundle keeps exactly the trees the user's own predict uses: the scikit-learn wrappers predict
with the early-stopped ``best_iteration``, so the booster is cut there; a bare Booster's predict
uses every round, and so does edgekit (the note says so when a best_iteration is there too).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInput
from ..train.boosters import XGBOOST_OBJECTIVES, XGBoostModel, read_margin_as_probability
from .model import ImportedModel, file_identity, refuse_task

_KIND_OF_REFUSED = {"rank": "ranking", "survival": "survival", "binary:hinge": "hinge (0/1 outputs)"}


def load_xgboost(path: Path, model_format: str, task: str | None) -> ImportedModel:
    import xgboost

    raw = path.read_bytes()
    saved_by = _saved_by_version(raw, model_format)
    installed = xgboost.__version__
    if saved_by is not None and saved_by[:2] > _numbers(installed)[:2]:
        raise BadInput(
            f"{path}: saved by XGBoost {'.'.join(map(str, saved_by))}, newer than the installed {installed}",
            "upgrade XGBoost (pip install -U xgboost-cpu), or save the model with XGBoost " + installed,
        )
    try:
        booster = xgboost.Booster(model_file=str(path))
    except xgboost.core.XGBoostError as exc:
        raise BadInput(f"{path}: XGBoost cannot read this model file (damaged or truncated?)",
                       "save it again with booster.save_model('model.json')") from exc
    wrapped = "scikit_learn" in booster.attributes()
    details = {"source": file_identity(path, model_format)}
    if saved_by is not None:
        details["trained_with"] = {"xgboost": ".".join(map(str, saved_by))}
    return _imported(booster, wrapped, None, task, f"{path.name}", details)


_LEGACY_OBJECTIVE = re.compile(rb"(?:binary|multi|reg|count|rank|survival):[a-z_]+")


def load_xgboost_legacy(path: Path, task: str | None) -> ImportedModel:
    """XGBoost's legacy binary format (before 1.0's JSON): read by XGBoost when it still can, else
    by Treelite, whose reference predictor then stands for the model's own predict."""
    import treelite
    import xgboost

    from ..train.boosters import TreeliteModel

    identity = {"source": file_identity(path, "xgboost-legacy-binary")}
    try:
        return _imported(xgboost.Booster(model_file=str(path)), False, None, task, path.name, identity)
    except xgboost.core.XGBoostError:
        pass  # XGBoost 3 no longer reads the format
    try:
        model = treelite.frontend.load_xgboost_model_legacy_binary(str(path))
    except treelite.TreeliteError as exc:
        raise BadInput(f"{path}: neither XGBoost {xgboost.__version__} nor Treelite can read this legacy binary model "
                       "(damaged or truncated?)", "save it as JSON with the XGBoost that wrote it") from exc
    found = _LEGACY_OBJECTIVE.search(path.read_bytes()[:4096])
    objective = found.group(0).decode() if found else "unknown"
    _check_objective(objective, path.name)
    model_task = XGBOOST_OBJECTIVES[objective]
    refuse_task(task, model_task, path.name)
    if objective == "binary:logitraw":
        read_margin_as_probability(model)
    num_class = int(np.asarray(model.get_header_accessor().get_field("num_class")).reshape(-1)[0])
    wrapped = TreeliteModel(model, objective)

    def original_outputs(X: np.ndarray) -> np.ndarray:
        return wrapped.predict_proba(X) if model_task == "classification" else wrapped.predict(X)

    return ImportedModel(
        library="xgboost", family="xgboost", model=wrapped, task=model_task,
        classes=list(range(max(num_class, 2))) if model_task == "classification" else None,
        n_features=model.num_feature, feature_names=None, original_outputs=original_outputs,
        details={**identity, "objective": objective, "trees": model.num_tree,
                 "read_by": f"Treelite {treelite.__version__} (XGBoost {xgboost.__version__} no longer reads this format)"},
        model_format="treelite",
    )


def _check_objective(objective: str, what: str) -> None:
    if objective not in XGBOOST_OBJECTIVES:
        kind = next((name for prefix, name in _KIND_OF_REFUSED.items() if objective.startswith(prefix)), "this")
        raise BadInput(
            f"{what}: XGBoost objective {objective} ({kind} objective) is not one edgekit compiles",
            f"supported objectives: {', '.join(sorted(XGBOOST_OBJECTIVES))}",
        )


def from_xgboost(model: Any, task: str | None) -> ImportedModel:
    import xgboost

    if isinstance(model, xgboost.Booster):
        return _imported(model, False, None, task, type(model).__name__, {})
    classes = [_native(value) for value in model.classes_] if hasattr(model, "classes_") else None
    return _imported(model.get_booster(), True, classes, task, type(model).__name__, {})


def _imported(booster: Any, wrapped: bool, classes: list[Any] | None, task: str | None, what: str,
              details: dict[str, Any]) -> ImportedModel:
    config = json.loads(booster.save_config())
    learner = config["learner"]
    objective = learner["objective"]["name"]
    _check_objective(objective, what)
    if int(learner["learner_model_param"].get("num_target", "1")) > 1:
        raise BadInput(f"{what}: a multi-target XGBoost model (several outputs per row) is not supported",
                       "train one model per target")
    if learner["gradient_booster"]["name"] == "gblinear":
        raise BadInput(f"{what}: XGBoost's linear booster (gblinear) is not supported", "train with booster='gbtree' or 'dart'")
    if any(kind == "c" for kind in booster.feature_types or ()):
        raise BadInput(f"{what}: the model has categorical features (enable_categorical), which no edgekit target "
                       "compiles yet", "train it on numeric (e.g. one-hot or ordinal-coded) features")
    model_task = XGBOOST_OBJECTIVES[objective]
    refuse_task(task, model_task, what)

    rounds = booster.num_boosted_rounds()
    best = booster.attr("best_iteration")
    used = rounds
    if best is not None and wrapped and int(best) + 1 < rounds:
        used = int(best) + 1  # what XGBClassifier/XGBRegressor.predict use after early stopping
        details["trees_used"] = f"rounds 1-{used} of {rounds} (best_iteration {best}, as predict uses)"
    elif best is not None and int(best) + 1 < rounds:
        details["trees_used"] = (f"all {rounds} rounds, as Booster.predict uses (best_iteration {best} is "
                                 f"ignored: import booster[:{int(best) + 1}] to ship the early-stopped model)")
    stored = booster[:used] if used < rounds else booster
    original = XGBoostModel(booster, rounds=used)

    def original_outputs(X: np.ndarray) -> np.ndarray:
        outputs = original.predict_proba(X) if model_task == "classification" else original.predict(X)
        return np.asarray(outputs, dtype=np.float64)

    num_class = int(learner["learner_model_param"].get("num_class", "0"))
    if model_task == "classification" and classes is None:
        classes = list(range(max(num_class, 2)))
    details.update({"objective": objective, "booster": learner["gradient_booster"]["name"], "rounds": used})
    return ImportedModel(
        library="xgboost", family="xgboost", model=XGBoostModel(stored), task=model_task, classes=classes,
        n_features=booster.num_features(), feature_names=list(booster.feature_names) if booster.feature_names else None,
        original_outputs=original_outputs, details=details,
    )


def _saved_by_version(raw: bytes, model_format: str) -> tuple[int, ...] | None:
    """The XGBoost version recorded in a JSON or UBJSON model, read without loading it."""
    if model_format == "xgboost-json":
        try:
            version = json.loads(raw).get("version")
        except (ValueError, UnicodeDecodeError, AttributeError):
            return None
        return tuple(int(part) for part in version) if isinstance(version, list) else None
    at = raw.rfind(b"\x07version[")
    if at < 0:
        return None
    return _ubjson_ints(raw, at + len(b"\x07version["))


_UBJ_INTS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}


def _ubjson_ints(raw: bytes, at: int) -> tuple[int, ...] | None:
    """A short UBJSON array of integers (what XGBoost writes for its version)."""
    try:
        item_type = None
        if raw[at:at + 1] == b"$":
            item_type, at = raw[at + 1:at + 2], at + 2
        if raw[at:at + 1] != b"#":
            return None
        count_format = _UBJ_INTS[raw[at + 1:at + 2]]
        (count,), at = struct.unpack_from(count_format, raw, at + 2), at + 2 + struct.calcsize(count_format)
        values = []
        for _ in range(min(count, 8)):
            marker = item_type
            if marker is None:
                marker, at = raw[at:at + 1], at + 1
            item_format = _UBJ_INTS[marker]
            values.append(struct.unpack_from(item_format, raw, at)[0])
            at += struct.calcsize(item_format)
        return tuple(values)
    except (KeyError, struct.error):
        return None


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
