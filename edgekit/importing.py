"""One import end to end: a model trained elsewhere + a sample of its data -> bundle -> run registry.

Before anything is written, the model as the bundle will store it (a booster cut at the trees
predict uses, or the estimator itself) must reproduce the user's own predict on every sample row.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import (
    REFERENCE_TOLERANCE,
    TEST_ROWS,
    BundleContents,
    ModelBundle,
    check_bundle_name,
    check_output_directory,
    default_bundle_name,
    write_contents,
)
from .data.sources import as_table
from .errors import BadInput, CheckFailed
from .imports.model import ImportedModel
from .imports.reading import read_model
from .imports.sample import sample_dataset
from .train.families import get_family
from .train.metrics import evaluate, model_outputs
from .training import run_registry, run_row

_DISTRIBUTIONS = {"xgboost": ("xgboost-cpu", "xgboost"), "lightgbm": ("lightgbm",), "scikit-learn": ("scikit-learn",)}


def import_model(
    model: Any,
    data: Any,
    out: str | os.PathLike[str],
    *,
    label: str | None = None,
    task: str | None = None,
    name: str | None = None,
    trust_pickle: bool = False,
) -> ModelBundle:
    """Turn a trained model (a file path or a fitted object) and a sample of its data (a path, a
    DataFrame, an array or an (X, y) pair) into a bundle at ``out``; cheap checks run first."""
    out = Path(out)
    check_output_directory(out)
    if name is not None:
        check_bundle_name(name)
    imported = read_model(model, task=task, trust_pickle=trust_pickle)
    table = as_table(data)
    dataset = sample_dataset(table, imported, label)
    outputs = _checked_outputs(imported, dataset.X, table.source)
    labelled = bool(dataset.label)
    # The reference and test rows: a fixed shuffle, so a sorted sample still gives varied references.
    rows = np.random.default_rng(0).permutation(len(dataset.X))
    family = get_family(imported.family)
    # Named after the model file, or (for an object) the bundle directory the caller chose.
    source_name = Path(os.fspath(model)).stem if isinstance(model, str | os.PathLike) else out.name
    bundle_name = name or default_bundle_name(source_name)
    contents = BundleContents(
        dataset=dataset,
        model=imported.model,
        model_format=imported.model_format or family.model_format,
        family=family.name,
        family_kind=family.kind,
        outputs=lambda X: model_outputs(imported.model, imported.task, X),
        test_rows=rows[:TEST_ROWS],
        baseline_rows=rows,
        prediction_rows=rows,  # every row of the sample (not the training data: nothing is held out)
        params={},
        seed=0,
        metrics={"sample": evaluate(imported.task, dataset.y, outputs)} if labelled else {},
        tuning=None,
        data={
            "source": dataset.source,
            "fingerprint": dataset.fingerprint,
            "rows": len(dataset.X),
            "features": len(dataset.schema.features),
            "split": {"sample": len(dataset.X)},
            "labelled": labelled,
        },
        train_seconds=0.0,
        imported=_provenance(imported, model),
    )
    return run_registry().register(bundle_name, lambda version: write_contents(contents, out, bundle_name, version), run_row)


def _checked_outputs(imported: ImportedModel, X: np.ndarray, source: str) -> np.ndarray:
    try:
        stored = model_outputs(imported.model, imported.task, X)
        original = imported.original_outputs(X)
    except ValueError as exc:  # scikit-learn's refusal of NaN, of a wrong width, …
        raise BadInput(f"{source}: the model cannot predict the sample's rows: {str(exc).splitlines()[0][:200]}",
                       "pass the sample as the model saw it in training (a model without an imputer takes no empty cells)") from exc
    bad = np.flatnonzero(~np.isfinite(stored.reshape(len(X), -1)).all(axis=1))
    if bad.size:
        raise BadInput(f"{source}: the model predicts NaN or infinity for {bad.size} sample rows (first: data row {bad[0] + 1})",
                       "check the sample holds the values the model was trained on")
    if imported.task == "classification" and stored.shape[1] != len(imported.classes or ()):
        raise BadInput(f"the model gives {stored.shape[1]} class probabilities but names {len(imported.classes or ())} classes",
                       "import the model object itself, or a file saved by its library's save_model")
    scale = max(1.0, float(np.max(np.abs(original), initial=0.0)))
    difference = float(np.max(np.abs(stored - original.reshape(stored.shape)), initial=0.0))
    if difference > REFERENCE_TOLERANCE * scale:
        raise CheckFailed(f"the model as stored predicts differently from the original (max abs diff {difference:.3g})",
                          "report this with the model file: edgekit must store what predict uses")
    return stored


def _provenance(imported: ImportedModel, model: Any) -> dict[str, Any]:
    read_with = {}
    for distribution in _DISTRIBUTIONS[imported.library]:
        try:
            read_with[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    details = dict(imported.details)
    if "source" not in details:  # a fitted object: trained in this Python, with these libraries
        details["source"] = {"object": f"{type(model).__module__}.{type(model).__name__}"}
        details.setdefault("trained_with", read_with)
    return {"library": imported.library, **details, "read_with": read_with}
