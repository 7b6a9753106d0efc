"""Counting what the model is fed that training never showed it: a value missing where training
had none, a value below the training minimum or above the maximum, an unknown category.

Such rows are still predicted (every model here takes NaN and any float); the counts are what a
device reports, and what drift detection reads. Thread-safe: a server's request threads share one.

Checking one row costs a few NumPy calls (~2 µs), more than a C model takes to predict it, so
single rows are kept (as immutable bytes) and checked DEFERRED_ROWS at a time; ``report()``
checks what is pending first, so no row goes uncounted.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .schema import InputSchema
from .telemetry import Histograms

KINDS = ("missing", "below_min", "above_max", "unknown_category")
DEFERRED_ROWS = 256


class InputMonitor:
    def __init__(self, schema: InputSchema, histograms: Histograms | None = None) -> None:
        self.schema = schema
        self.histograms = histograms
        self._low, self._high = schema.low, schema.high
        self._missing_expected = schema.missing_seen
        self._category_columns = np.asarray(sorted(schema.categories), dtype=np.intp)
        self._lock = threading.Lock()
        self.rows = 0
        self.rows_with_violations = 0
        self.counts = {kind: np.zeros(schema.features, dtype=np.int64) for kind in KINDS}
        self._pending: list[bytes] = []
        self._pending_outputs: list[bytes] = []

    def defer(self, row: np.ndarray, output: np.ndarray | None = None) -> None:
        """Count one float32 row [1, features] (and its output) later, with the next rows."""
        with self._lock:
            self._pending.append(row.tobytes())
            if output is not None and self.histograms is not None:
                self._pending_outputs.append(output.astype(np.float32, copy=False).tobytes())
            full = len(self._pending) >= DEFERRED_ROWS
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            outputs, self._pending_outputs = self._pending_outputs, []
        if pending:
            rows = np.frombuffer(b"".join(pending), dtype=np.float32).reshape(len(pending), self.schema.features)
            values = np.frombuffer(b"".join(outputs), dtype=np.float32).reshape(len(pending), -1) if len(outputs) == len(pending) else None
            self.observe(rows, outputs=values)

    def observe(self, rows: np.ndarray, unknown: np.ndarray | None = None, outputs: np.ndarray | None = None) -> None:
        """Count the violations in ``rows`` (float32 [n, features]). ``unknown`` marks the cells
        where an encoder met an unknown category (bool [n, features]): they reach the rows as NaN,
        and count as unknown categories, not as missing values."""
        if self.histograms is not None:
            self.histograms.add(rows, outputs)
        # Fast path: every value in range (NaN fails both comparisons) and nothing unknown.
        inside = (rows >= self._low) & (rows <= self._high)
        if unknown is None and not self._category_columns.size and inside.all():
            with self._lock:
                self.rows += rows.shape[0]
            return
        unknown = np.zeros(rows.shape, dtype=bool) if unknown is None else unknown.copy()
        missing = np.isnan(rows) & ~self._missing_expected & ~unknown
        below, above = rows < self._low, rows > self._high
        if self._category_columns.size:  # a code that is not a whole number is no category either
            codes = rows[:, self._category_columns]
            unknown[:, self._category_columns] |= ~np.isnan(codes) & (codes != np.floor(codes))
        flagged = missing | below | above | unknown
        with self._lock:
            self.rows += rows.shape[0]
            self.rows_with_violations += int(np.count_nonzero(flagged.any(axis=1)))
            for kind, cells in zip(KINDS, (missing, below, above, unknown), strict=True):
                self.counts[kind] += cells.sum(axis=0)

    def report(self) -> dict[str, Any]:
        """Totals, and per feature only the kinds that happened: {"rows", "rows_with_violations",
        "violations": {kind: total}, "features": {name: {kind: count}}}."""
        self.flush()
        with self._lock:
            counts = {kind: values.copy() for kind, values in self.counts.items()}
            rows, flagged = self.rows, self.rows_with_violations
        features = {}
        for index, name in enumerate(self.schema.names):
            seen = {kind: int(counts[kind][index]) for kind in KINDS if counts[kind][index]}
            if seen:
                features[name] = seen
        report = {
            "rows": rows,
            "rows_with_violations": flagged,
            "violations": {kind: int(counts[kind].sum()) for kind in KINDS},
            "features": features,
        }
        if self.histograms is not None:
            report["histograms"] = self.histograms.snapshot()
        return report
