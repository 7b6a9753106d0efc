"""One ``--engine dask`` training run: Parquet files -> statistics pass -> distributed training ->
evaluation pass -> the contents of a bundle, in the same format a local run writes.

Three passes read the data, each partition by partition on the workers: statistics (schema, label,
split sizes, fingerprint, quantile summaries), training (XGBoost streams its partitions; LightGBM
through lightgbm.dask), evaluation (baseline counts, held-out outputs, the bundle's test rows).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from ..bundle import TEST_ROWS, BundleContents, default_bundle_name
from ..data.baseline import NUMERIC_BINS
from ..data.dataset import Dataset, choose_label
from ..data.sources import Table
from ..errors import BadInput
from ..train.families import get_family
from ..train.metrics import constant_predictor_warning, evaluate, model_outputs
from . import sketch
from .batches import Encoding
from .cluster import dask_client, prepare_workers, worker_processes
from .evaluation import EVAL_ROWS, combine, evaluate_partitions
from .frames import ParquetData, open_parquet
from .rows import PARTS, TEST, TRAIN, VALIDATION
from .stats import PartitionStats, merge, summarize_partitions
from .summary import choose_task, classes_of, schema_of

DASK_FAMILIES = ("lightgbm", "xgboost")  # the families whose library has a Dask interface
MERGE_FANIN = 8  # partition summaries merged at a time


def check_dask_options(data: Any, family: str, tune: int) -> None:
    """Cheap checks before any cluster starts."""
    get_family(family)
    if family not in DASK_FAMILIES:
        raise BadInput(f"model family '{family}' has no Dask interface",
                       f"with --engine dask choose one of: {', '.join(DASK_FAMILIES)}; or train it with --engine local")
    if tune:
        raise BadInput("--tune is not available with --engine dask",
                       "give fixed --param values, or tune with --engine local on a sample that fits in memory")
    if not isinstance(data, str | os.PathLike):
        raise BadInput(f"--engine dask reads Parquet files, not {type(data).__name__}",
                       "write the rows to a directory of Parquet files and pass its path")


def train_contents(data: str | os.PathLike[str], *, label: str | None, family: str, task: str | None, seed: int,
                   params: dict[str, Any], scheduler: str | None, workers: int | None,
                   worker_memory: str | None) -> tuple[BundleContents, str, tuple[str, ...]]:
    """(the bundle's contents, its default name, warnings for the end of the run)."""
    chosen = get_family(family)
    parquet = open_parquet(os.fspath(data))
    label = choose_label(Table(pd.DataFrame(columns=list(parquet.columns)), parquet.source, parquet.name, None), label)
    with dask_client(scheduler, workers, worker_memory) as (client, cluster):
        ready = prepare_workers(client, ("edgekit.distributed.evaluation", "edgekit.distributed.stats", "dask.dataframe",
                                         "pyarrow.parquet", family))
        before = worker_processes(client)
        phases = {"start": time.perf_counter()}
        stats = _statistics(client, parquet, label, seed)
        phases["statistics"] = time.perf_counter()
        peaks = {"ready": ready, "statistics": _peak(client)}
        task = choose_task(label, stats.label, task, parquet.source)
        chosen = get_family(family, task)
        classes = classes_of(label, stats.label, task, stats.rows, parquet.source)
        schema = schema_of(stats, label, parquet.dtypes, parquet.source)
        encoding = Encoding(schema, task, classes, seed)
        hyper = {**chosen.defaults, **params}
        started = time.perf_counter()
        dmatrix = None
        if family == "xgboost":
            from .xgboost_training import dmatrix_kind, reference_rows, train_xgboost

            dmatrix = client.run(dmatrix_kind)  # what the workers' XGBoost builds, not the client's
            dmatrix = min(dmatrix.values()) if dmatrix else None
            model = train_xgboost(client, parquet, encoding, hyper, cluster.threads_per_worker, _target_scale(stats, task),
                                  reference_rows(stats, schema))
            raw = bytes(model.booster.save_raw("ubj"))
        else:
            from .lightgbm_training import train_lightgbm

            model = train_lightgbm(client, parquet, encoding, hyper)
            raw = model.booster.model_to_string().encode()
        seconds = time.perf_counter() - started
        phases["training"] = time.perf_counter()
        peaks["training"] = _peak(client)
        edges = [None if feature.kind == "categorical" else
                 np.unique(sketch.quantiles(stats.features[feature.name].train_values, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
                 for feature in schema.features]
        sizes = _part_rows(stats)
        fractions = {part: min(1.0, EVAL_ROWS / max(sizes[part], 1)) for part in (VALIDATION, TEST)}
        evaluation = _evaluation(client, parquet, encoding, chosen.model_format, raw, edges, fractions)
        phases["evaluation"] = time.perf_counter()
        after = worker_processes(client)

    metrics = {PARTS[part]: evaluate(task, *evaluation.held_out[part]) for part in (VALIDATION, TEST)}
    majority = np.array([_majority(stats)]) if task == "classification" else np.zeros(1)
    warning = constant_predictor_warning(task, majority, evaluation.held_out[TEST][0], metrics["test"], classes)
    dataset = Dataset(name=parquet.name, source=parquet.source, schema=schema, task=task, classes=classes,
                      X=evaluation.X, y=evaluation.y, fingerprint=_fingerprint(parquet, stats))
    levels = max((column.values.levels for column in stats.features.values() if column.numeric), default=0)
    engine = {
        "name": "dask",
        "scheduler": cluster.scheduler,
        "workers": cluster.workers,
        "threads_per_worker": cluster.threads_per_worker,
        "worker_memory_limit": cluster.memory_limit,
        "partitions": len(parquet.files),
        "decoded_bytes": stats.decoded_bytes,
        "training": (f"xgboost collective training, each worker streaming its partitions into a {dmatrix}"
                     if family == "xgboost" else "lightgbm.dask (each worker holds its share of the train rows)"),
        "dmatrix": dmatrix,  # the XGBoost DMatrix kind the workers built (None for LightGBM)
        "cuts": (f"XGBoost's bin edges from the statistics pass's quantile summaries ({sketch.POINTS} points a column)"
                 if family == "xgboost" else None),
        "split": "by a hash of each row's values: 70/15/15, not stratified",
        "quantiles": (f"per-partition summaries of {sketch.POINTS} points (train and held-out rows apart) merged "
                      f"{MERGE_FANIN} at a time; "
                      f"ranks within {(levels + 1) / (sketch.POINTS - 1):.3%}"),
        "metrics_rows": {PARTS[part]: len(evaluation.held_out[part][0]) for part in (VALIDATION, TEST)},
        # A worker Dask killed for exceeding its limit comes back with a new pid.
        "worker_restarts": len({pid for pid, _ in after.values()} - {pid for pid, _ in before.values()}),
        "seconds": {name: round(phases[name] - phases[previous], 3)
                    for previous, name in zip(phases, list(phases)[1:])},  # per pass, on the client's clock
        "worker_ready_bytes": ready,  # the most any worker held before reading data
        "worker_peak_bytes_by_pass": peaks,
        "worker_peak_bytes": sorted(peak for _, peak in after.values()),
    }
    contents = BundleContents(
        dataset=dataset, model=model, model_format=chosen.model_format, family=chosen.name, family_kind=chosen.kind,
        outputs=lambda X: model_outputs(model, task, X), test_rows=np.arange(len(evaluation.y)),
        baseline_rows=np.arange(0), params=hyper, seed=seed, metrics=metrics, tuning=None,
        data={"source": parquet.source, "fingerprint": dataset.fingerprint, "rows": stats.rows,
              "features": len(schema.features), "split": {PARTS[part]: sizes[part] for part in (TRAIN, VALIDATION, TEST)}},
        train_seconds=seconds, engine=engine, feature_baseline=evaluation.feature_baseline,
    )
    return contents, default_bundle_name(parquet.name), (warning,) if warning else ()


def _peak(client: Any) -> int:
    return max(peak for _, peak in worker_processes(client).values())


def _groups(parquet: ParquetData) -> list[list[int]]:
    count = len(parquet.files)
    return [list(range(first, min(first + MERGE_FANIN, count))) for first in range(0, count, MERGE_FANIN)]


def _statistics(client: Any, parquet: ParquetData, label: str, seed: int) -> PartitionStats:
    """Every partition summarised where it is read, the summaries merged in a tree on the workers."""
    summaries = [client.submit(summarize_partitions, parquet, group, label, seed, pure=False) for group in _groups(parquet)]
    while len(summaries) > 1:
        summaries = [client.submit(merge, summaries[i:i + MERGE_FANIN], pure=False)
                     for i in range(0, len(summaries), MERGE_FANIN)]
    return summaries[0].result()


def _evaluation(client: Any, parquet: ParquetData, encoding: Encoding, model_format: str, raw: bytes,
                edges: list, fractions: dict[int, float]) -> Any:
    model = client.scatter(raw, broadcast=True)  # once per worker, not once per task
    results = [client.submit(evaluate_partitions, parquet, group, encoding, model_format, model, edges, fractions,
                             TEST_ROWS, pure=False) for group in _groups(parquet)]
    return combine(client.gather(results), encoding, edges, TEST_ROWS)


def _part_rows(stats: PartitionStats) -> dict[int, int]:
    label = stats.label
    return {part: sum(label.counts[part].values()) if label.counts[part] is not None else label.moments[part][0]
            for part in (TRAIN, VALIDATION, TEST)}


def _target_scale(stats: PartitionStats, task: str) -> tuple[float, float] | None:
    """Regression learns (y - mean) / std of the train rows, as the local XGBoost family does."""
    if task != "regression":
        return None
    count, mean, m2 = stats.label.moments[TRAIN]
    return mean, float(np.sqrt(m2 / count)) or 1.0


def _majority(stats: PartitionStats) -> int:
    counts = stats.label.counts[TRAIN] or {}
    values = sorted(_all_values(stats))
    return values.index(max(counts, key=counts.get)) if counts else 0


def _all_values(stats: PartitionStats) -> set:
    return {value for part in stats.label.counts if part is not None for value in part}


def _fingerprint(parquet: ParquetData, stats: PartitionStats) -> str:
    """sha256 of the column names, the row count and the order-free sums of row hashes: the same rows
    give the same fingerprint however they are split into files."""
    digest = hashlib.sha256("\x1f".join(parquet.columns).encode())
    digest.update(f"{stats.rows}:{stats.fingerprint[0]}:{stats.fingerprint[1]}".encode())
    return digest.hexdigest()
