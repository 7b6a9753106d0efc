"""Seeded train / validation / test split, stratified by class for classification."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput

FRACTIONS = (0.70, 0.15, 0.15)
MIN_ROWS = 20
MIN_PER_CLASS = 3  # one row of each class in each part


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def check_splittable(y: np.ndarray, task: str, class_names: list | None, source: str) -> None:
    rows = len(y)
    shares = "/".join(f"{round(100 * share)}" for share in FRACTIONS)
    if rows < MIN_ROWS:
        raise BadInput(
            f"{source}: has {rows} rows; a {shares} train/validation/test split needs at least {MIN_ROWS}",
            "add rows",
        )
    if task != "classification":
        return
    counts = np.bincount(y, minlength=len(class_names or []))
    smallest = int(np.argmin(counts))
    if counts[smallest] < MIN_PER_CLASS:
        name = class_names[smallest] if class_names else smallest
        raise BadInput(
            f"{source}: class {name!r} has {counts[smallest]} rows; a stratified split needs at least "
            f"{MIN_PER_CLASS} of each class",
            "add rows of that class or drop it",
        )
    smallest_part = math.floor(rows * min(FRACTIONS[1:]))
    if smallest_part < len(counts):
        raise BadInput(
            f"{source}: {rows} rows leave {smallest_part} rows for validation, fewer than the {len(counts)} classes",
            "add rows",
        )


def split_rows(y: np.ndarray, task: str, seed: int) -> Split:
    """Index arrays for the three parts; the same y and seed always give the same split."""
    from sklearn.model_selection import train_test_split  # here: the Dask engine's workers use FRACTIONS only

    rows = np.arange(len(y))
    stratify = y if task == "classification" else None
    holdout = FRACTIONS[1] + FRACTIONS[2]
    train, rest = train_test_split(rows, test_size=holdout, random_state=seed, stratify=stratify)
    rest_stratify = y[rest] if task == "classification" else None
    validation, test = train_test_split(
        rest, test_size=FRACTIONS[2] / holdout, random_state=seed, stratify=rest_stratify
    )
    return Split(np.sort(train), np.sort(validation), np.sort(test))
