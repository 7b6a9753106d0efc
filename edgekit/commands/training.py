"""``edgekit train``, ``edgekit import`` and ``edgekit runs``: fit a model into a bundle, bring one
trained elsewhere, and list the bundles made here."""

from pathlib import Path
from typing import Annotated

import typer

from ..data.sources import data_sources_help
from ..train.families import family_names
from .common import JsonFlag, parse_pairs, report, stderr, stdout
from .progress import progress


def train(
    data: Annotated[str, typer.Argument(help=f"Training data: {data_sources_help()}.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the bundle to (new, empty or an older bundle).")],
    label: Annotated[str | None, typer.Option("--label", help="Label column (default: the source's, or 'label'/'target').")] = None,
    model: Annotated[str, typer.Option("--model", help=f"Model family: {', '.join(family_names())}.")] = "xgboost",
    task: Annotated[str | None, typer.Option("--task", help="classification or regression (default: inferred from the label).")] = None,
    tune: Annotated[int, typer.Option("--tune", help="Hyperparameter search trials on the validation split (0 = defaults).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the split, the model and the search.")] = 0,
    name: Annotated[str | None, typer.Option("--name", help="Bundle name (default: from the data source).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Hyperparameter KEY=VALUE instead of the family default (repeatable).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="local (in this process) or dask (a dask.distributed cluster; DATA is a directory or glob of Parquet files).")] = "local",
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="With --engine dask: a running scheduler's address, tcp://HOST:PORT (default: start a local cluster).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="With --engine dask and no --scheduler: worker processes of the local cluster (default 2).")] = None,
    worker_memory: Annotated[str | None, typer.Option("--worker-memory", help="With --engine dask and no --scheduler: each worker's memory limit, e.g. 2GiB (default: RAM / workers).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a model on DATA and save it as a self-describing bundle."""
    from .. import reporting
    from ..train.tuning import Trial
    from ..training import train_bundle

    warned: list[str] = []
    best: list[float] = []

    def trial_line(trial: Trial) -> str:
        best.append(min(trial.score, best[-1]) if best else trial.score)
        return f"trial {trial.number}: validation score {trial.score:.4g} (best {best[-1]:.4g})"

    with progress(f"tuning {model}" if tune > 0 else f"training {model}", tune or None) as step:
        bundle = train_bundle(
            data, out, label=label, family=model, task=task, tune=tune, seed=seed, name=name,
            params=parse_pairs(param or [], "--param", "e.g. --param max_depth=8"), on_trial=lambda trial: step(trial_line(trial)),
            on_warning=warned.append, engine=engine, scheduler=scheduler, workers=workers, worker_memory=worker_memory,
        )
    report(as_json, {**reporting.bundle_summary(bundle), "warnings": warned}, lambda: reporting.print_training(stdout, bundle))
    for message in warned:  # last, where it is seen: the bundle is written, but it is no use
        stderr.print(f"warning: {message}")


def import_command(
    model: Annotated[str, typer.Argument(help="The trained model: XGBoost .json/.ubj, LightGBM .txt, scikit-learn .skops "
                                         "(or a pickle with --trust-pickle).", show_default=False)],
    data: Annotated[str, typer.Option("--data", help=f"A sample of the model's data (schema, reference rows, drift "
                                      f"baseline; metrics when it has the label): {data_sources_help()}.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the bundle to (new, empty or an older bundle).")],
    label: Annotated[str | None, typer.Option("--label", help="The sample's label column, if it has one (default: 'label'/'target' when the model does not take it).")] = None,
    task: Annotated[str | None, typer.Option("--task", help="classification or regression (default: what the model is; checked).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Bundle name (default: from the model file's name).")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Load a pickle/joblib file: it runs any code it holds; only for files you trust.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import a model trained elsewhere, with a sample of its data, as a bundle."""
    from .. import reporting
    from ..importing import import_model

    bundle = import_model(model, data, out, label=label, task=task, name=name, trust_pickle=trust_pickle)
    report(as_json, reporting.bundle_summary(bundle), lambda: reporting.print_import(stdout, bundle))


def runs(
    name: Annotated[str | None, typer.Option("--name", help="Only runs of this bundle name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the bundles trained on this machine, with their metrics."""
    from .. import reporting
    from ..training import run_registry

    rows = run_registry().runs(name)
    report(as_json, rows, lambda: reporting.print_runs(stdout, rows))
