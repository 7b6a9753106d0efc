"""Beyond one machine, in one run: conditional polls through nginx vs uvicorn alone, one mirror
sync, telemetry ingest on SQLite and PostgreSQL (1 and 2 workers), the monitor pass at 10^3 .. 10^6
devices' reports, and Dask training vs in-process. Each part runs in its own fresh process (its
script beside this one, which writes its own results page); this page puts their headline figures
beside the targets of issue 22.

    PYTHONPATH=.:runtimes/python .venv/bin/python benchmarks/fleet/bench_fleet.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from timing import arguments, machine_line, write_results

# part: (script, results stem, stem with --quick)
PARTS = {
    "polls": ("polls.py", "fleet_polls", "fleet_polls_quick"),
    "mirror sync": ("mirror_sync.py", "fleet_mirror_sync", "fleet_mirror_sync_quick"),
    "telemetry": ("telemetry.py", "fleet_telemetry", "fleet_telemetry_quick"),
    "training": ("training.py", "fleet_training", "fleet_training_quick"),
}


def run_parts(out: Path, quick: bool) -> dict[str, list[dict]]:
    found = {}
    for part, (script, stem, quick_stem) in PARTS.items():
        print(f"{part}: {script}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), "--out", str(out), *(["--quick"] if quick else [])], check=True)
        found[part] = json.loads((out / f"{quick_stem if quick else stem}.json").read_text())["results"]
    return found


def headlines(found: dict[str, list[dict]]) -> list[dict]:
    """One row per target of the issue: what was measured, and whether it is met."""
    rows = []
    for entry in found["polls"]:
        if entry["server"].startswith("nginx"):
            rows.append(_row("polls through nginx (304)", f"{entry['requests_per_second']:,.0f}/s, p99 {entry['p99_ms']:.1f} ms",
                             ">= 20 000/s, p99 <= 20 ms", entry["requests_per_second"] >= 20_000 and entry["p99_ms"] <= 20))
    for entry in found["telemetry"]:
        case = entry.get("case", "")
        if case.startswith("rollups: SQLite"):
            rows.append(_row(f"telemetry, {case.split(': ')[1]}", _rate(entry), ">= 1 000/s", entry["accepted_per_second"] >= 1_000))
        elif case.startswith("rollups: PostgreSQL, 2"):
            rows.append(_row(f"telemetry, {case.split(': ')[1]}", _rate(entry), ">= 3 000/s, p99 <= 100 ms",
                             entry["accepted_per_second"] >= 3_000 and entry["p99_ms"] <= 100))
        if "stored_reports" in entry and entry.get("tree") == "rollups":
            lost = entry["answered_202"] - entry["stored_reports"]
            rows.append(_row(f"nothing accepted lost ({case.split(': ')[1]})", f"{entry['answered_202']} answered 202, "
                             f"{entry['stored_reports']} in the rollups", "every 202 stored", lost <= 0))
    passes = [entry for entry in found["telemetry"] if "pass_seconds_median" in entry and not entry["filled"].startswith("before")]
    if passes:
        largest = max(passes, key=lambda entry: entry["devices"])
        rows.append(_row(f"monitor pass, {largest['devices']:,} devices' hourly reports", f"{largest['pass_seconds_median']:.2f} s",
                         "<= 1 s", largest["pass_seconds_median"] <= 1))
    jobs = {entry["job"]: entry for entry in found["training"]}
    if "in-process" in jobs:
        for name in ("dask-1", "dask-2"):
            if name in jobs:
                delta = 100 * (jobs["in-process"]["roc_auc"] - jobs[name]["roc_auc"]) / jobs["in-process"]["roc_auc"]
                rows.append(_row(f"Dask training, {name[-1]} worker(s)", f"{jobs[name]['wall_s']:.1f} s vs {jobs['in-process']['wall_s']:.1f} s "
                                 f"in-process; ROC AUC {abs(delta):.2f} % {'below' if delta > 0 else 'above'}", "within 0.5 %", delta <= 0.5))
    return rows


def _rate(entry: dict) -> str:
    return f"{entry['accepted_per_second']:,.0f}/s, p99 {entry['p99_ms']:.0f} ms"


def _row(what: str, measured: str, target: str, met: bool) -> dict:
    return {"what": what, "measured": measured, "target": target, "met": met}


def markdown(results: list[dict], machine: dict) -> str:
    lines = ["# Beyond one machine: the fleet's headline figures", "",
             (f"{machine_line(machine)}. Each part ran in a fresh process; its own page in this folder has the "
              "method and every figure (fleet_polls, fleet_mirror_sync, fleet_telemetry, fleet_training)."), "",
             "| what | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {row['what']} | {row['measured']} | {row['target']} | {'yes' if row['met'] else 'no'} |" for row in results]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "each part's quick run")
    found = run_parts(args.out, args.quick)
    print(write_results(args.out, "bench_fleet_quick" if args.quick else "bench_fleet", headlines(found), markdown).read_text())


if __name__ == "__main__":
    main()
