"""The model bundle: a self-describing directory, the output of ``edgekit train`` and ``edgekit import``.

    bundle.json     identity, task, family, classes, params, metrics, data fingerprint, file manifest
    model.ubj | model.txt | model.skops   the model in a non-pickle format
    schema.json     the feature schema
    reference.npz   reference rows and (up to 5000) test rows, float32, with the model's outputs
    baseline.json   per-feature histograms of the training rows, and of the model's outputs on held-out rows

``bundle.json`` carries a ``content_hash`` over everything else it says, and sha256 + size of every
file; ``ModelBundle.load`` checks both, so a flipped byte anywhere is caught and named.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from edgekit_runtime.integrity import describe_files
from pydantic import BaseModel, ConfigDict

from ._version import __version__
from .data.baseline import feature_baseline, prediction_baseline
from .data.dataset import Dataset
from .data.schema import Schema
from .errors import BadInput, CheckFailed
from .storage import existing_output, load_verified, move_into_place, staging_directory, write_descriptor
from .train.metrics import OBJECTIVE, model_outputs
from .train.model_io import load_model, save_model
from .train.trainer import TrainedModel

BUNDLE_FORMAT = 1
DESCRIPTOR = "bundle.json"
REFERENCE_ROWS = 256  # the sample every artifact's parity certificate and smoke test start from
TEST_ROWS = 5000  # held-out rows kept so compilers can measure metric deltas without the source data
# Reloading the same model file on the same libraries reproduces outputs to the last bit; this
# tolerance only absorbs summation-order differences between library builds.
REFERENCE_TOLERANCE = 1e-6
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class BundleInfo(BaseModel):
    """The content of bundle.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: int
    name: str
    version: int
    created: str
    edgekit_version: str
    libraries: dict[str, str]
    task: str
    family: str
    family_kind: str
    model_format: str
    model_file: str
    label: str
    classes: list[Any] | None
    feature_names: list[str]
    params: dict[str, Any]
    seed: int
    metrics: dict[str, dict[str, float | None]]
    tuning: dict[str, Any] | None
    data: dict[str, Any]
    train_seconds: float
    # Set when the model was trained elsewhere: its library, source file and sha256, objective, the
    # library versions that trained it (when the file says), which trees predict uses.
    imported: dict[str, Any] | None = None
    # How the model was trained: {"name": "local"}, or the Dask engine's cluster, split and quantile
    # method (absent from bundles written before engines existed).
    engine: dict[str, Any] | None = None
    files: dict[str, dict[str, Any]]
    content_hash: str

    @property
    def output_width(self) -> int:
        """Columns of the model's outputs: one probability per class, or one value."""
        return len(self.classes or ()) if self.task == "classification" else 1


def check_bundle_name(name: str) -> str:
    if not _NAME.match(name):
        raise BadInput(
            f"bundle name '{name}' is not allowed",
            "use 1-64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def default_bundle_name(dataset_name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", dataset_name.lower()).strip("-._")
    return (cleaned or "model")[:64]


def check_output_directory(out: Path) -> None:
    """--out must be new, empty, or an older bundle."""
    existing_output(out, DESCRIPTOR, "bundle")


