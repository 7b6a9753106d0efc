"""XGBoost on a Dask cluster, each worker streaming its own Parquet partitions.

``xgboost.dask`` persists every partition in worker memory before it builds a DMatrix, so each worker
must hold its share of the decoded data. Here each worker instead runs the same collective training
(XGBoost's Rabit tracker, started on the scheduler as xgboost.dask does, and
``xgboost.dask.CommunicatorContext``) over a ``QuantileDMatrix`` fed by an iterator that reads one
partition at a time: XGBoost sketches the batches, then keeps only their histogram bin indices
(one byte per value at 256 bins).

The cut points come from the statistics pass, not from XGBoost's own sketch: every worker builds the
same small reference matrix from the merged quantile summaries (``POINTS`` rows, each column's values
at equally spaced ranks of the train rows, within the summaries' rank error) and passes it as
``ref``, so XGBoost skips sketching its rows. Its sketch of a worker's rows took ~2 MB per feature
and grew with the rows (130 MB for 64 features at 280 000 rows, measured): the largest part of a
worker's peak. With XGBoost >= 3.0 the matrix is an ``ExtMemQuantileDMatrix``:
those bin indices go to a cache in a worker-private temporary directory, one page per partition, and
training reads them back page by page, so a worker's memory holds one decoded partition, XGBoost's
quantile sketch (which grows with the logarithm of the rows, not with them) and its per-row training
state (gradients, predictions: ~30 bytes a row), not its share of the rows. Older XGBoost falls back
to the in-memory ``QuantileDMatrix`` (two bytes per value: bin indices and their column copy).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Any

import numpy as np

from ..errors import BadInput
from . import sketch
from .batches import Encoding, read_partition
from .frames import ParquetData
from .rows import TRAIN

MAX_BIN = 256
EXTERNAL = "ExtMemQuantileDMatrix"  # the DMatrix kinds, as bundle.json's engine records them
IN_MEMORY = "QuantileDMatrix"


def dmatrix_kind() -> str:
    """The DMatrix a worker builds: external memory where this XGBoost has it (3.0 and later)."""
    import xgboost

    return EXTERNAL if hasattr(xgboost, "ExtMemQuantileDMatrix") else IN_MEMORY


def booster_params(task: str, classes: list | None, params: dict[str, Any], seed: int, threads: int) -> tuple[dict[str, Any], int]:
    """The family's scikit-learn style hyperparameters as ``xgboost.train`` takes them, and the rounds."""
    options = dict(params)
    rounds = int(options.pop("n_estimators", 100))
    options.pop("n_jobs", None)
    if task == "classification":
        objective = {"objective": "binary:logistic"} if len(classes or ()) == 2 else {
            "objective": "multi:softprob", "num_class": len(classes or ())}
    else:
        objective = {"objective": "reg:squarederror"}
    if "objective" in options and options["objective"] != objective["objective"]:
        raise BadInput(f"--param objective={options['objective']} is not supported with --engine dask",
                       f"leave it out ({objective['objective']} is used)")
    options.pop("objective", None)
    return {"tree_method": "hist", "max_bin": MAX_BIN, "seed": options.pop("random_state", seed), "nthread": threads,
            **objective, **options}, rounds


def start_tracker(workers: int, host: str | None) -> dict[str, Any]:
    """Run on the scheduler (as xgboost.dask does): a Rabit tracker for ``workers`` workers."""
    import threading

    from xgboost.tracker import RabitTracker

    tracker = RabitTracker(n_workers=workers, host_ip=host, sortby="task", timeout=0)
    tracker.start()
    threading.Thread(target=tracker.wait_for, daemon=True).start()
    return tracker.worker_args()


def reference_rows(stats: Any, schema: Any) -> np.ndarray:
    """``POINTS`` rows whose columns have the train rows' distribution as the statistics pass merged it:
    a numeric column's values at equally spaced ranks (NaN when it has none), a categorical column's
    codes spread evenly (XGBoost cuts a column of at most 256 distinct values at every value)."""
    columns = []
    for feature in schema.features:
        if feature.kind == "categorical":
            count = len(feature.categories or ())
            columns.append(np.round(np.linspace(0, count - 1, sketch.POINTS)) if count else np.full(sketch.POINTS, np.nan))
        else:
            summary = stats.features[feature.name].train_values
            columns.append(sketch.quantiles(summary, sketch.RANKS) if summary.count else np.full(sketch.POINTS, np.nan))
    return np.column_stack(columns).astype(np.float32)


