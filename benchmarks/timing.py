"""Helpers the benchmark scripts share (they import it as a sibling module): timing, one thread,
their command line and where their results go."""

from __future__ import annotations

import argparse
import json
import os
import platform
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
