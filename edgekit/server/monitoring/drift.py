"""Drift statistics: how far what devices see is from what the model was trained on.

Both sides are histograms on the baseline's bins (edgekit.data.baseline: deciles of the training
data for numeric features, one bin per category, missing values apart), so nothing raw leaves a
device. Per feature:

- PSI (population stability index) over every bin including "missing", with Jeffreys smoothing
  (+0.5 per bin) so an empty bin is not an infinite term. Rule of thumb: < 0.1 stable, > 0.25 moved.
- A KS-style statistic: the largest gap between the two cumulative distributions over the ordered
  bins of a numeric feature (the binned KS D, a lower bound of the exact one); for a categorical
  feature, whose categories have no order, the total variation distance. A feature counts as
  drifted on it only past the two-sample KS critical value at ALPHA for the two sample sizes too,
  so a small window cannot raise an alarm on noise.
- The share of rows with a schema violation (missing where training had none, out of range,
  unknown category).

Pure: no database, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .totals import Totals

PREDICTIONS = "(predictions)"
# Tags beginning with this say how a device came to be (``fleet simulate`` tags its devices with its
# run, to delete them afterwards), not a group of devices to compare: no drift cohort is made of them.
BOOKKEEPING_TAG_PREFIX = "run:"
KS_C_ALPHA = 1.949  # c(alpha) of the two-sample KS test at alpha = 0.001


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.2
    ks: float = 0.1
    violation_rate: float = 0.05
    min_rows: int = 500  # fewer histogram rows than this: no verdict


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    rows: int
    psi: float
    ks: float
    ks_critical: float
    violation_rate: float

    def breaches(self, thresholds: DriftThresholds) -> list[tuple[str, float, float]]:
        """(statistic, value, threshold) for each threshold this feature is past."""
        if self.rows < thresholds.min_rows:
            return []
        found = []
        if self.psi >= thresholds.psi:
            found.append(("psi", self.psi, thresholds.psi))
        ks_limit = max(thresholds.ks, self.ks_critical)
        if self.ks >= ks_limit:
            found.append(("ks", self.ks, ks_limit))
        if self.violation_rate >= thresholds.violation_rate:
            found.append(("violation_rate", self.violation_rate, thresholds.violation_rate))
        return found

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "rows": self.rows, "psi": round(self.psi, 5), "ks": round(self.ks, 5),
                "ks_critical": round(self.ks_critical, 5), "violation_rate": round(self.violation_rate, 5)}


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of ``actual`` against ``expected`` (counts on the same bins)."""
    expected = np.asarray(expected, dtype=np.float64) + 0.5
    actual = np.asarray(actual, dtype=np.float64) + 0.5
    p, q = expected / expected.sum(), actual / actual.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def ks_binned(expected: np.ndarray, actual: np.ndarray, ordered: bool) -> float:
    """Largest gap between the cumulative shares (ordered bins), or the total variation distance."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if not expected.sum() or not actual.sum():
        return 0.0
    p, q = expected / expected.sum(), actual / actual.sum()
    if ordered:
        return float(np.max(np.abs(np.cumsum(p) - np.cumsum(q))))
    return float(0.5 * np.abs(p - q).sum())


def ks_critical(n: int, m: int) -> float:
    return KS_C_ALPHA * math.sqrt((n + m) / (n * m)) if n and m else 1.0


def feature_drift(baseline: dict[str, Any], totals: Totals) -> list[FeatureDrift]:
    """Every baseline feature the totals have a histogram for, then the predictions."""
    found = []
    for feature in baseline["features"]["features"]:
        total = totals.features.get(feature["name"])
        expected = np.asarray(feature["counts"], dtype=np.int64)
        if total is None or total.counts.shape != expected.shape:
            continue
        rows = int(total.counts.sum()) + total.missing
        with_missing = (np.append(expected, feature["missing"]), np.append(total.counts, total.missing))
        ordered = feature["kind"] != "categorical"
        found.append(FeatureDrift(
            feature["name"], rows, psi(*with_missing), ks_binned(expected, total.counts, ordered),
            ks_critical(int(expected.sum()), int(total.counts.sum())), totals.violation_rate(feature["name"])))
    predictions = prediction_drift(baseline.get("predictions") or {}, totals)
    return found + ([predictions] if predictions is not None else [])


def prediction_histograms(predictions: dict[str, Any], totals: Totals) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """(baseline counts, observed counts, ordered) for the finest prediction histogram both have."""
    score = predictions.get("positive_score") or (predictions if predictions.get("kind") == "values" else None)
    if score is not None and totals.score_counts is not None and len(score["counts"]) == totals.score_counts.size:
        return np.asarray(score["counts"]), totals.score_counts, True
    counts = predictions.get("counts")
    if predictions.get("kind") == "classes" and totals.prediction_counts is not None and len(counts) == totals.prediction_counts.size:
        return np.asarray(counts), totals.prediction_counts, False
    return None


def prediction_drift(predictions: dict[str, Any], totals: Totals) -> FeatureDrift | None:
    pair = prediction_histograms(predictions, totals)
    if pair is None:
        return None
    expected, actual, ordered = pair
    return FeatureDrift(PREDICTIONS, int(actual.sum()), psi(expected, actual), ks_binned(expected, actual, ordered),
                        ks_critical(int(expected.sum()), int(actual.sum())), 0.0)


def compare_predictions(canary: Totals, control: Totals) -> tuple[float, int, int] | None:
    """PSI of the canary's prediction histogram against the control's (same bins), with both row counts."""
    for first, second in ((canary.score_counts, control.score_counts), (canary.prediction_counts, control.prediction_counts)):
        if first is not None and second is not None and first.shape == second.shape:
            return psi(second, first), int(first.sum()), int(second.sum())
    return None