def train_on_worker(data: ParquetData, partitions: list[int], encoding: Encoding, target_shift_scale: tuple[float, float] | None,
                    params: dict[str, Any], rounds: int, collective_args: dict[str, Any], reference: np.ndarray) -> bytes | None:
    """One worker's share of the collective training; rank 0 returns the booster (UBJSON)."""
    import xgboost
    from xgboost.dask import CommunicatorContext

    class TrainRows(xgboost.DataIter):
        def __init__(self, cache: str | None) -> None:
            self._next = 0
            # on_host=False: the CPU cache is files under ``cache`` (on_host is for GPU training)
            super().__init__(cache_prefix=cache, release_data=True, on_host=False) if cache else \
                super().__init__(release_data=True)

        def reset(self) -> None:
            self._next = 0

        def next(self, input_data: Any) -> bool:
            while self._next < len(partitions):
                batch = read_partition(data, partitions[self._next], encoding)
                self._next += 1
                train = batch.part == TRAIN
                if not train.any():
                    continue
                y = batch.y[train]
                if target_shift_scale is not None:  # regression learns a standardised target
                    y = (y - target_shift_scale[0]) / target_shift_scale[1]
                X = np.ascontiguousarray(batch.X[train], dtype=np.float32)
                del batch  # nothing of the decoded partition outlives this call but X and y
                input_data(data=X, label=y)
                return True
            return False

    # Workers share the command's stdout: XGBoost's rank messages go to stderr, so --json stays JSON.
    # The cut points, built outside the collective: the same rows give every worker the same cuts.
    cuts = xgboost.QuantileDMatrix(reference, max_bin=MAX_BIN, nthread=params["nthread"])
    # The external-memory cache lives in a directory of this task's own under the worker's local
    # directory (Dask's temporary-directory setting), removed when it ends.
    with contextlib.redirect_stdout(sys.stderr), \
            tempfile.TemporaryDirectory(prefix="edgekit-xgb-", dir=_worker_directory()) as cache, \
            CommunicatorContext(**collective_args):
        if dmatrix_kind() == EXTERNAL:
            matrix = xgboost.ExtMemQuantileDMatrix(TrainRows(os.path.join(cache, "train")), max_bin=MAX_BIN,
                                                   nthread=params["nthread"], ref=cuts)
        else:
            matrix = xgboost.QuantileDMatrix(TrainRows(None), max_bin=MAX_BIN, nthread=params["nthread"], ref=cuts)
        booster = xgboost.train(params, matrix, num_boost_round=rounds)
        del matrix  # its cache files are closed before the directory goes
        return bytes(booster.save_raw("ubj")) if xgboost.collective.get_rank() == 0 else None


def _worker_directory() -> str | None:
    from distributed import get_worker

    try:
        return get_worker().local_directory
    except ValueError:  # not in a worker
        return None


def assign_partitions(sizes: list[int], workers: int) -> list[list[int]]:
    """Partitions spread over at most ``workers`` workers, largest first onto the least loaded."""
    shares: list[list[int]] = [[] for _ in range(min(workers, len(sizes)))]
    loads = [0] * len(shares)
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = loads.index(min(loads))
        shares[lightest].append(index)
        loads[lightest] += sizes[index]
    return [sorted(share) for share in shares]


def train_xgboost(client: Any, data: ParquetData, encoding: Encoding, params: dict[str, Any], threads: int,
                  target_shift_scale: tuple[float, float] | None, reference: np.ndarray) -> Any:
    """The trained booster, wrapped as a bundle runs it."""
    import os

    import xgboost
    from distributed.comm import get_address_host

    from ..train.boosters import XGBoostModel, fold_output_transform

    options, rounds = booster_params(encoding.task, encoding.classes, params, encoding.seed, threads)
    addresses = sorted(client.scheduler_info(n_workers=-1)["workers"])
    shares = assign_partitions([os.path.getsize(file) for file in data.files], len(addresses))
    host = get_address_host(client.scheduler.address)
    collective_args = client.run_on_scheduler(start_tracker, len(shares), host)
    reference = client.scatter(reference, broadcast=True)
    futures = [
        client.submit(train_on_worker, data, share, encoding, target_shift_scale, options, rounds, collective_args, reference,
                      workers=[address], allow_other_workers=False, pure=False)
        for address, share in zip(addresses, shares)
    ]
    raw = next(result for result in client.gather(futures) if result is not None)
    booster = xgboost.Booster()
    booster.load_model(bytearray(raw))
    if target_shift_scale is not None:
        fold_output_transform(booster, target_shift_scale[1], target_shift_scale[0])
    return XGBoostModel(booster)
