"""Parity certificates: does a compiled artifact behave like the original model?

Three row sets are compared: the bundle's reference sample, its held-out test rows, and
threshold-edge rows: reference rows with one feature set exactly on a split threshold of the model,
and one float32 step either side of it, where float32/float64 differences flip decisions.

Tolerances per precision (documented in the README):

    precision  max_abs_diff (prob.; x scale   label      metric   per class:  agreement  recall loss
               for regression)                agreement  loss
    fp32       1e-4                           >= 0.999   <= 0.001             >= 0.99    <= 0.01
    fp16       1e-2                           >= 0.99    <= 0.005             >= 0.98    <= 0.02
    int16      5e-3                           >= 0.999   <= 0.002             >= 0.99    <= 0.01
    int8       not gated (reported)           >= 0.95    <= 0.01              >= 0.90    <= 0.05

Metric loss is the drop in test accuracy (classification), or the relative rise of test RMSE.
A global agreement hides a rare class a quantized build drops, so classification is also gated per
class: of the ordinary rows (reference and test; the threshold-edge rows sit on decision
boundaries by design) the original assigns to a class, the share the artifact assigns to it too,
and the drop of the class's test recall. A class fails on more than one row: one row alone never
fails a class.

A fourth set, ``extremes`` (``extreme_rows``, checked by ``check_extremes``), holds reference rows
with numeric features at +-1e30 and +-float32 max, where float32 arithmetic can overflow while
the float64 original does not. There no finite answer may carry a label other than the original's,
at any precision; a NaN or infinite output counts in ``errors`` (the runtime serves it as a per-row
error, never a label). Regression values there are recorded, not gated. ``check_extremes`` also
fails a certificate whose other sets met a NaN or infinite output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_EDGE_THRESHOLDS = 2000
EXTREME_VALUES = (1e30, -1e30, float(np.finfo(np.float32).max), -float(np.finfo(np.float32).max))
MAX_EXTREME_FEATURES = 64


@dataclass(frozen=True)
class Tolerance:
    max_abs_diff: float | None
    label_agreement: float
    metric_loss: float
    class_agreement: float  # of each class's rows (as the original labels them), the share kept
    class_recall_loss: float  # the drop of each class's test recall


TOLERANCES = {
    "fp32": Tolerance(1e-4, 0.999, 0.001, 0.99, 0.01),
    "fp16": Tolerance(1e-2, 0.99, 0.005, 0.98, 0.02),
    "int16": Tolerance(5e-3, 0.999, 0.002, 0.99, 0.01),  # the C target's integer leaves (--quantize int16)
    "int8": Tolerance(None, 0.95, 0.01, 0.90, 0.05),
}
MIN_CLASS_MISSES = 2  # a class fails on at least this many rows: one row alone is not a verdict


def edge_rows(base: np.ndarray, thresholds: dict[int, np.ndarray]) -> np.ndarray:
    """Rows on and one float32 step either side of each (feature, threshold), base rows cycled."""
    pairs = [(feature, value) for feature, values in sorted(thresholds.items()) for value in values]
    if not pairs or len(base) == 0:
        return np.empty((0, base.shape[1]), dtype=np.float32)
    if len(pairs) > MAX_EDGE_THRESHOLDS:  # an even, deterministic sample of a huge forest's splits
        pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, MAX_EDGE_THRESHOLDS).astype(int)]
    features = np.array([feature for feature, _ in pairs])
    values = np.array([value for _, value in pairs], dtype=np.float32)
    below = np.nextafter(values, np.float32(-np.inf))
    above = np.nextafter(values, np.float32(np.inf))
    rows = base[np.arange(len(pairs)) % len(base)].astype(np.float32)
    blocks = []
    for column in (below, values, above):
        block = rows.copy()
        block[np.arange(len(pairs)), features] = column
        blocks.append(block)
    return np.concatenate(blocks)


def certificate(
    task: str,
    precision: str,
    original: Callable[[np.ndarray], np.ndarray],
    artifact: Callable[[np.ndarray], np.ndarray],
    reference: dict[str, np.ndarray],
    edges: np.ndarray,
    classes: list[Any] | None = None,
) -> dict[str, Any]:
    """Compare artifact and original outputs; the certificate says whether the tolerance holds.
    ``classes`` names the output columns of a classifier (default: their indices)."""
    sets = {
        "reference": (reference["X"], reference["outputs"]),
        "test": (reference["test_X"], reference["test_outputs"]),
        "threshold_edges": (edges, original(edges) if len(edges) else np.empty((0,))),
    }
    tolerance = TOLERANCES[precision]
    scale = parity_scale(task, reference)
    per_set, agreements, worst, outputs = {}, [], 0.0, {}
    for name, (rows, expected) in sets.items():
        if len(rows) == 0:
            per_set[name] = {"rows": 0}
            continue
        got = outputs[name] = artifact(rows).reshape(expected.shape)
        difference = float(np.max(np.abs(got - expected)))
        worst = max(worst, difference)
        entry: dict[str, Any] = {"rows": len(rows), "max_abs_diff": difference}
        if task == "classification":
            agree = got.argmax(axis=1) == expected.argmax(axis=1)
            agreements.append(agree)
            entry["label_agreement"] = float(agree.mean())
        per_set[name] = entry
    metric = _metric_change(task, reference, outputs["test"])
    label_agreement = float(np.concatenate(agreements).mean()) if agreements else None
    per_class, class_failures = _per_class(reference, outputs, tolerance, classes) if task == "classification" else (None, [])
    failures = []
    if tolerance.max_abs_diff is not None and worst > tolerance.max_abs_diff * scale:
        failures.append(f"max_abs_diff {worst:.3g} > {tolerance.max_abs_diff * scale:.3g}")
    if label_agreement is not None and label_agreement < tolerance.label_agreement:
        failures.append(f"label agreement {label_agreement:.4f} < {tolerance.label_agreement}")
    if metric["loss"] > tolerance.metric_loss:
        failures.append(f"{metric['name']} loss {metric['loss']:.4f} > {tolerance.metric_loss}")
    failures.extend(class_failures)
    return {
        "precision": precision,
        "passed": not failures,
        "failures": failures,
        "rows": sum(entry["rows"] for entry in per_set.values()),
        "threshold_edge_rows": per_set["threshold_edges"]["rows"],
        "max_abs_diff": worst,
        "label_agreement": label_agreement,
        "metric": metric,
        "tolerance": {
            "max_abs_diff": None if tolerance.max_abs_diff is None else tolerance.max_abs_diff * scale,
            "label_agreement": tolerance.label_agreement,
            "metric_loss": tolerance.metric_loss,
            **({"class_agreement": tolerance.class_agreement, "class_recall_loss": tolerance.class_recall_loss}
               if per_class is not None else {}),
        },
        "classes": per_class,
        "sets": per_set,
    }


def _per_class(reference: dict[str, np.ndarray], outputs: dict[str, np.ndarray], tolerance: Tolerance,
               classes: list[Any] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Per class: the ordinary rows the original assigns to it, the share the artifact keeps, and
    its test recall (against the labels, when the sample has them) before and after."""
    names = [key for key in ("reference", "test") if key in outputs]
    expected = np.concatenate([reference["outputs" if key == "reference" else "test_outputs"] for key in names]).argmax(axis=1)
    got = np.concatenate([outputs[key] for key in names]).argmax(axis=1)
    count = reference["outputs"].shape[1]
    rows = np.bincount(expected, minlength=count)
    kept = np.bincount(expected[got == expected], minlength=count)
    y = reference["test_y"]
    labelled = "test" in outputs and not (y.dtype.kind == "f" and np.isnan(y).all())
    if labelled:
        truth = y.astype(np.int64)
        support = np.bincount(truth, minlength=count)[:count]
        hits_original = np.bincount(truth[reference["test_outputs"].argmax(axis=1) == truth], minlength=count)[:count]
        hits_artifact = np.bincount(truth[outputs["test"].argmax(axis=1) == truth], minlength=count)[:count]
    entries, all_failures = [], []
    for index in range(count):
        name = classes[index] if classes is not None and index < len(classes) else index
        entry: dict[str, Any] = {"class": name, "rows": int(rows[index]),
                                 "agreement": float(kept[index] / rows[index]) if rows[index] else None, "recall": None}
        failures = []
        misses = int(rows[index] - kept[index])
        if entry["agreement"] is not None and entry["agreement"] < tolerance.class_agreement and misses >= MIN_CLASS_MISSES:
            failures.append(f"class {name}: the artifact keeps {entry['agreement']:.2%} of the {rows[index]} rows the original "
                            f"assigns it < {tolerance.class_agreement:.0%}")
        if labelled and support[index]:
            before, after = hits_original[index] / support[index], hits_artifact[index] / support[index]
            loss = max(0.0, float(before - after))
            entry["recall"] = {"original": float(before), "artifact": float(after), "loss": loss}
            if loss > tolerance.class_recall_loss and hits_original[index] - hits_artifact[index] >= MIN_CLASS_MISSES:
                failures.append(f"class {name}: test recall {before:.3f} -> {after:.3f} (loss > {tolerance.class_recall_loss})")
        entry["passed"] = not failures
        entries.append(entry)
        all_failures.extend(failures)
    return entries, all_failures


