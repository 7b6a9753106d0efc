"""What a device counts about its inputs and predictions, on the bins of the bundle's training
baseline (``baseline.json``, carried in every artifact), so the server can compare them with
training without anything raw leaving the device.

Numeric features: a value x falls in bin ``count(edges <= x)`` (len(edges) + 1 bins), categorical
features count each category code, missing values are counted apart; predictions count classes
(and, for a binary classifier, the positive score's bins) or a regression value's bins. Memory is
fixed by the baseline: one small integer array per feature. A large batch is counted on a
systematic sample of at most SAMPLE_ROWS rows (every k-th), which keeps histograms from costing
more than the prediction; ``rows`` says how many rows the histograms hold.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np

BASELINE_FILE = "baseline.json"
SAMPLE_ROWS = 256
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
        """Count a batch of rows [n, features] and the model's outputs for them."""
        if rows.shape[0] > SAMPLE_ROWS:
            step = -(-rows.shape[0] // SAMPLE_ROWS)
            rows = rows[::step]
            outputs = None if outputs is None else outputs[::step]
        numeric = rows[:, self.numeric]
        bins = np.zeros(numeric.shape, dtype=np.intp)
        for column in self.edges.T:  # count(edges <= x), one edge rank at a time (a 3-D compare reduces slowly)
            bins += numeric >= column
        np.minimum(bins, self.bins - 1, out=bins)  # +inf passes the +inf padding too
        bins[np.isnan(numeric)] = self.width - 1
        flat = (bins + np.arange(self.numeric.size) * self.width).ravel()
        counted = np.bincount(flat, minlength=self.numeric_counts.size).reshape(self.numeric_counts.shape)
        with self._lock:
            self.rows += rows.shape[0]
            self.numeric_counts += counted
            for (index, size), counts in zip(self.categorical, self.categorical_counts, strict=True):
                column = rows[:, index]
                known = (column >= 0) & (column < size) & (column == np.floor(column))
                counts[:size] += np.bincount(column[known].astype(np.intp), minlength=size)
                counts[size] += int(np.isnan(column).sum())
            if outputs is None or not outputs.size:
                return
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
