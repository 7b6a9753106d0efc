"""Timing helpers the benchmark scripts share (they import it as a sibling module)."""

from __future__ import annotations

import time
from typing import Any


def timings(call, repeats: int, calls_per_sample: int = 1) -> list[float]:
    """Microseconds per call, after a short warm-up. A call of a microsecond or less is timed in
    groups of `calls_per_sample`: reading the clock around each call would add its own ~0.1 µs."""
    for _ in range(min(20, repeats)):
        call()
    group = range(calls_per_sample)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for _ in group:
            call()
        samples.append((time.perf_counter_ns() - started) / 1e3 / calls_per_sample)
    return samples


def single_threaded(model: Any) -> Any:
    """The model (or its pipeline's last step) set to one thread, as every anchor runs."""
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(estimator, "n_jobs"):
        estimator.set_params(n_jobs=1)
    return model
