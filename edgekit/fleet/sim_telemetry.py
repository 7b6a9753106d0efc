"""What simulated devices see and report: each cohort's sensors are a data source (a file, or
``synthetic:sensors?…`` with drift knobs), each device predicts its share of those rows with the
release it runs — the real edgekit_runtime loader and model — and reports what the device agent
would: the counters and histograms of edgekit_runtime's InputMonitor, latency of single-row calls
timed here, as the body of POST /v1/devices/ID/telemetry."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from edgekit_runtime.agent.telemetry_report import telemetry_payload
from edgekit_runtime.inputs.monitor import InputMonitor
from edgekit_runtime.inputs.telemetry import BASELINE_FILE, Histograms
from edgekit_runtime.loader import LoadedModel, load

from ..errors import BadInput

FEED_ROWS = 20_000  # rows generated per feed; devices read them round-robin from their own offset


class SensorFeed:
    """The rows a cohort's sensors produce, encoded once per input schema."""

    def __init__(self, source: str, rows: int = FEED_ROWS) -> None:
        from ..data.sources import load_table

        if source.startswith("synthetic:") and "rows=" not in source:
            source += ("&" if "?" in source else "?") + f"rows={rows}"
        table = load_table(source)
        self.source = source
        self.frame = table.frame
        self._encoded: dict[tuple[str, ...], np.ndarray] = {}

    def rows(self, model: LoadedModel, start: int, count: int) -> np.ndarray:
        schema = model.schema
        key = tuple(schema.names)
        if key not in self._encoded:
            absent = [name for name in schema.names if name not in self.frame]
            if absent:
                raise BadInput(f"the feed {self.source} has no column for the model's feature(s) {', '.join(absent[:3])}",
                               "feed the devices data with the columns the model was trained on")
            columns = {name: self.frame[name].to_numpy() for name in schema.names}
            self._encoded[key] = schema.encode_columns(columns, len(self.frame))[0]
        encoded = self._encoded[key]
        indices = (start + np.arange(count)) % encoded.shape[0]
        return np.ascontiguousarray(encoded[indices])


class ReleaseModels:
    """Each release a simulated device runs, unpacked, loaded and its baseline read once for the whole fleet."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._models: dict[str, tuple[LoadedModel, dict[str, Any] | None]] = {}

    def directory(self, sha256: str) -> Path:
        return self.work / "releases" / sha256

    def get(self, sha256: str) -> tuple[LoadedModel, dict[str, Any] | None] | None:
        """(the loaded model, its training baseline or None), or None when the release is not unpacked."""
        directory = self.directory(sha256)
        if sha256 not in self._models and (directory / "artifact.json").is_file():
            baseline = directory / BASELINE_FILE
            self._models[sha256] = (load(directory), json.loads(baseline.read_text()) if baseline.is_file() else None)
        return self._models.get(sha256)


def device_report(model: LoadedModel, baseline: dict[str, Any] | None, release: str, rows: np.ndarray, timed_calls: int,
                  period_seconds: float) -> dict[str, Any]:
    """What one device counted predicting ``rows`` in a batch, ``timed_calls`` of them one at a time."""
    monitor = InputMonitor(model.schema, Histograms(baseline) if baseline is not None else None)
    monitor.observe(rows, outputs=model.runtime_predict(rows))
    clock = time.perf_counter_ns
    for index in range(min(timed_calls, rows.shape[0]) if monitor.histograms is not None else 0):
        started = clock()
        model.runtime_predict(rows[index:index + 1])
        monitor.histograms.add_latency((clock() - started) / 1000)
    return telemetry_payload(release, period_seconds, monitor.report())
