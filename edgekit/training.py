"""One training run end to end: data source -> dataset -> trained model -> bundle -> run registry."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bundle import (
    ModelBundle,
    check_bundle_name,
    check_output_directory,
    default_bundle_name,
    write_bundle,
    write_contents,
)
from .data.dataset import prepare_dataset
from .data.sources import as_table
from .errors import BadInput
from .home import edgekit_home
from .registry import RunRegistry
from .train.families import get_family
from .train.trainer import TrainedModel, train_model
from .train.tuning import Trial

ENGINES = ("local", "dask")


def run_registry() -> RunRegistry:
    return RunRegistry(edgekit_home() / "registry.sqlite")


def train_bundle(
    data: Any,
    out: str | Path,
    *,
    label: str | None = None,
    family: str = "xgboost",
    task: str | None = None,
    tune: int = 0,
    seed: int = 0,
    name: str | None = None,
    params: dict[str, str] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    worker_memory: str | None = None,
) -> ModelBundle:
    """Train a model on DATA (a DATA string or path, a DataFrame, or an (X, y) pair) and write its
    bundle to OUT; cheap checks of every input run first.

    ``engine="dask"`` trains on a dask.distributed cluster from a directory (or glob) of Parquet files:
    a LocalCluster of ``workers`` processes with ``worker_memory`` each, or the cluster of the
    ``scheduler`` address given.

    A model no better than a constant predictor on the test split is still written, with a warning:
    passed to ``on_warning``, or else raised as a Python ``UserWarning``."""
    out = Path(out)
    check_output_directory(out)
    overrides = get_family(family).parse_params(params or {})
    if overrides and tune > 0:
        raise BadInput("--param and --tune both set hyperparameters", "give fixed --param values, or let --tune search")
    if tune < 0:
        raise BadInput(f"--tune {tune}: the number of trials cannot be negative", "pass 0 (no tuning) or more")
    if name is not None:
        check_bundle_name(name)
    if engine not in ENGINES:
        raise BadInput(f"unknown engine '{engine}'", f"choose one of: {', '.join(ENGINES)}")
    if engine == "dask":
        from .distributed.run import check_dask_options, train_contents

        check_dask_options(data, family, tune)
        contents, default_name, messages = train_contents(
            data, label=label, family=family, task=task, seed=seed, params=overrides, scheduler=scheduler,
            workers=workers, worker_memory=worker_memory)
        bundle_name = name or default_name
        bundle = run_registry().register(bundle_name, lambda version: write_contents(contents, out, bundle_name, version), run_row)
        _warn(messages, on_warning)
        return bundle
    if scheduler is not None or workers is not None or worker_memory is not None:
        raise BadInput("--scheduler, --workers and --worker-memory set up a Dask cluster", "add --engine dask, or drop them")
    table = as_table(data)
    dataset = prepare_dataset(table, label=label, task=task)
    trained: TrainedModel = train_model(dataset, family, tune=tune, seed=seed, params=overrides, on_trial=on_trial)
    bundle_name = name or default_bundle_name(dataset.name)
    bundle = run_registry().register(
        bundle_name,
        lambda version: write_bundle(trained, out, bundle_name, version),
        run_row,
    )
    _warn(trained.warnings, on_warning)
    return bundle


def _warn(messages: tuple[str, ...], on_warning: Callable[[str], None] | None) -> None:
    for message in messages:
        if on_warning is not None:
            on_warning(message)
        else:
            warnings.warn(message, UserWarning, stacklevel=3)


def run_row(bundle: ModelBundle) -> dict[str, object]:
    info = bundle.info
    return {
        "created": info.created,
        "family": info.family,
        "task": info.task,
        "data_source": info.data["source"],
        "data_fingerprint": info.data["fingerprint"],
        "bundle_path": str(bundle.path.resolve()),
        "content_hash": info.content_hash,
        "metrics": info.metrics,
    }
