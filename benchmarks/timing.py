"""Helpers the benchmark scripts share (they import it as a sibling module): timing, one thread,
their command line and where their results go."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
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
    if hasattr(estimator, "get_booster"):  # a bundle's XGBoost booster
        estimator.get_booster().set_param({"nthread": 1})
    return model


def arguments(description: str, quick: str) -> argparse.Namespace:
    """--out (default benchmarks/results) and --quick (what it leaves out: ``quick``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser.parse_args()


def write_results(out: Path, stem: str, results: list[dict], markdown: Callable[[list[dict], dict], str],
                  **machine: str) -> Path:
    """``stem``.json (machine + results) and ``stem``.md in ``out``; returns the Markdown file."""
    machine = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(), **machine}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(results, machine))
    return out / f"{stem}.md"


def machine_line(machine: dict) -> str:
    """The first words of every results page: what the figures were measured on."""
    return f"Machine: {machine['machine']}, {machine['cpus']} CPUs, Python {machine['python']}"


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary working directory, with EDGEKIT_HOME in it unless set: runs leave no trace."""
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as directory:
        work = Path(directory)
        os.environ.setdefault("EDGEKIT_HOME", str(work / "home"))
        yield work


def mean_node_visits(tables: Any, rows: Any, count_leaf: bool) -> float:
    """Node visits per row over all trees of the tree tables (the internal nodes on each path, and
    the leaf if ``count_leaf``), NaN taking each node's default direction; walked in NumPy over the
    rows, as a benchmark's floor needs."""
    import numpy as np

    from edgekit.compile.trees.tables import LEAF

    visits = np.zeros(len(rows))
    index = np.arange(len(rows))
    for root in tables.roots:
        node = np.full(len(rows), root)
        visits += count_leaf
        while True:
            feature = tables.feature[node]
            active = feature != LEAF
            if not active.any():
                break
            values = rows[index[active], feature[active]]
            left = np.where(np.isnan(values), tables.default_left[node[active]], values < tables.threshold[node[active]])
            node[active] = tables.child[node[active]] + (~left).astype(np.int64)
            visits[active] += 1
    return float(visits.mean())


ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


SINGLE_ROWS = 256  # the distinct rows single-row calls cycle through


def time_predict(predict: Callable[[Any], Any], rows: Any, single: int, batches: int) -> None:
    """A worker's figures, printed as one JSON line: the median batch call over ``rows`` (ms) and
    the median single-row call (µs, groups of 20 calls per clock reading), one row per call cycling
    through SINGLE_ROWS of them: a row repeated would let the branch predictor learn its path and
    the caches keep just its nodes, which flatters branchy code (a tree walk) most."""
    ones = itertools.cycle([rows[index:index + 1].copy() for index in range(min(SINGLE_ROWS, len(rows)))])
    batch_us = statistics.median(timings(lambda: predict(rows), batches))
    single_us = statistics.median(timings(lambda: predict(next(ones)), single, calls_per_sample=20))
    print(json.dumps({"batch_ms": batch_us / 1e3, "single_row_us": single_us}))


def interleaved_rounds(script: str, jobs: dict[str, list[str]], rounds: int, label: str = "") -> dict[str, list[dict]]:
    """Every job as a fresh process (``python script --worker ARGS``, one thread) once per round,
    the order rotating between rounds so no system always goes first; each prints one JSON line.
    Returns each job's samples, a round each."""
    names = list(jobs)
    samples: dict[str, list[dict]] = {name: [] for name in names}
    environment = {**os.environ, **ONE_THREAD}
    for number in range(rounds):
        for name in names[number % len(names):] + names[:number % len(names)]:
            done = subprocess.run([sys.executable, script, "--worker", *jobs[name]], capture_output=True, text=True,
                                  env=environment, check=True)
            samples[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{label}round {number + 1}/{rounds}", flush=True)
    return samples


def medians(samples: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """Per job: the median over rounds of its batch and single-row figures, and the batch rounds."""
    return {name: {"batch_ms": statistics.median(entry["batch_ms"] for entry in entries),
                   "batch_ms_rounds": [entry["batch_ms"] for entry in entries],
                   "single_row_us": statistics.median(entry["single_row_us"] for entry in entries)}
            for name, entries in samples.items()}
