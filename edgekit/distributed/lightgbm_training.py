"""LightGBM on a Dask cluster through ``lightgbm.dask``: the train rows are encoded partition by
partition on the workers and handed to LightGBM's own distributed training, which holds each
worker's share of them in that worker's memory (unlike the XGBoost path, which streams)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .batches import Encoding, encode
from .frames import ParquetData
from .rows import TRAIN

_LABEL = "__edgekit_label__"


def _columns(encoding: Encoding) -> list[str]:
    return [f"Column_{index}" for index in range(len(encoding.schema.features))]  # LightGBM's names for array columns


def train_rows(frame: pd.DataFrame, encoding: Encoding) -> pd.DataFrame:
    batch = encode(frame, encoding)
    train = batch.part == TRAIN
    rows = pd.DataFrame(batch.X[train], columns=_columns(encoding))
    return rows.assign(**{_LABEL: batch.y[train]})


def train_lightgbm(client: Any, data: ParquetData, encoding: Encoding, params: dict[str, Any]) -> Any:
    import lightgbm.dask

    from ..train.boosters import LightGBMModel

    meta = pd.DataFrame({name: pd.Series(dtype=np.float32) for name in _columns(encoding)})
    meta[_LABEL] = pd.Series(dtype=np.float64 if encoding.task == "regression" else np.int64)
    rows = data.frame().map_partitions(train_rows, encoding, meta=meta)
    # As the local family: bagging acts only with a frequency; verbose=-1 keeps LightGBM's log quiet.
    options = {"random_state": encoding.seed, "subsample_freq": 1, "verbose": -1, **params}  # lightgbm.dask sets the threads
    estimator = (lightgbm.dask.DaskLGBMClassifier if encoding.task == "classification" else lightgbm.dask.DaskLGBMRegressor)
    with client.as_current():  # lightgbm.dask asks for the default client in places
        model = estimator(client=client, **options).fit(rows[_columns(encoding)], rows[_LABEL])
    return LightGBMModel(model.booster_)
