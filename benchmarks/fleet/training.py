"""Dask training vs in-process training of the same XGBoost model on the same Parquet rows.

Jobs (each a fresh process per round, in interleaved rounds, the order rotating; figures are medians):
  in-process   pandas reads every file, ``edgekit train`` fits in this one process (one thread)
  dask-1       ``--engine dask --workers 1``: a LocalCluster of one worker process (one thread)
  dask-2       ``--engine dask --workers 2``: two worker processes, one thread each

Wall time is end to end (reading, statistics, training, evaluation, bundle; a LocalCluster's start
and stop included); the Dask rows also show each pass's seconds on the client's clock and the peak
resident memory of a worker. Data: seeded synthetic rows, float64 features, a 3-value text column
and a binary label (benchmarks/fleet/training.py:write_rows); the model 20 trees of depth 4.

    .venv/bin/python benchmarks/fleet/training.py [--out benchmarks/results] [--quick]

``run(out, quick)`` is what benchmarks/fleet/bench_fleet.py can call; it returns the result rows.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import arguments, interleaved_rounds, machine_line, scratch, write_results

PARAMS = {"n_estimators": "20", "max_depth": "4"}
FULL = {"files": 24, "rows": 20_000, "features": 32, "rounds": 3}
QUICK = {"files": 8, "rows": 10_000, "features": 32, "rounds": 1}


def write_rows(directory: Path, files: int, rows: int, features: int, seed: int = 0) -> int:
    """Seeded Parquet files; returns the bytes the rows take decoded (Arrow's count)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(seed).normal(size=features) / np.sqrt(features / 12)
    decoded = 0
    for index in range(files):
        rng = np.random.default_rng([seed, index])
        X = rng.normal(size=(rows, features))
        site = rng.choice(np.array(["north", "south", "east"], dtype=object), size=rows)
        signal = X @ weights * 0.6 + np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] + (site == "north")
        label = (rng.random(rows) < 1 / (1 + np.exp(-signal))).astype(np.int64)
        table = pa.table({**{f"x{i}": X[:, i] for i in range(features)}, "site": site, "label": label})
        pq.write_table(table, directory / f"part-{index:04d}.parquet", compression="none")
        decoded += table.nbytes
    return decoded


def worker(engine: str, data: str, work: str) -> None:
    """One job, in this fresh process: prints one JSON line."""
    import tempfile

    import pandas as pd

    from edgekit.training import train_bundle

    out = Path(tempfile.mkdtemp(dir=work)) / "bundle"  # a new directory each round
    started = time.perf_counter()
    if engine == "in-process":
        frame = pd.concat([pd.read_parquet(file) for file in sorted(Path(data).glob("*.parquet"))], ignore_index=True)
        bundle = train_bundle(frame, out, params=PARAMS)
    else:
        bundle = train_bundle(data, out, engine="dask", workers=int(engine.split("-")[1]), params=PARAMS)
    seconds = time.perf_counter() - started
    info = bundle.info
    engine_info = info.engine or {}
    print(json.dumps({"wall_s": seconds, "train_s": info.train_seconds, "accuracy": info.metrics["test"]["accuracy"],
                      "roc_auc": info.metrics["test"]["roc_auc"], "passes_s": engine_info.get("seconds"),
                      "worker_peak_mib": max(engine_info.get("worker_peak_bytes", [0])) / 2**20 or None}))


def run(out: Path, quick: bool = False) -> list[dict]:
    size = QUICK if quick else FULL
    with scratch() as work:
        decoded = write_rows(work / "rows", size["files"], size["rows"], size["features"])
        jobs = {name: [name, str(work / "rows"), str(work)] for name in ("in-process", "dask-1", "dask-2")}
        samples = interleaved_rounds(__file__, jobs, size["rounds"], label="training: ")
    results = []
    for name, entries in samples.items():
        results.append({
            "job": name, "rows": size["files"] * size["rows"], "features": size["features"] + 1,
            "decoded_mib": round(decoded / 2**20, 1), "rounds": len(entries),
            "wall_s": statistics.median(entry["wall_s"] for entry in entries),
            "wall_s_rounds": [round(entry["wall_s"], 2) for entry in entries],
            "train_s": statistics.median(entry["train_s"] for entry in entries),
            "accuracy": entries[0]["accuracy"], "roc_auc": entries[0]["roc_auc"],
            "passes_s": entries[-1]["passes_s"], "worker_peak_mib": entries[-1]["worker_peak_mib"],
        })
    write_results(out, "fleet_training" + ("_quick" if quick else ""), results, _markdown)
    return results


def _markdown(results: list[dict], machine: dict) -> str:
    first = results[0]
    lines = [
        "# Dask training vs in-process training", "",
        (f"{machine_line(machine)}. {first['rows']:,} rows x {first['features']} columns "
         f"({first['decoded_mib']} MiB decoded), XGBoost 20 trees of depth 4; medians of {first['rounds']} "
         "interleaved rounds, each job a fresh process."), "",
        "| job | wall s (median) | rounds | training s | test accuracy | test ROC AUC | passes s (stats / train / eval) | worker peak MiB |",
        "|---|---:|---|---:|---:|---:|---|---:|",
    ]
    for row in results:
        passes = row["passes_s"]
        shown = " / ".join(f"{passes[name]:.1f}" for name in ("statistics", "training", "evaluation")) if passes else "-"
        peak = f"{row['worker_peak_mib']:.0f}" if row["worker_peak_mib"] else "-"
        lines.append(f"| {row['job']} | {row['wall_s']:.1f} | {row['wall_s_rounds']} | {row['train_s']:.1f} | "
                     f"{row['accuracy']:.4f} | {row['roc_auc']:.4f} | {shown} | {peak} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
    else:
        options = arguments(__doc__.splitlines()[0], "one round on 80 000 rows")
        print(Path(run(options.out, options.quick) and options.out).resolve())