def parity_scale(task: str, reference: dict[str, np.ndarray]) -> float:
    """Absolute tolerances are for probabilities; regression values scale them by their magnitude."""
    if task == "classification":
        return 1.0
    return max(1.0, float(np.max(np.abs(reference["test_outputs"]))))


def _metric_change(task: str, reference: dict[str, np.ndarray], got: np.ndarray) -> dict[str, Any]:
    y, expected = reference["test_y"], reference["test_outputs"]
    got = got.reshape(expected.shape)
    if y.dtype.kind == "f" and np.isnan(y).all():  # an imported model's sample without labels
        return {"name": None, "original": None, "artifact": None, "delta": None, "loss": 0.0}
    if task == "classification":
        original = float(np.mean(expected.argmax(axis=1) == y))
        compiled = float(np.mean(got.argmax(axis=1) == y))
        return {"name": "accuracy", "original": original, "artifact": compiled, "delta": compiled - original,
                "loss": max(0.0, original - compiled)}
    original = float(np.sqrt(np.mean((expected - y) ** 2)))
    compiled = float(np.sqrt(np.mean((got - y) ** 2)))
    loss = max(0.0, (compiled - original) / original) if original > 0 else 0.0
    return {"name": "rmse", "original": original, "artifact": compiled, "delta": compiled - original, "loss": loss}


