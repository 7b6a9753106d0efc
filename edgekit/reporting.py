"""What the CLI shows people: progress while training, and tables of metrics, runs and bundles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .artifact import Artifact
from .bundle import ModelBundle
from .display.figures import count, duration, mapping, size
from .display.tables import figure_column, identifier_column, people_table, print_table
from .train.tuning import Trial

_METRIC_ORDER = ("accuracy", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2")


@contextmanager
def training_progress(console: Console, family: str, trials: int) -> Iterator[Callable[[Trial], None]]:
    """A progress bar over tuning trials (or a spinner without tuning); yields the per-trial callback."""
    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if trials > 0:
        columns += [BarColumn(), MofNCompleteColumn()]
    # Off when stderr is not a terminal: logs and CI get no half-drawn bars.
    live = console.is_terminal
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True, disable=not live) as progress:
        label = f"tuning {family}" if trials > 0 else f"training {family}"
        task = progress.add_task(label, total=trials or None)
        best: list[float] = []

        def on_trial(trial: Trial) -> None:
            best.append(min(trial.score, *best) if best else trial.score)
            progress.update(task, advance=1, description=f"{label} (best validation score {best[-1]:.4g})")

        yield on_trial


@contextmanager
def spinner(console: Console, label: str) -> Iterator[None]:
    with Progress(SpinnerColumn(), TextColumn(label), TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        progress.add_task(label, total=None)
        yield


def _format(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def metrics_table(metrics: dict[str, dict[str, float | None]], title: str | None = None) -> Table:
    names = [name for name in _METRIC_ORDER if any(name in split for split in metrics.values())]
    table = Table(title=title, title_justify="left")
    table.add_column("split")
    for name in names:
        table.add_column(name.replace("_", "-"), justify="right")
    for split, values in metrics.items():
        table.add_row(split, *(_format(values.get(name)) for name in names))
    return table


def bundle_summary(bundle: ModelBundle) -> dict[str, Any]:
    info = bundle.info
    return {
        "bundle": str(bundle.path),
        "name": info.name,
        "version": info.version,
        "task": info.task,
        "family": info.family,
        "classes": info.classes,
        "features": len(info.feature_names),
        "metrics": info.metrics,
        "params": info.params,
        "tuning": info.tuning,
        "content_hash": info.content_hash,
        "train_seconds": info.train_seconds,
        "imported": info.imported,
        "engine": info.engine,
    }


def print_training(console: Console, bundle: ModelBundle) -> None:
    info = bundle.info
    console.print(metrics_table(info.metrics, f"{info.family} on {info.data['source']} ({info.task})"))
    if info.tuning:
        console.print(f"tuning: best of {info.tuning['trials']} trials was #{info.tuning['best_trial']}: {mapping(info.params, '=')}")
    if info.engine and info.engine.get("name") == "dask":
        engine = info.engine
        console.print(f"dask: {engine['workers']} workers ({engine['scheduler']}), {engine['partitions']} partitions, "
                      f"{size(engine['decoded_bytes'])} decoded; {engine['quantiles']}")
    console.print(f"bundle {info.name} v{info.version} written to {bundle.path} ({duration(info.train_seconds)} training)")


def print_import(console: Console, bundle: ModelBundle) -> None:
    info = bundle.info
    imported = info.imported or {}
    source = imported.get("source", {})
    origin = source.get("file") or source.get("object", "?")
    facts = [f"{imported.get('library')} {imported.get('objective') or imported.get('estimator', '')}".strip()]
    if imported.get("trees_used"):
        facts.append(f"trees: {imported['trees_used']}")
    console.print(f"imported {origin} ({'; '.join(facts)}) as a {info.family} {info.task} bundle")
    if info.metrics:
        console.print(metrics_table(info.metrics, f"on the sample {info.data['source']} ({count(info.data['rows'])} rows)"))
    else:
        console.print(f"sample {info.data['source']}: {count(info.data['rows'])} rows, no label (no metrics)")
    console.print(f"bundle {info.name} v{info.version} written to {bundle.path}")


def print_bundle(console: Console, bundle: ModelBundle) -> None:
    info = bundle.info
    console.print(f"[bold]{info.name}[/] v{info.version} — {info.family} {info.task}, created {info.created}")
    if info.imported:
        source = info.imported.get("source", {})
        origin = source.get("file") or source.get("object", "?")
        sha = f", sha256 {source['sha256'][:16]}…" if source.get("sha256") else ""
        console.print(f"imported: {origin} ({info.imported.get('library')}{sha}); "
                      f"trained with {info.imported.get('trained_with') or 'unknown versions'}")
    console.print(f"data: {info.data['source']} ({count(info.data['rows'])} rows, split {mapping(info.data['split'])})")
    console.print(f"label: {info.label or '(none: the sample had no label)'}" + (f", classes {', '.join(map(str, info.classes))}" if info.classes else ""))
    console.print(f"features ({len(info.feature_names)}): {', '.join(info.feature_names)}")
    console.print(f"params: {mapping(info.params, '=')}")
    console.print(metrics_table(info.metrics))
    files = people_table("files")
    identifier_column(files, "file", info.files)
    files.add_column("size", justify="right", no_wrap=True)
    files.add_column("sha256", no_wrap=True)
    for name, entry in info.files.items():
        files.add_row(name, size(entry["size"]), str(entry["sha256"])[:16] + "…")
    print_table(console, files)
    console.print(f"content hash: {info.content_hash}")


def print_runs(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no runs yet: train one with `edgekit train bundled:breast-cancer --out b1`")
        return
    paths = [_shortest_path(row["bundle_path"]) for row in rows]
    table = people_table()
    identifier_column(table, "name", (row["name"] for row in rows))
    identifier_column(table, "ver", (row["version"] for row in rows), justify="right")
    for column in ("family", "created (UTC)", "test"):
        figure_column(table, column)
    identifier_column(table, "bundle", paths)
    for row, path in zip(rows, paths, strict=True):
        test = row["metrics"].get("test", {})
        headline = ("accuracy", "roc_auc") if row["task"] == "classification" else ("rmse", "r2")
        shown = ", ".join(f"{name.replace('_', '-')} {test[name]:.3f}" for name in headline if test.get(name) is not None)
        created = row["created"].replace("T", " ")[:16]
        table.add_row(row["name"], str(row["version"]), row["family"], created, shown, path)
    print_table(console, table)


def _shortest_path(path: str) -> str:
    """A bundle's path as the user would type it here: relative when it is under the working directory."""
    from pathlib import Path

    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def artifact_summary(artifact: Artifact) -> dict[str, Any]:
    info = artifact.info
    return {
        "artifact": str(artifact.path),
        "target": info.target,
        "precision": info.precision,
        "bundle": {key: info.bundle[key] for key in ("name", "version", "family", "task", "content_hash")},
        "model_file": info.model_file,
        "model_bytes": info.resources["model_bytes"],
        "resources": info.resources,
        "requirements": info.requirements,
        "parity": {key: info.parity.get(key) for key in (
            "passed", "rows", "threshold_edge_rows", "max_abs_diff", "label_agreement", "metric", "tolerance", "classes")},
        "options": info.options,
        "compile_seconds": info.compile_seconds,
        "content_hash": info.content_hash,
    }


