"""Timing a loaded model on this machine, the way an application calls it: one row per call
(latency percentiles) and large batches (throughput), after a warm-up. What ``edgekit bench`` runs
in a child process, so that the memory it reports is the harness's own.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import numpy as np

from .loader import LoadedModel


def peak_resident_bytes() -> int:
    """This process's peak resident memory. Linux: VmHWM, which belongs to the process image; the
    rusage maximum would include the parent's memory when the parent spawned us with vfork."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def benchmark(model: LoadedModel, rows: np.ndarray, runs: int = 2000, warmup: int = 200, batch: int = 1000,
              checked: bool = True) -> dict[str, Any]:
    """Latency of single-row calls in µs (p50/p90/p99/mean/max), batch throughput in rows/s, and the
    process's peak resident memory. ``checked=False`` times the runtime alone (no input checks)."""
    predict = model.predict if checked else model.runtime_predict
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    singles = [rows[index : index + 1] for index in range(len(rows))]
    clock = time.perf_counter_ns
    for index in range(warmup):
        predict(singles[index % len(singles)])
    elapsed = np.empty(runs, dtype=np.int64)
    for index in range(runs):  # the measured loop: one call per row, as a real-time app makes them
        row = singles[index % len(singles)]
        started = clock()
        predict(row)
        elapsed[index] = clock() - started
    micros = elapsed / 1000.0
    block = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])))
    predict(block)
    repeats, started = 0, clock()
    while repeats < 3 or clock() - started < 200_000_000:  # at least 3 batches and 0.2 s
        predict(block)
        repeats += 1
    batch_seconds = (clock() - started) / 1e9 / repeats
    return {
        "single_row_us": {
            "p50": float(np.percentile(micros, 50)),
            "p90": float(np.percentile(micros, 90)),
            "p99": float(np.percentile(micros, 99)),
            "mean": float(micros.mean()),
            "max": float(micros.max()),
            "runs": runs,
            "warmup": warmup,
        },
        "quantiles_us": {"percent": list(range(0, 101, 2)), "values": np.percentile(micros, range(0, 101, 2)).round(4).tolist()},
        "batch": {"rows": batch, "seconds": batch_seconds, "rows_per_second": batch / batch_seconds, "repeats": repeats},
        "peak_rss_bytes": peak_resident_bytes(),
        "input_checks": checked,
    }