def extreme_rows(base: np.ndarray, numeric: list[int]) -> np.ndarray:
    """Per extreme value: a row with one numeric feature at it (each feature, at most
    MAX_EXTREME_FEATURES of them, evenly chosen), one with every numeric feature at it, and one with
    them at alternating signs; base rows cycled."""
    columns = np.asarray(numeric, dtype=np.intp)
    if not columns.size or len(base) == 0:
        return np.empty((0, base.shape[1]), dtype=np.float32)
    single = columns[np.linspace(0, len(columns) - 1, MAX_EXTREME_FEATURES).astype(int)] if len(columns) > MAX_EXTREME_FEATURES \
        else columns
    signs = np.where(np.arange(len(columns)) % 2 == 0, 1.0, -1.0)
    blocks = []
    for value in EXTREME_VALUES:
        rows = base[np.arange(len(single) + 2) % len(base)].astype(np.float32)
        rows[np.arange(len(single)), single] = value
        rows[-2, columns] = value
        rows[-1, columns] = value * signs
        blocks.append(rows)
    return np.concatenate(blocks)


def _answers_of_the_original(original: Callable[[np.ndarray], np.ndarray], rows: np.ndarray,
                             shape: tuple[int, ...]) -> np.ndarray:
    """The original's outputs; NaN for a row it refuses to compute (a scikit-learn tree behind a
    scaler refuses values past float32's range): there is nothing to compare such a row with."""
    try:
        return np.asarray(original(rows), dtype=np.float64)
    except (ValueError, OverflowError, FloatingPointError):
        pass
    answers = []
    for row in rows:  # a few hundred rows, once per compile: find the ones it refuses
        try:
            answers.append(np.asarray(original(row[None, :]), dtype=np.float64)[0])
        except (ValueError, OverflowError, FloatingPointError):
            answers.append(None)
    shape = next((np.shape(answer) for answer in answers if answer is not None), shape)
    return np.array([np.full(shape, np.nan) if answer is None else answer for answer in answers])


def check_extremes(
    parity: dict[str, Any],
    task: str,
    original: Callable[[np.ndarray], np.ndarray],
    artifact: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
) -> dict[str, Any]:
    """Add the ``extremes`` set to a certificate (module docstring); a finite wrong label fails it.
    The original runs on the same values in float64, as scikit-learn computes. A NaN or infinite
    output on the other sets fails it too (a NaN difference would pass every comparison)."""
    unanswered = [name for name, entry in parity["sets"].items() if not np.isfinite(entry.get("max_abs_diff", 0.0))]
    if unanswered:
        parity["failures"] = [*parity["failures"], f"NaN or infinite outputs on the {', '.join(unanswered)} rows"]
        parity["passed"] = False
    if len(rows) == 0:
        parity["sets"]["extremes"] = {"rows": 0}
        return parity
    with np.errstate(all="ignore"):
        got = np.asarray(artifact(rows))
        expected = _answers_of_the_original(original, rows.astype(np.float64), got.shape[1:])
        got = got.reshape(expected.shape)
    answered = np.isfinite(got.reshape(len(rows), -1)).all(axis=1)
    entry: dict[str, Any] = {"rows": len(rows), "errors": int(np.count_nonzero(~answered))}
    if task == "classification":
        compared = answered & np.isfinite(expected).all(axis=1)
        agree = got.argmax(axis=1) == expected.argmax(axis=1)
        disagreements = int(np.count_nonzero(compared & ~agree))
        entry.update(label_agreement=float(agree[compared].mean()) if compared.any() else None, disagreements=disagreements)
        if disagreements:
            failure = f"{disagreements} of {len(rows)} rows at +-1e30 and +-float32 max get a finite label other than the original's"
            parity["failures"] = [*parity["failures"], failure]
            parity["passed"] = False
    parity["sets"]["extremes"] = entry
    return parity
