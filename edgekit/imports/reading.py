"""Which library a model file or object belongs to, and the reader for it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .model import ImportedModel, file_identity, unsupported

_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".sav"}
_LEGACY_XGBOOST_SUFFIXES = {".model", ".bin", ".xgb", ".deprecated"}


def read_model(source: Any, *, task: str | None = None, trust_pickle: bool = False) -> ImportedModel:
    """A path to a model file, or a fitted model object."""
    if isinstance(source, str | os.PathLike):
        return read_model_file(Path(source).expanduser(), task=task, trust_pickle=trust_pickle)
    return read_model_object(source, task=task)


def read_model_object(model: Any, *, task: str | None = None, what: str | None = None) -> ImportedModel:
    library = type(model).__module__.split(".")[0]
    if library == "xgboost":
        from .xgboost_models import from_xgboost

        return from_xgboost(model, task)
    if library == "lightgbm":
        from .lightgbm_models import from_lightgbm

        return from_lightgbm(model, task)
    if library == "sklearn":
        from .sklearn_models import from_sklearn

        return from_sklearn(model, task, what)
    raise unsupported(f"{what + ': ' if what else ''}a {type(model).__module__}.{type(model).__name__} object")


def read_model_file(path: Path, *, task: str | None = None, trust_pickle: bool = False) -> ImportedModel:
    if not path.exists():
        raise BadInput(f"{path}: no such file", "pass the path of a saved model file")
    if path.is_dir():
        raise BadInput(f"{path} is a directory", "pass the model file itself (for a bundle, edgekit compile takes it as it is)")
    with path.open("rb") as handle:
        head = handle.read(256)
    kind = sniff_model_format(head, path.suffix.lower())
    if kind == "xgboost-json" or kind == "xgboost-ubj":
        from .xgboost_models import load_xgboost

        return load_xgboost(path, kind, task)
    if kind == "lightgbm-text":
        from .lightgbm_models import load_lightgbm

        return load_lightgbm(path, task)
    if kind == "skops":
        from .sklearn_models import load_skops

        return load_skops(path, task)
    if kind == "pickle":
        from .sklearn_models import load_pickle

        imported = read_model_object(load_pickle(path, trust_pickle), task=task, what=path.name)
        imported.details["source"] = {**file_identity(path, "pickle"), "trusted_pickle": True}
        return imported
    if kind == "xgboost-legacy-binary":
        from .xgboost_models import load_xgboost_legacy

        return load_xgboost_legacy(path, task)
    raise BadInput(
        f"{path}: not a model file edgekit knows (not XGBoost JSON/UBJSON, LightGBM text, skops or a pickle)",
        "save the model with its library's save_model, or scikit-learn's with skops.io.dump",
    )


def sniff_model_format(head: bytes, suffix: str) -> str | None:
    """The format of a model file from its first bytes (and, for pickles, its suffix)."""
    stripped = head.lstrip()
    if head.startswith(b"PK\x03\x04"):
        return "skops"
    if head.startswith((b"tree\n", b"tree\r\n")):
        return "lightgbm-text"
    if stripped.startswith(b"{") and b"learner" in head:
        return "xgboost-json" if stripped[1:2].isspace() or stripped[1:2] == b'"' else "xgboost-ubj"
    if head.startswith(b"binf"):
        return "xgboost-legacy-binary"
    if head.startswith(b"\x80") or suffix in _PICKLE_SUFFIXES:
        return "pickle"
    if suffix in _LEGACY_XGBOOST_SUFFIXES:  # XGBoost releases before 0.8 wrote no "binf"
        return "xgboost-legacy-binary"
    return None

