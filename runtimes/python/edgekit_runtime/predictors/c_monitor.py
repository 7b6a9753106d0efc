"""The input monitor of a C artifact, counted in C (``edgekit_monitor.c``, API in edgekit_model.h).

One ctypes call predicts, times the prediction, checks the outputs are finite, counts the rows'
violations and bins the rows, their outputs and the latency, exactly as the Python monitor
(``inputs/monitor.py``, ``inputs/telemetry.py``) counts them: every row's violations, and the
histograms of every row of a call of up to 256 rows, of every 16th row of a larger batch. Single
rows are held in C and counted 128 at a time (a row then costs a copy and its share of a batch
pass, ~0.1 µs); the counters live in C, and ``drain`` counts what is held and adds them into the
Python monitor's when it reports, so every report is exact and its format stays as it is.

A library built before edgekit_monitor.c has no ``edgekit_monitor_*`` symbols (and a microcontroller
build is never loaded here): ``CMonitor.attach`` returns None and the Python monitor counts instead.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..inputs.monitor import KINDS, InputMonitor
from ..inputs.telemetry import LATENCY_BUCKETS_US
from .rows import as_rows

MONITOR_VERSION = 1
ROWS, FLAGGED_ROWS, HISTOGRAM_ROWS, VIOLATIONS = 0, 1, 2, 3  # the header's fixed counter slots
HISTOGRAM_NONE, HISTOGRAM_EDGES, HISTOGRAM_CODES = 0, 1, 2
_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)
_pointer = ctypes.c_void_p


class _Layout(ctypes.Structure):
    """struct edgekit_monitor_layout, field for field."""

    _fields_ = [
        ("features", ctypes.c_uint), ("low", _pointer), ("high", _pointer), ("missing_seen", _pointer), ("codes", _pointer),
        ("binned", ctypes.c_int), ("histogram_kind", _pointer), ("bins", _pointer), ("bin_at", _pointer),
        ("missing_at", _pointer), ("edge_ranks", ctypes.c_uint), ("edges", _pointer), ("class_at", ctypes.c_longlong),
        ("score_at", ctypes.c_longlong), ("score_column", ctypes.c_int), ("score_edges", ctypes.c_uint),
        ("score_edge_values", _pointer), ("latency_at", ctypes.c_longlong), ("latency_buckets", ctypes.c_uint),
        ("latency_bounds_us", _pointer), ("counters", ctypes.c_size_t),
    ]


class CMonitor:
    """The C monitor state of one loaded library (a CPredictor: its ``library``, ``outputs`` and
    ``threads``), feeding one InputMonitor."""

    @staticmethod
    def attach(predictor: Any, monitor: InputMonitor) -> CMonitor | None:
        library = predictor.library
        try:
            version = ctypes.c_uint.in_dll(library, "edgekit_monitor_version").value
        except ValueError:  # built before edgekit_monitor.c
            return None
        return CMonitor(predictor, monitor) if version == MONITOR_VERSION else None

    def __init__(self, predictor: Any, monitor: InputMonitor) -> None:
        self.predictor, self.monitor = predictor, monitor
        layout, keep = self._layout(predictor.outputs)
        library = predictor.library
        new = library.edgekit_monitor_new
        new.argtypes, new.restype = (ctypes.POINTER(_Layout),), _pointer
        state = new(ctypes.byref(layout))
        del keep  # edgekit_monitor_new copied what it needs
        if not state:
            raise MemoryError("edgekit_monitor_new: out of memory")
        self._state = _pointer(state)
        free = library.edgekit_monitor_free
        free.argtypes, free.restype = (_pointer,), None
        weakref.finalize(self, free, self._state)
        self._drain = library.edgekit_monitor_drain
        self._drain.argtypes, self._drain.restype = (_pointer, _pointer), None
        # A single row keeps the GIL (PyDLL), as CPredictor's does; a batch releases it (CDLL).
        self._one = ctypes.PyDLL(library._name).edgekit_monitor_predict
        self._one.argtypes, self._one.restype = None, ctypes.c_int
        self._batch = library.edgekit_monitor_predict_batch
        self._batch.argtypes = (_pointer, _pointer, ctypes.c_size_t, _pointer, _pointer, ctypes.c_uint)
        self._batch.restype = ctypes.c_size_t

    def _layout(self, outputs: int) -> tuple[_Layout, list[np.ndarray]]:
        """The C layout of the Python monitor's counters: the fixed slots, the violations, then the
        histograms' arrays in the order ``drain`` reads them back."""
        schema, histograms = self.monitor.schema, self.monitor.histograms
        features = schema.features
        keep: list[np.ndarray] = []

        def address(array: np.ndarray) -> int:
            keep.append(array)
            return array.ctypes.data

        codes = np.zeros(features, dtype=np.uint8)
        codes[list(schema.categories)] = 1
        kind = np.zeros(features, dtype=np.uint8)
        bins = np.zeros(features, dtype=np.uint32)
        bin_at = np.full(features, -1, dtype=np.int64)
        missing_at = np.full(features, -1, dtype=np.int64)
        offset = VIOLATIONS + len(KINDS) * features
        layout = _Layout(features=features, low=address(np.ascontiguousarray(schema.low, dtype=np.float32)),
                         high=address(np.ascontiguousarray(schema.high, dtype=np.float32)),
                         missing_seen=address(schema.missing_seen.astype(np.uint8)), codes=address(codes),
                         class_at=-1, score_at=-1, score_column=-1, latency_at=-1)
        self._slices: dict[str, slice] = {}
        if histograms is not None:
            width = histograms.width
            numeric = np.asarray(histograms.numeric, dtype=np.intp)
            kind[numeric] = HISTOGRAM_EDGES
            bins[numeric] = histograms.bins
            bin_at[numeric] = offset + np.arange(numeric.size) * width
            missing_at[numeric] = bin_at[numeric] + width - 1
            self._slices["numeric"] = slice(offset, offset + histograms.numeric_counts.size)
            offset += histograms.numeric_counts.size
            edges = np.full((len(histograms.edge_columns), features), np.inf, dtype=np.float32)
            for rank, column in enumerate(histograms.edge_columns):  # the same rounded float32 edges as the Python binning
                edges[rank, numeric] = column[:, 0]
            for index, size in histograms.categorical:
                kind[index], bins[index], bin_at[index], missing_at[index] = HISTOGRAM_CODES, size, offset, offset + size
                offset += size + 1
            self._slices["categorical"] = slice(self._slices["numeric"].stop, offset)
            classes = histograms.prediction_kind == "classes" and outputs == histograms.class_counts.size
            if classes:
                layout.class_at = offset
                self._slices["classes"] = slice(offset, offset + outputs)
                offset += outputs
            if histograms.score_edges is not None and (not classes or outputs == 2):
                layout.score_at, layout.score_column = offset, 1 if classes else -1
                layout.score_edges = histograms.score_edges.size
                layout.score_edge_values = address(np.ascontiguousarray(histograms.score_edges, dtype=np.float64))
                self._slices["scores"] = slice(offset, offset + histograms.score_counts.size)
                offset += histograms.score_counts.size
            layout.latency_at = offset
            layout.latency_buckets = len(LATENCY_BUCKETS_US)
            layout.latency_bounds_us = address(np.asarray(LATENCY_BUCKETS_US, dtype=np.float64))
            self._slices["latency"] = slice(offset, offset + len(histograms.latency))
            offset += len(histograms.latency)
            layout.binned, layout.edge_ranks, layout.edges = 1, edges.shape[0], address(edges)
        layout.histogram_kind, layout.bins = address(kind), address(bins)
        layout.bin_at, layout.missing_at = address(bin_at), address(missing_at)
        layout.counters = offset
        self._counters = offset
        return layout, keep

    def predict_function(self, refuse: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], np.ndarray]:
        """``predict`` for any rows, counted in C, with ``refuse`` given the outputs (it raises) when
        a row's output is not finite. One float row is one ctypes call and no other layer (the
        harness's whole single-row cost is this closure); anything else becomes float32 rows
        [n, features] (``as_rows``: one clear error for bad input) and one batch call."""
        one, counted, state, buffers, ndarray = self._one, self.predict_counted, self._state, threading.local(), np.ndarray
        features = self.predictor.features
        row_shapes = {(features,), (1, features)}
        out_shape = (1, self.predictor.outputs) if self.predictor.outputs > 1 else (1,)

        def predict(rows: Any) -> np.ndarray:
            if type(rows) is ndarray and rows.shape in row_shapes and (rows.dtype is _FLOAT32 or rows.dtype is _FLOAT64):
                try:
                    out, address = buffers.out
                except AttributeError:
                    out = np.empty(out_shape, dtype=np.float32)
                    address = ctypes.c_void_p(out.ctypes.data)
                    buffers.out = out, address
                # tobytes: C order whatever the strides; a float64 row is cast as as_rows would
                if one(state, (rows if rows.dtype is _FLOAT32 else rows.astype(_FLOAT32)).tobytes(), address):
                    return refuse(out.copy())
                return out.copy()
            if not (type(rows) is ndarray and rows.dtype is _FLOAT32 and rows.ndim == 2 and rows.shape[1] == features
                    and rows.flags.c_contiguous):
                rows = as_rows(rows, features)
            outputs, bad = counted(rows)
            return refuse(outputs) if bad else outputs

        return predict

    def predict_counted(self, rows: np.ndarray, unknown: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Outputs for float32 C-contiguous rows [n, features], counted (``unknown``: the
        cells where an encoder met an unknown category, bool [n, features]), and how many rows'
        outputs are not finite."""
        count, predictor = rows.shape[0], self.predictor
        out = np.empty((count, predictor.outputs), dtype=np.float32)
        marks = None if unknown is None else np.ascontiguousarray(unknown, dtype=np.bool_)
        bad = self._batch(self._state, rows.ctypes.data, count, out.ctypes.data,
                          None if marks is None else marks.ctypes.data, predictor.threads)
        return (out if predictor.outputs > 1 else out.reshape(-1)), bad

    def drain(self) -> None:
        """Move the C counters into the Python monitor's (the report reads those)."""
        counters = np.zeros(self._counters, dtype=np.int64)
        self._drain(self._state, counters.ctypes.data)
        features = self.monitor.schema.features
        per_kind = counters[VIOLATIONS: VIOLATIONS + len(KINDS) * features].reshape(len(KINDS), features)
        self.monitor.add_counted(int(counters[ROWS]), int(counters[FLAGGED_ROWS]), dict(zip(KINDS, per_kind, strict=True)))
        histograms = self.monitor.histograms
        if histograms is None:
            return
        empty = np.zeros(0, dtype=np.int64)
        part = {name: counters[where] for name, where in self._slices.items()}
        categorical, start = [], 0
        for _, size in histograms.categorical:
            categorical.append(part["categorical"][start: start + size + 1])
            start += size + 1
        histograms.add_counted(int(counters[HISTOGRAM_ROWS]), part["numeric"].reshape(histograms.numeric_counts.shape), categorical,
                               part.get("classes", empty), part.get("scores", empty), part["latency"])
