"""What a device counts about its inputs and predictions, on the bins of the bundle's training
baseline (``baseline.json``, carried in every artifact), so the server can compare them with
training without anything raw leaving the device.

Numeric features: a value x falls in bin ``count(edges <= x)`` (len(edges) + 1 bins), categorical
features count each category code, missing values are counted apart; predictions count classes
(and, for a binary classifier, the positive score's bins) or a regression value's bins. Memory is
fixed by the baseline: one small integer array per feature. ``add`` counts every row it is given;
which rows it is given is the input monitor's choice (single rows all, large batches a systematic
sample), and ``rows`` says how many rows the histograms hold.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np

BASELINE_FILE = "baseline.json"
# Upper bounds of the latency buckets: the R10 series (ten per decade, each ~1.26x the last) from 1 µs
# to 1 s, fine enough that a p99 comparison between two releases can tell a 1.5x regression.
LATENCY_BUCKETS_US = tuple(round(mantissa * 10.0**decade, 2) for decade in range(6)
                           for mantissa in (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)) + (1_000_000.0,)


class Histograms:
    def __init__(self, baseline: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        features = baseline["features"]["features"]
        self.names = [feature["name"] for feature in features]
        # Numeric features in one matrix of edges, padded with +inf: one comparison counts them all.
        self.numeric = np.asarray([index for index, feature in enumerate(features) if feature["kind"] != "categorical"], dtype=np.intp)
        widest = max((len(features[index]["edges"]) for index in self.numeric), default=0)
        self.edges = np.full((self.numeric.size, widest), np.inf)
        for row, index in enumerate(self.numeric):
            self.edges[row, : len(features[index]["edges"])] = features[index]["edges"]
        # Rows are float32: x >= edge exactly when x >= the smallest float32 at or above the edge, so
        # the comparisons run in float32 (no float64 copy of the rows) and count the same bins.
        rounded = self.edges.astype(np.float32)
        below = rounded.astype(np.float64) < self.edges
        rounded[below] = np.nextafter(rounded[below], np.float32(np.inf))
        self.edge_columns = [np.ascontiguousarray(rounded[:, rank, None]) for rank in range(widest)]  # [numeric, 1] each
        self.rank_type = np.uint8 if widest < 255 else np.uint16
        self.bins = np.asarray([len(features[index]["edges"]) + 1 for index in self.numeric], dtype=np.intp)
        self.width = widest + 2  # every bin, then missing
        self.numeric_counts = np.zeros((self.numeric.size, self.width), dtype=np.int64)
        self.categorical = [(index, len(feature["categories"] or [])) for index, feature in enumerate(features)
                            if feature["kind"] == "categorical"]
        self.categorical_counts = [np.zeros(size + 1, dtype=np.int64) for _, size in self.categorical]  # codes, then missing
        predictions = baseline.get("predictions") or {}
        self.prediction_kind = predictions.get("kind", "none")
        self.class_counts = np.zeros(len(predictions.get("counts", [])), dtype=np.int64)
        score = predictions.get("positive_score") or (predictions if self.prediction_kind == "values" else None)
        self.score_edges = np.asarray(score["edges"], dtype=np.float64) if score else None
        self.score_counts = np.zeros(len(score["edges"]) + 1, dtype=np.int64) if score else None
        self.rows = 0
        self.latency = [0] * (len(LATENCY_BUCKETS_US) + 1)  # a Python list: one call costs ~0.2 µs to count

    @staticmethod
    def load(directory: Path) -> Histograms | None:
        path = directory / BASELINE_FILE
        return Histograms(json.loads(path.read_text())) if path.is_file() else None

    def add(self, rows: np.ndarray, outputs: np.ndarray | None) -> None:
        """Count a batch of rows [n, features] (as float32, what every model reads) and the model's outputs for them."""
        rows = np.asarray(rows, dtype=np.float32)
        # Features along the first axis: each comparison then runs over n rows in one inner loop
        # (a row's few dozen features would make NumPy restart its loop per row), in uint8.
        numeric = rows.T[self.numeric]
        bins = np.zeros(numeric.shape, dtype=self.rank_type)
        passed = np.empty(numeric.shape, dtype=bool)
        for column in self.edge_columns:  # count(edges <= x), one edge rank at a time
            np.greater_equal(numeric, column, out=passed)
            bins += passed.view(np.uint8)
        bins = bins.astype(np.intp)
        np.minimum(bins, (self.bins - 1)[:, None], out=bins)  # +inf passes the +inf padding too
        bins[np.isnan(numeric)] = self.width - 1
        bins += (np.arange(self.numeric.size) * self.width)[:, None]
        counted = np.bincount(bins.ravel(), minlength=self.numeric_counts.size).reshape(self.numeric_counts.shape)
        with self._lock:
            self.rows += rows.shape[0]
            self.numeric_counts += counted
            for (index, size), counts in zip(self.categorical, self.categorical_counts, strict=True):
                column = rows[:, index]
                known = (column >= 0) & (column < size) & (column == np.floor(column))
                counts[:size] += np.bincount(column[known].astype(np.intp), minlength=size)
                counts[size] += int(np.isnan(column).sum())
        if outputs is not None:
            self.add_predictions(outputs)

    def add_predictions(self, outputs: np.ndarray) -> None:
        """Count the model's outputs: probabilities [n, classes] or values [n] (or [n, 1])."""
        if not outputs.size:
            return
        with self._lock:
            if self.prediction_kind == "classes" and outputs.ndim == 2 and outputs.shape[1] == self.class_counts.size:
                self.class_counts += np.bincount(outputs.argmax(axis=1), minlength=self.class_counts.size)
                scores = outputs[:, 1] if outputs.shape[1] == 2 else None
            else:
                scores = outputs.reshape(-1)
            if self.score_edges is not None and scores is not None:
                self.score_counts += np.bincount(np.searchsorted(self.score_edges, scores, side="right"),
                                                 minlength=self.score_counts.size)

    def add_latency(self, micros: float) -> None:
        self.latency[bisect_left(LATENCY_BUCKETS_US, micros)] += 1

    def add_latencies(self, micros: np.ndarray) -> None:
        """Many calls' latencies at once (the same buckets as add_latency: bisect_left is side="left")."""
        counts = np.bincount(np.searchsorted(LATENCY_BUCKETS_US, micros, side="left"), minlength=len(self.latency))
        for index in np.flatnonzero(counts).tolist():
            self.latency[index] += int(counts[index])

    def add_counted(self, rows: int, numeric: np.ndarray, categorical: list[np.ndarray], classes: np.ndarray,
                    scores: np.ndarray, latency: np.ndarray) -> None:
        """Counts made elsewhere on these bins (a C artifact's monitor), in these arrays' shapes;
        empty ``classes`` or ``scores``: none counted."""
        with self._lock:
            self.rows += rows
            self.numeric_counts += numeric
            for counts, more in zip(self.categorical_counts, categorical, strict=True):
                counts += more
            if classes.size:
                self.class_counts += classes
            if scores.size:
                self.score_counts += scores
            for index in np.flatnonzero(latency).tolist():
                self.latency[index] += int(latency[index])

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            features = {}
            for row, index in enumerate(self.numeric):
                counts = self.numeric_counts[row]
                features[self.names[index]] = {"counts": counts[: self.bins[row]].tolist(), "missing": int(counts[-1])}
            for (index, size), counts in zip(self.categorical, self.categorical_counts, strict=True):
                features[self.names[index]] = {"counts": counts[:size].tolist(), "missing": int(counts[size])}
            predictions: dict[str, Any] = {"kind": self.prediction_kind}
            if self.class_counts.size:
                predictions["counts"] = self.class_counts.tolist()
            if self.score_counts is not None:
                predictions["score_counts"] = self.score_counts.tolist()
            return {"rows": self.rows, "features": features, "predictions": predictions,
                    "latency_us": {"buckets": list(LATENCY_BUCKETS_US), "counts": list(self.latency)}}