def _library_versions() -> dict[str, str]:
    versions = {}
    for distribution in ("numpy", "scikit-learn", "xgboost-cpu", "xgboost", "lightgbm", "skops"):
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _json_ready(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_ready(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class BundleContents:
    """What a bundle is written from, whether edgekit trained the model or imported it."""

    dataset: Dataset
    model: Any
    model_format: str
    family: str
    family_kind: str
    outputs: Callable[[np.ndarray], np.ndarray]  # the model's outputs, as every artifact must reproduce them
    test_rows: np.ndarray  # rows kept with their outputs (the first REFERENCE_ROWS are the reference sample)
    baseline_rows: np.ndarray  # rows the drift baseline's feature histograms describe
    params: dict[str, Any]
    seed: int
    metrics: dict[str, dict[str, float | None]]
    tuning: dict[str, Any] | None
    data: dict[str, Any]
    train_seconds: float
    imported: dict[str, Any] | None = None
    engine: dict[str, Any] | None = None
    # Set when the rows are not all in this process (the Dask engine): the histograms, counted where
    # the rows are; else they are counted here over ``baseline_rows``.
    feature_baseline: dict[str, Any] | None = None
    # Rows the prediction baseline is counted on (None: ``test_rows``): rows the model was not fit
    # on, as a fleet's will be — on the rows it was fit on a model is more confident.
    prediction_rows: np.ndarray | None = None


def write_bundle(trained: TrainedModel, out: Path, name: str, version: int) -> ModelBundle:
    """Write the bundle of a model edgekit trained."""
    dataset = trained.dataset
    return write_contents(BundleContents(
        dataset=dataset,
        model=trained.model,
        model_format=trained.family.model_format,
        family=trained.family.name,
        family_kind=trained.family.kind,
        outputs=trained.outputs,
        test_rows=trained.split.test[:TEST_ROWS],
        baseline_rows=trained.split.train,
        prediction_rows=np.concatenate([trained.split.validation, trained.split.test]),  # every held-out row
        params=trained.params,
        seed=trained.seed,
        metrics=trained.metrics,
        tuning=_tuning_summary(trained),
        data={
            "source": dataset.source,
            "fingerprint": dataset.fingerprint,
            "rows": len(dataset.y),
            "features": len(dataset.schema.features),
            "split": {part: len(getattr(trained.split, part)) for part in ("train", "validation", "test")},
        },
        train_seconds=trained.seconds,
        engine={"name": "local"},
    ), out, name, version)


def write_contents(contents: BundleContents, out: Path, name: str, version: int) -> ModelBundle:
    """Write the bundle to a temporary sibling directory, then move it into place in one rename."""
    check_bundle_name(name)
    out = Path(out)
    check_output_directory(out)
    dataset = contents.dataset
    with staging_directory(out) as staging:
        model_file = save_model(contents.model, contents.model_format, staging)
        (staging / "schema.json").write_text(dataset.schema.model_dump_json(indent=2))

        test_rows = contents.test_rows[:TEST_ROWS]
        test_outputs = contents.outputs(dataset.X[test_rows])
        np.savez_compressed(
            staging / "reference.npz",
            X=dataset.X[test_rows[:REFERENCE_ROWS]],
            y=dataset.y[test_rows[:REFERENCE_ROWS]],
            outputs=test_outputs[:REFERENCE_ROWS],
            rows=test_rows[:REFERENCE_ROWS],
            test_X=dataset.X[test_rows],
            test_y=dataset.y[test_rows],
            test_outputs=test_outputs,
        )
        baseline = {
            "features": contents.feature_baseline or feature_baseline(dataset.schema, dataset.X[contents.baseline_rows]),
            "predictions": prediction_baseline(dataset.task, test_outputs if contents.prediction_rows is None else
                                               contents.outputs(dataset.X[contents.prediction_rows]), dataset.classes),
        }
        (staging / "baseline.json").write_text(json.dumps(baseline, indent=1))

        descriptor = {
            "format_version": BUNDLE_FORMAT,
            "name": name,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "edgekit_version": __version__,
            "libraries": _library_versions(),
            "task": dataset.task,
            "family": contents.family,
            "family_kind": contents.family_kind,
            "model_format": contents.model_format,
            "model_file": model_file,
            "label": dataset.label,
            "classes": dataset.classes,
            "feature_names": dataset.schema.feature_names,
            "params": _json_ready(contents.params),
            "seed": contents.seed,
            "metrics": contents.metrics,
            "tuning": contents.tuning,
            "data": contents.data,
            "train_seconds": round(contents.train_seconds, 3),
            "imported": _json_ready(contents.imported),
            "engine": _json_ready(contents.engine),
            "files": describe_files(staging, [model_file, "schema.json", "reference.npz", "baseline.json"]),
        }
        BundleInfo.model_validate({**descriptor, "content_hash": ""})
        write_descriptor(staging, DESCRIPTOR, descriptor)
        move_into_place(staging, out)
    return ModelBundle.load(out)


def _tuning_summary(trained: TrainedModel) -> dict[str, Any] | None:
    if trained.search is None:
        return None
    return {
        "trials": len(trained.search.trials),
        "objective": f"validation {OBJECTIVE[trained.dataset.task]} (lower is better)",
        "best_trial": trained.search.best.number,
        "scores": [round(trial.score, 6) for trial in trained.search.trials],
    }


class ModelBundle:
    """A verified bundle on disk. ``load`` checks format and hashes; the model loads on first use."""

    def __init__(self, path: Path, info: BundleInfo) -> None:
        self.path = path
        self.info = info

    def _origin(self) -> str:
        imported = self.info.imported
        if not imported:
            return f"trained on {self.info.data['source']}"
        source = imported.get("source", {})
        return f"imported from {source.get('file') or source.get('object', '?')} ({imported.get('library')})"

    def _headline_metrics(self) -> str:
        split = self.info.metrics.get("test") or self.info.metrics.get("sample") or {}
        names = ("accuracy", "roc_auc") if self.info.task == "classification" else ("rmse", "r2")
        return ", ".join(f"{name} {split[name]:.4g}" for name in names if split.get(name) is not None) or "none"

    def __repr__(self) -> str:
        info = self.info
        classes = f", {len(info.classes)} classes" if info.classes else ""
        return (f"<ModelBundle {info.name} v{info.version}: {info.family} {info.task}, {len(info.feature_names)} features"
                f"{classes}, {self._origin()}, at {self.path}>")

    def _repr_html_(self) -> str:
        from .notebook import html_facts

        info = self.info
        names = ", ".join(info.feature_names[:12]) + (f", … ({len(info.feature_names)})" if len(info.feature_names) > 12 else "")
        return html_facts(f"bundle {info.name} v{info.version}", [
            ("model", f"{info.family} {info.task}" + (f", classes {info.classes}" if info.classes else "")),
            ("origin", self._origin()), ("features", names), ("metrics", self._headline_metrics()),
            ("path", self.path), ("content hash", info.content_hash[:16] + "…"),
        ])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelBundle:
        path = Path(path)
        return cls(path, load_verified(path, DESCRIPTOR, BundleInfo, "bundle", "pass the --out directory of edgekit train"))

    @cached_property
    def schema(self) -> Schema:
        return Schema.model_validate_json((self.path / "schema.json").read_text())

    @cached_property
    def model(self) -> Any:
        return load_model(self.path / self.info.model_file, self.info.model_format)

    def reference(self) -> dict[str, np.ndarray]:
        """The reference and test rows with the model's outputs (read once, then kept)."""
        return self._reference_arrays

    @cached_property
    def _reference_arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "reference.npz", allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        for array in arrays.values():
            array.flags.writeable = False  # shared by every caller: nobody may change it in place
        return arrays

    def baseline(self) -> dict[str, Any]:
        return json.loads((self.path / "baseline.json").read_text())

    def outputs(self, X: np.ndarray) -> np.ndarray:
        return model_outputs(self.model, self.info.task, X)

    def check_reference(self) -> float:
        """Re-run the model on the reference rows; the max abs difference, or CheckFailed."""
        reference = self.reference()
        difference = float(np.max(np.abs(self.outputs(reference["X"]) - reference["outputs"]), initial=0.0))
        if not difference <= REFERENCE_TOLERANCE:
            raise CheckFailed(
                f"{self.path}: the model no longer reproduces its reference outputs (max abs diff {difference:.3g})",
                f"install the libraries it was trained with: {self.info.libraries}",
            )
        return difference