def footprint_line(measured: dict[str, Any]) -> str:
    return f"flash {size(measured['flash_bytes'])}, RAM {size(measured['ram_bytes'])} (stack {size(measured['sections']['stack'])})"


def parity_line(parity: dict[str, Any]) -> str:
    metric = parity["metric"]
    agreement = "" if parity["label_agreement"] is None else f", labels agree {parity['label_agreement']:.2%}"
    return (
        f"parity {'passed' if parity['passed'] else 'FAILED'} on {parity['rows']} rows "
        f"({parity['threshold_edge_rows']} on split thresholds): max abs diff {parity['max_abs_diff']:.3g}"
        f"{agreement}, test {metric['name']} {metric['original']:.4f} -> {metric['artifact']:.4f}"
    )


def class_lines(parity: dict[str, Any]) -> list[str]:
    """One line per class of a classifier's certificate (none for a certificate made before per-class gating)."""
    lines = []
    for entry in parity.get("classes") or ():
        kept = "no rows" if entry["agreement"] is None else f"keeps {entry['agreement']:.2%} of {entry['rows']} rows"
        recall = entry.get("recall")
        shown = "" if recall is None else f", test recall {recall['original']:.3f} -> {recall['artifact']:.3f}"
        lines.append(f"  class {entry['class']}: {kept}{shown}{'' if entry['passed'] else '  FAILED'}")
    return lines


def print_artifact(console: Console, artifact: Artifact) -> None:
    info = artifact.info
    bundle = info.bundle
    console.print(f"[bold]{info.target}[/] artifact of {bundle['name']} v{bundle['version']} ({bundle['family']}, {bundle['task']})")
    requirements = info.requirements
    if requirements["runtime"] == "c":
        triple = requirements["triple"]
        console.print(f"model: {info.model_file}, {info.precision}; layout {info.options.get('layout')}, "
                      f"quantize {info.options.get('quantize')}")
        console.print(f"needs: {triple} ({requirements['libc']}); {footprint_line(info.resources[triple])}")
    elif requirements["runtime"] == "litert":
        operators = ", ".join(f"{op['op']} v{op['version']}" for op in requirements["operators"])
        console.print(f"model: {info.model_file}, {size(info.resources['model_bytes'])}; {info.precision}; "
                      f"activations <= {size(info.resources['arena_bytes_per_row_upper_bound'])} per row")
        console.print(f"needs: TFLite runtime >= {requirements['min_version']} (LiteRT); builtin ops: {operators}")
    else:
        operators = ", ".join(f"{op['domain']}:{op['op_type']}" for op in requirements["operators"])
        console.print(f"model: {info.model_file}, {size(info.resources['model_bytes'])}; {info.precision}; "
                      f"opset {mapping(requirements['opset'])}")
        console.print(f"needs: {requirements['runtime']} >= {requirements['min_version']}; operators: {operators}")
    console.print(parity_line(info.parity))
    for line in class_lines(info.parity):
        console.print(line, highlight=False, markup=False)
    console.print(f"at {artifact.path}; compiled {str(info.created)[:19].replace('T', ' ')} in {duration(info.compile_seconds)}")


@contextmanager
def steps_progress(console: Console, label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A bar over ``total`` steps; yields ``advance(description)`` to call as each step starts."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(label, total=total)
        started = [False]

        def advance(description: str) -> None:
            progress.update(task, advance=1 if started[0] else 0, description=f"{label}: {description}")
            started[0] = True

        yield advance
        progress.update(task, completed=total)
