"""Summing device telemetry reports (schemas.TelemetryReport bodies) into totals: what drift
detection and rollout gates read, and what a telemetry rollup row stores (``as_json`` /
``from_json``). Totals count reports, not distinct devices: distinct devices cannot be summed
across rollup minutes (gates count devices from their update events instead). Pure: no database,
no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

VIOLATION_KINDS = ("missing", "below_min", "above_max", "unknown_category")


@dataclass
class FeatureTotals:
    counts: np.ndarray
    missing: int = 0
    violations: dict[str, int] = field(default_factory=dict)


@dataclass
class Totals:
    """Everything a set of reports counted. Histograms whose shape differs from the first one seen
    for a feature are left out (a device on other bins cannot be summed with it)."""

    reports: int = 0
    rows: int = 0
    rows_with_violations: int = 0
    histogram_rows: int = 0
    features: dict[str, FeatureTotals] = field(default_factory=dict)
    prediction_counts: np.ndarray | None = None
    score_counts: np.ndarray | None = None
    latency_buckets: tuple[float, ...] = ()
    latency_counts: np.ndarray | None = None

    def add(self, payload: dict[str, Any]) -> None:
        counters = payload.get("counters") or {}
        self.reports += 1
        self.rows += int(counters.get("rows", 0))
        self.rows_with_violations += int(counters.get("rows_with_violations", 0))
        self.histogram_rows += int(counters.get("histogram_rows", 0)) if payload.get("features") else 0
        for name, entry in (payload.get("features") or {}).items():
            counts = np.asarray(entry.get("counts") or [], dtype=np.int64)
            total = self.features.get(name)
            if total is None:
                total = self.features[name] = FeatureTotals(np.zeros_like(counts))
            if total.counts.shape != counts.shape:
                continue
            total.counts += counts
            total.missing += int(entry.get("missing", 0))
            for kind, count in (entry.get("violations") or {}).items():
                total.violations[kind] = total.violations.get(kind, 0) + int(count)
        predictions = payload.get("predictions") or {}
        self.prediction_counts = _summed(self.prediction_counts, predictions.get("counts"))
        self.score_counts = _summed(self.score_counts, predictions.get("score_counts"))
        latency = payload.get("latency_us") or {}
        buckets = tuple(latency.get("buckets") or ())
        if buckets and (not self.latency_buckets or buckets == self.latency_buckets):
            self.latency_buckets = buckets
            self.latency_counts = _summed(self.latency_counts, latency.get("counts"))

    def add_all(self, payloads: list[dict[str, Any]]) -> None:
        """``add`` each payload, in the same order and with the same result, one NumPy sum per
        histogram for them all (a batch of reports at ingest)."""
        features: dict[str, list[dict[str, Any]]] = {}
        predictions, scores, latencies = [], [], []
        for payload in payloads:
            counters = payload.get("counters") or {}
            self.reports += 1
            self.rows += int(counters.get("rows", 0))
            self.rows_with_violations += int(counters.get("rows_with_violations", 0))
            self.histogram_rows += int(counters.get("histogram_rows", 0)) if payload.get("features") else 0
            for name, entry in (payload.get("features") or {}).items():
                features.setdefault(name, []).append(entry)
            predicted = payload.get("predictions") or {}
            predictions.append(predicted.get("counts"))
            scores.append(predicted.get("score_counts"))
            latency = payload.get("latency_us") or {}
            if latency.get("buckets"):
                latencies.append((tuple(latency["buckets"]), latency.get("counts")))
        for name, entries in features.items():
            total = self.features.get(name)
            size = len(entries[0].get("counts") or []) if total is None else total.counts.size
            same = [entry for entry in entries if len(entry.get("counts") or []) == size]
            if total is None:
                total = self.features[name] = FeatureTotals(np.zeros(size, dtype=np.int64))
            if not same:
                continue
            total.counts += np.asarray([entry.get("counts") or [] for entry in same], dtype=np.int64).reshape(len(same), size).sum(axis=0)
            total.missing += sum(int(entry.get("missing", 0)) for entry in same)
            for entry in same:
                for kind, count in (entry.get("violations") or {}).items():
                    total.violations[kind] = total.violations.get(kind, 0) + int(count)
        self.prediction_counts = _summed_all(self.prediction_counts, predictions)
        self.score_counts = _summed_all(self.score_counts, scores)
        if latencies:
            buckets = self.latency_buckets or latencies[0][0]
            matching = [counts for these, counts in latencies if these == buckets]
            self.latency_buckets = buckets
            self.latency_counts = _summed_all(self.latency_counts, matching)

    def merge(self, other: Totals) -> None:
        """Add another Totals' sums (cheaper than adding its reports again)."""
        self.reports += other.reports
        self.rows += other.rows
        self.rows_with_violations += other.rows_with_violations
        self.histogram_rows += other.histogram_rows
        for name, theirs in other.features.items():
            mine = self.features.get(name)
            if mine is None:
                self.features[name] = FeatureTotals(theirs.counts.copy(), theirs.missing, dict(theirs.violations))
            elif mine.counts.shape == theirs.counts.shape:
                mine.counts += theirs.counts
                mine.missing += theirs.missing
                for kind, count in theirs.violations.items():
                    mine.violations[kind] = mine.violations.get(kind, 0) + count
        self.prediction_counts = _summed(self.prediction_counts, other.prediction_counts)
        self.score_counts = _summed(self.score_counts, other.score_counts)
        if other.latency_buckets and (not self.latency_buckets or other.latency_buckets == self.latency_buckets):
            self.latency_buckets = other.latency_buckets
            self.latency_counts = _summed(self.latency_counts, other.latency_counts)

    def as_json(self) -> dict[str, Any]:
        """The sums as JSON (a rollup row's ``sums``); ``from_json`` reads it back exactly."""
        return {"reports": self.reports, "rows": self.rows, "rows_with_violations": self.rows_with_violations,
                "histogram_rows": self.histogram_rows,
                "features": {name: [total.counts.tolist(), total.missing, total.violations] for name, total in self.features.items()},
                "prediction_counts": _listed(self.prediction_counts), "score_counts": _listed(self.score_counts),
                "latency_buckets": list(self.latency_buckets), "latency_counts": _listed(self.latency_counts)}

    @classmethod
    def from_json(cls, sums: dict[str, Any]) -> Totals:
        return cls(sums["reports"], sums["rows"], sums["rows_with_violations"], sums["histogram_rows"],
                   {name: FeatureTotals(np.asarray(counts, dtype=np.int64), missing, dict(violations))
                    for name, (counts, missing, violations) in sums["features"].items()},
                   _array(sums["prediction_counts"]), _array(sums["score_counts"]), tuple(sums["latency_buckets"]),
                   _array(sums["latency_counts"]))

    def latency_quantile(self, quantile: float) -> float | None:
        """The upper bound (µs) of the bucket holding that quantile of the calls; None without calls
        (and +inf when it falls past the last bucket)."""
        if self.latency_counts is None or not self.latency_counts.sum():
            return None
        cumulative = np.cumsum(self.latency_counts)
        index = int(np.searchsorted(cumulative, quantile * cumulative[-1]))
        return self.latency_buckets[index] if index < len(self.latency_buckets) else float("inf")

    def latency_calls(self) -> int:
        return 0 if self.latency_counts is None else int(self.latency_counts.sum())

    def violation_rate(self, feature: str) -> float:
        total = self.features.get(feature)
        if total is None or not self.rows:
            return 0.0
        return sum(total.violations.values()) / self.rows


def _summed(total: np.ndarray | None, counts: list[int] | np.ndarray | None) -> np.ndarray | None:
    if counts is None or not len(counts):
        return total
    array = np.asarray(counts, dtype=np.int64)
    if total is None:
        return array.copy()
    return total + array if total.shape == array.shape else total


def _summed_all(total: np.ndarray | None, many: list[list[int] | None]) -> np.ndarray | None:
    """``_summed`` over ``many`` in order: entries of another length than the first kept are left out."""
    present = [counts for counts in many if counts is not None and len(counts)]
    if not present:
        return total
    size = len(present[0]) if total is None else total.size
    same = [counts for counts in present if len(counts) == size]
    summed = np.asarray(same, dtype=np.int64).sum(axis=0)
    return summed if total is None else total + summed


def _listed(counts: np.ndarray | None) -> list[int] | None:
    return None if counts is None else counts.tolist()


def _array(counts: list[int] | None) -> np.ndarray | None:
    return None if counts is None else np.asarray(counts, dtype=np.int64)
