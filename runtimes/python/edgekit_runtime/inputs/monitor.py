"""Counting what the model is fed that training never showed it: a value missing where training
had none, a value below the training minimum or above the maximum, an unknown category.

Such rows are still predicted (every model here takes NaN and any float); the counts are what a
device reports, and what drift detection reads. Thread-safe: a server's request threads share one.

What it costs, and how it stays exact: a NumPy call costs about a microsecond, more than a C model
takes to predict one row, so nothing is checked per single row. ``defer`` keeps the row, its output
and its latency (bytes and an int in a list: one append) and every DEFERRED_ROWS rows ``flush``
checks and counts them in one vectorised pass; ``report()`` flushes first, so no row goes uncounted
and the counts equal those of checking each row at once. A batch's violations are counted at once,
on every row. Its histogram counts are a systematic sample (every HISTOGRAM_STEP-th row of a batch
of more than HISTOGRAM_ALL_ROWS), kept like single rows and binned when DEFERRED_ROWS are pending:
binning every row of every batch would cost more than a tree model's prediction. The histograms'
``rows`` says how many rows they hold.

A C artifact counts in C instead (``predictors/c_monitor.py``), the same counts (the same batch
sample), in the call that predicts it. Its counters are ``native`` and join these at ``report()``.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .schema import InputSchema
from .telemetry import Histograms

KINDS = ("missing", "below_min", "above_max", "unknown_category")
DEFERRED_ROWS = 256
HISTOGRAM_ALL_ROWS = 256  # a batch up to this size is binned whole (a device's telemetry batch of 100 rows stays exact)
HISTOGRAM_STEP = 16  # larger batches: every 16th row


class InputMonitor:
    def __init__(self, schema: InputSchema, histograms: Histograms | None = None) -> None:
        self.schema = schema
        self.histograms = histograms
        self._low, self._high = schema.low, schema.high
        self._missing_expected = schema.missing_seen
        self._category_columns = np.asarray(sorted(schema.categories), dtype=np.intp)
        self._lock = threading.Lock()  # held by counters and flushes; ``defer`` appends without it
        self.rows = 0
        self.rows_with_violations = 0
        self.counts = {kind: np.zeros(schema.features, dtype=np.int64) for kind in KINDS}
        self._pending: list[tuple[bytes, bytes, int]] = []  # single rows: (row, output, latency ns)
        self._sampled: list[tuple[bytes, bytes]] = []  # batches' histogram samples: (rows, outputs)
        self._sampled_rows = 0
        self.native: Any = None  # counters kept elsewhere (a CMonitor), drained into these at report()

    def defer(self, row: np.ndarray, output: np.ndarray, latency_ns: int = -1) -> None:
        """Count one float32 row [1, features], its output and its call's latency (-1: not timed)
        later, with the next rows. One append: a list's append is atomic, and ``flush`` removes
        only what it took, so rows appended meanwhile wait for the next flush."""
        pending = self._pending
        pending.append((row.tobytes(), output.tobytes(), latency_ns))
        if len(pending) >= DEFERRED_ROWS:
            self.flush()

    def flush(self) -> None:
        """Check and count every row pending (single rows, batches' histogram samples)."""
        with self._lock:
            taken = self._pending[:]
            del self._pending[: len(taken)]
            sampled, self._sampled, self._sampled_rows = self._sampled, [], 0
        rows_parts = [rows for rows, _ in sampled]
        output_parts = [outputs for _, outputs in sampled if outputs is not None]
        if taken:
            row_bytes, output_bytes, latencies = zip(*taken, strict=True)
            rows = np.frombuffer(b"".join(row_bytes), dtype=np.float32).reshape(len(taken), self.schema.features)
            self._count_violations(rows, None)
            rows_parts.append(rows)
            output_parts.append(np.frombuffer(b"".join(output_bytes), dtype=np.float32).reshape(len(taken), -1))
            timed = np.asarray(latencies, dtype=np.float64)
            if self.histograms is not None and (timed := timed[timed >= 0]).size:
                self.histograms.add_latencies(timed / 1000)
        if self.histograms is not None and rows_parts:
            self.histograms.add(np.concatenate(rows_parts) if len(rows_parts) > 1 else rows_parts[0], None)
            if output_parts:
                self.histograms.add_predictions(np.concatenate(output_parts) if len(output_parts) > 1 else output_parts[0])

    def observe(self, rows: np.ndarray, unknown: np.ndarray | None = None, outputs: np.ndarray | None = None) -> None:
        """Count the violations in ``rows`` (float32 [n, features]) now; keep their histogram sample
        (every row up to HISTOGRAM_ALL_ROWS, else every HISTOGRAM_STEP-th) for the next flush.
        ``unknown`` marks the cells where an encoder met an unknown category (bool [n, features]):
        they reach the rows as NaN, and count as unknown categories, not as missing values."""
        self._count_violations(rows, unknown)
        if self.histograms is None or not rows.shape[0]:
            return
        count = rows.shape[0]
        step = 1 if count <= HISTOGRAM_ALL_ROWS else HISTOGRAM_STEP
        sample = np.array(rows[::step], dtype=np.float32)  # copies: the caller may reuse its arrays
        picked = None if outputs is None else np.array(outputs.reshape(count, -1)[::step], dtype=np.float32)
        with self._lock:
            self._sampled.append((sample, picked))
            self._sampled_rows += sample.shape[0]
            full = self._sampled_rows >= DEFERRED_ROWS
        if full:
            self.flush()

    def _count_violations(self, rows: np.ndarray, unknown: np.ndarray | None) -> None:
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

    def add_counted(self, rows: int, rows_with_violations: int, counts: dict[str, np.ndarray]) -> None:
        """Counts made elsewhere (per kind, per feature), added to these."""
        with self._lock:
            self.rows += rows
            self.rows_with_violations += rows_with_violations
            for kind, values in counts.items():
                self.counts[kind] += values

    def report(self) -> dict[str, Any]:
        """Totals, and per feature only the kinds that happened: {"rows", "rows_with_violations",
        "violations": {kind: total}, "features": {name: {kind: count}}}."""
        self.flush()
        if self.native is not None:
            self.native.drain()
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
