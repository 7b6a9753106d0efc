"""Telemetry at fleet scale: ingest reports/s and p99 on SQLite (1 worker) and PostgreSQL (1 and
2 workers), and the monitor's pass time for 10^3 .. 10^6 devices' hourly reports.

  ingest    wrk (Debian package wrk, its own process on 127.0.0.1, bounded in time) POSTs telemetry
            reports with each device's own token, rotating over REPORTING_DEVICES devices, to
            `edgekit server run --workers N`; a report is a realistic body (12 features x 10 bins,
            predictions, latency buckets, 1.35 kB). Figures are 202s per second, wrk's p99 and the
            server processes' CPU time per 202 (/proc: steadier than 202/s on a shared machine);
            after the run the rollups' report count is compared with the 202s wrk saw.
            --before DIR runs the same load against the edgekit source tree in DIR (e.g. a
            `git archive` of the commit before rollups: one row per report) for before/after figures.
  monitor   one pass (Monitor.run_pass, median of 3) over an hour of rollups: 2 releases x 4 tag
            sets x 60 one-minute buckets (rollup_seconds' default), whatever the number of devices. For 10^3 and 10^4 devices the rollups
            are written by the server's own batch writer (ingest/telemetry.py) from one report per
            device; for 10^5 and 10^6 they are filled directly with the sums of that many reports
            (the same rows the writer would leave: writing 10^6 reports is the ingest benchmark's job).
            With --before a tree from before rollups, its pass over 10^3 .. 10^5 raw report rows (its bench_drift.py).
  writer    the batch writer alone (no HTTP): 500-report batches into SQLite and PostgreSQL, what
            the database side of ingest could take.

PostgreSQL is the test suite's private cluster (tests_support.postgres_server: fsync off).

    PYTHONPATH=.:runtimes/python .venv/bin/python benchmarks/fleet/telemetry.py [--out benchmarks/results] [--quick] [--before DIR]

Functions for a fleet benchmark to call: ingest_run(...), monitor_pass(...).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server_process import start_server
from timing import machine_line, write_results
from wrk_load import DONE_HOOK, free_port

ROOT = Path(__file__).resolve().parents[2]
REPORTING_DEVICES = 5_000
FEATURES, BINS = 12, 10
RELEASE = "fleet/1/onnx.tar"
PROFILE = "raspberry-pi-4b"
LOAD_ENV = {"EDGEKIT_IP_RATE_PER_SECOND": "1000000", "EDGEKIT_IP_BURST": "1000000", "EDGEKIT_DEVICE_RATE_PER_SECOND": "1000",
            "EDGEKIT_DEVICE_BURST": "1000", "EDGEKIT_MONITOR_SECONDS": "3600"}
TELEMETRY = """
local devices = {{}}
for line in io.lines({tokens!r}) do
  local id, token = line:match("([^ ]+) ([^ ]+)")
  devices[#devices + 1] = {{id, token}}
end
local body = io.open({body!r}):read("*a")
local counter = 0
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local device = devices[(counter % #devices) + 1]
  wrk.headers["Authorization"] = "Bearer " .. device[2]
  return wrk.format("POST", "/v1/devices/" .. device[1] .. "/telemetry", nil, body)
end
"""


def baseline() -> dict:
    features = [{"name": f"f{index}", "kind": "numeric", "counts": [100] * BINS, "missing": 0} for index in range(FEATURES)]
    return {"features": {"features": features}, "predictions": {"kind": "classes", "counts": [500, 500]}}


def report(rng: random.Random, rows: int = 100) -> dict:
    features = {}
    for index in range(FEATURES):
        counts = [0] * BINS
        for _ in range(rows):
            counts[min(BINS - 1, int(rng.random() * BINS))] += 1
        features[f"f{index}"] = {"counts": counts, "missing": 0, "violations": {}}
    return {"release": RELEASE, "period_seconds": 60, "counters": {"rows": rows, "histogram_rows": rows, "rows_with_violations": 0},
            "features": features, "predictions": {"kind": "classes", "counts": [rows // 2, rows - rows // 2]},
            "latency_us": {"buckets": [100.0, 200.0, 500.0, 1000.0, 2000.0], "counts": [rows - 5, 3, 1, 1, 0, 0]}}


def _fleet_home(home: Path, database_url: str | None, devices: int, source: Path) -> Path:
    """A server home (edgekit server init from ``source``) with one release, its baseline and a 100 %
    rollout, and ``devices`` devices running it, written straight into the database; returns the
    file of "id token" lines."""
    env = {**os.environ, "PYTHONPATH": f"{source}:{source / 'runtimes' / 'python'}"}
    subprocess.run([sys.executable, "-m", "edgekit.cli", "server", "init", "--home", str(home), "--json",
                    *(["--db", database_url] if database_url else [])], env=env, check=True, capture_output=True,
                   cwd=source)  # python -m puts the working directory first on sys.path: it must be the tree's
    from sqlalchemy import insert

    from edgekit.server.db import Database, Device, Release, ReleaseBaseline, Rollout, utcnow
    from edgekit.server.settings import load_settings
    from edgekit.server.tokens import new_token, token_hash

    settings = load_settings(home)
    database = Database(settings.database_url)
    now = utcnow()
    lines = []
    with database.session() as session:
        release = Release(model="fleet", version=1, target="onnx", profiles=[PROFILE], target_path=RELEASE, sha256="0" * 64, length=1,
                          artifact={}, parity={}, bench={}, pins=[], created_by="bench")
        session.add(release)
        session.flush()
        session.add(ReleaseBaseline(release_id=release.id, baseline=baseline()))
        session.add(Rollout(release_id=release.id, state="active", stages=[100], stage=0, salt="0" * 16, profiles=[], tags=[], history=[]))
        rows = []
        for index in range(devices):
            token = new_token("d")
            rows.append({"id": f"dev-{index:06d}", "profile": PROFILE, "tags": [f"site-{index % 4}"], "model": "fleet",
                         "token_hash": token_hash(settings.token_secret, token), "token_expires": now + timedelta(days=30),
                         "revoked": False, "enrolled": now, "installed": RELEASE})
            lines.append(f"dev-{index:06d} {token}")
        session.execute(insert(Device), rows)
    database.engine.dispose()
    tokens = home / "tokens.txt"
    tokens.write_text("\n".join(lines) + "\n")
    return tokens


def _stored_reports(home: Path) -> int | None:
    """Reports the rollups hold (None for a tree from before rollups: its raw rows are counted)."""
    from sqlalchemy import func, inspect, select

    from edgekit.server.db import Database, TelemetryReport, TelemetryRollup
    from edgekit.server.settings import load_settings

    database = Database(load_settings(home).database_url)
    try:
        with database.session() as session:
            if "telemetry_rollups" in inspect(database.engine).get_table_names():
                return int(session.scalar(select(func.sum(TelemetryRollup.reports))) or 0)
            return int(session.scalar(select(func.count()).select_from(TelemetryReport)) or 0)
    finally:
        database.engine.dispose()


def ingest_run(work: Path, workers: int, database_url: str | None, seconds: int, connections: int, source: Path = ROOT,
               label: str = "") -> dict:
    """One bounded wrk run of telemetry reports against a fresh home; reports/s, p99, and whether
    the rollups hold every 202."""
    home = work / f"home-{label or 'after'}-{workers}-{'pg' if database_url else 'sqlite'}-{time.monotonic_ns()}"
    tokens = _fleet_home(home, database_url, REPORTING_DEVICES, source)
    body = work / "report.json"
    body.write_text(json.dumps(report(random.Random(0))))
    script = work / "telemetry.lua"
    script.write_text(TELEMETRY.format(tokens=str(tokens), body=str(body)) + DONE_HOOK)
    port = free_port()
    process = start_server(home, port, workers, env=LOAD_ENV, source=source, settle_per_worker=1.0)
    try:
        cpu_before = _cpu_seconds(process.pid)
        result = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
                                 f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True, timeout=seconds + 60)
        cpu = _cpu_seconds(process.pid) - cpu_before
    finally:
        process.terminate()
        process.wait(timeout=60)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    accepted = summary["requests"] - summary["status_errors"]
    stored = _stored_reports(home)
    return {"case": f"{label or 'rollups'}: {'PostgreSQL' if database_url else 'SQLite'}, {workers} worker(s)",
            "workers": workers, "database": "postgresql" if database_url else "sqlite", "tree": label or "rollups",
            "connections": connections, "seconds": seconds, "accepted_per_second": round(accepted / (summary["duration_us"] / 1e6), 1),
            "p50_ms": summary["p50_us"] / 1000, "p99_ms": summary["p99_us"] / 1000, "non_2xx": summary["status_errors"],
            "socket_errors": summary["socket_errors"], "stored_reports": stored, "answered_202": accepted,
            "server_cpu_us_per_report": round(cpu / max(accepted, 1) * 1e6), "body_bytes": len(body.read_bytes())}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the uvicorn workers), from /proc:
    what a report costs the server, steadier than reports/s on a shared machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += _cpu_seconds(int(child))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return total + (int(fields[11]) + int(fields[12])) / ticks


def monitor_pass(work: Path, devices: int, direct: bool, repeats: int = 3) -> dict:
    """Median seconds of one monitor pass over an hour of rollups holding ``devices`` devices' hourly reports."""
    from sqlalchemy import insert

    from edgekit.server.db import Database, Device, Release, ReleaseBaseline, Rollout, TelemetryRollup, utcnow
    from edgekit.server.ingest.rollups import Accepted, RollupKey, summed
    from edgekit.server.ingest.telemetry import RollupWriter
    from edgekit.server.migrate import upgrade
    from edgekit.server.monitoring.monitor import Monitor
    from edgekit.server.monitoring.totals import Totals
    from edgekit.server.settings import ServerSettings

    home = work / f"monitor-{devices}"
    home.mkdir()
    settings = ServerSettings(home=home, token_secret="x" * 40)
    database = Database(settings.database_url)
    upgrade(database)
    rng = random.Random(devices)
    payloads = [report(rng) for _ in range(50)]
    now = utcnow()
    paths = [RELEASE, "fleet/2/onnx.tar"]
    with database.session() as session:
        for version, path in enumerate(paths, start=1):
            release = Release(model="fleet", version=version, target="onnx", profiles=[PROFILE], target_path=path, sha256=f"{version:064d}",
                              length=1, artifact={}, parity={}, bench={}, pins=[], created_by="bench")
            session.add(release)
            session.flush()
            session.add(ReleaseBaseline(release_id=release.id, baseline=baseline()))
            session.add(Rollout(release_id=release.id, state="active", stages=[50, 100], stage=0, salt="0" * 16, profiles=[], tags=[],
                                history=[]))
        session.execute(insert(Device), [{"id": f"dev-{index}", "profile": PROFILE, "tags": [f"site-{index % 4}"], "token_hash": f"{index:064d}",
                                          "token_expires": now, "revoked": False, "enrolled": now} for index in range(min(devices, 1000))])
    minutes = [now - timedelta(minutes=minute) for minute in range(60)]

    def accepted(index: int) -> Accepted:  # every 480 reports cover each tag set x release x minute once
        return Accepted(f"dev-{index % 1000}", PROFILE, (f"site-{index % 4}",), paths[index // 4 % 2], payloads[index % 50],
                        minutes[index // 8 % 60])

    started = time.perf_counter()
    if not direct:
        writer = RollupWriter(database, settings)
        for first in range(0, devices, 2000):
            writer.write([accepted(index) for index in range(first, min(devices, first + 2000))])
    else:  # the rows the writer would leave: each group-minute's sums of devices / 480 reports, half of them assigned
        per_group = devices // (2 * 4 * 60)
        rows = []
        for key, one in summed([accepted(index) for index in range(480)], lambda _: True,
                                  seconds=settings.rollup_seconds).items():
            for assigned, share in ((True, per_group // 2), (False, per_group - per_group // 2)):
                total = Totals()
                for _ in range(share):
                    total.merge(one)
                rows.append({"minute": key.minute, "release": key.release, "profile": key.profile, "tags": list(key.tags),
                             "tag_key": RollupKey(key.minute, key.release, key.profile, key.tags, assigned).tag_key,
                             "assigned": assigned, "reports": total.reports, "sums": total.as_json()})
        with database.session() as session:
            session.execute(insert(TelemetryRollup), rows)
    filled = time.perf_counter() - started
    monitor = Monitor(settings, database, lambda session: None)
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        result = monitor.run_pass(force=True)
        timings.append(time.perf_counter() - began)
    with database.session() as session:
        from sqlalchemy import func, select

        rollup_rows, reports = session.execute(select(func.count(), func.sum(TelemetryRollup.reports))).one()
    database.engine.dispose()
    return {"devices": devices, "filled": "directly" if direct else "by the batch writer", "rollup_rows": rollup_rows,
            "reports": int(reports), "groups": result["groups"], "fill_seconds": round(filled, 2),
            "pass_seconds_median": round(statistics.median(timings), 3)}


def monitor_pass_before(source: Path, reports: int) -> dict:
    """One monitor pass of the tree in ``source`` from before rollups (its benchmarks/bench_drift.py:
    ``reports`` raw rows from 100 devices, re-read and summed each pass)."""
    code = (f"import sys, json, tempfile, pathlib; sys.path.insert(0, {str(source / 'benchmarks')!r}); import bench_drift; "
            f"print(json.dumps(bench_drift.monitor_case({reports}, pathlib.Path(tempfile.mkdtemp()))))")
    env = {**os.environ, "PYTHONPATH": f"{source}:{source / 'runtimes' / 'python'}"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=900, cwd=source)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return {"devices": reports, "filled": "before: raw report rows", "rollup_rows": 0, "groups": measured["groups"],
            "reports": reports, "pass_seconds_median": measured["seconds_median"]}


def writer_capacity(work: Path, database_url: str | None, batch: int = 500, batches: int = 20) -> dict:
    """Reports per second the batch writer alone commits (ingest/telemetry.py, no HTTP): what the
    database side of ingest could take if request handling cost nothing."""
    from edgekit.server.db import utcnow
    from edgekit.server.ingest.rollups import Accepted
    from edgekit.server.ingest.telemetry import RollupWriter
    from edgekit.server.settings import load_settings

    home = work / f"writer-{'pg' if database_url else 'sqlite'}-{time.monotonic_ns()}"
    _fleet_home(home, database_url, 1000, ROOT)
    from edgekit.server.db import Database

    settings = load_settings(home)
    database = Database(settings.database_url)
    rng = random.Random(1)
    payloads = [report(rng) for _ in range(50)]
    writer = RollupWriter(database, settings)
    timings = []
    for round_ in range(batches):
        reports = [Accepted(f"dev-{index % 1000:06d}", PROFILE, (f"site-{index % 4}",), RELEASE, payloads[index % 50], utcnow())
                   for index in range(round_ * batch, (round_ + 1) * batch)]
        began = time.perf_counter()
        writer.write(reports)
        timings.append(time.perf_counter() - began)
    database.engine.dispose()
    median = statistics.median(timings)
    return {"writer": "PostgreSQL" if database_url else "SQLite", "batch": batch, "batch_ms_median": round(median * 1000, 1),
            "reports_per_second": round(batch / median)}


def markdown(results: list[dict], machine: dict) -> str:
    lines = ["# Telemetry at fleet scale: ingest and the monitor pass", "",
             f"{machine_line(machine)}; load average {machine.get('load', '?')} at the end (the machine is shared).", "",
             ("Ingest: wrk on 127.0.0.1 posting 1.35 kB reports with each device's own token (5 000 devices); the rollups "
              "hold the 202s wrk counted plus the requests in flight when it stopped (at most one per connection)."), "",
             "| case | connections | seconds | 202/s | p50 ms | p99 ms | server CPU µs/report | non-2xx | rollups hold (reports) | 202s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in results:
        if "accepted_per_second" in row:
            lines.append(f"| {row['case']} | {row['connections']} | {row['seconds']} | {row['accepted_per_second']} | {row['p50_ms']} | "
                         f"{row['p99_ms']} | {row.get('server_cpu_us_per_report', '')} | {row['non_2xx']} | {row['stored_reports']} | "
                         f"{row['answered_202']} |")
    lines += ["", "The batch writer alone (no HTTP), realistic reports:", "", "| database | batch | median batch | reports/s |", "|---|---|---|---|"]
    for row in results:
        if "writer" in row:
            lines.append(f"| {row['writer']} | {row['batch']} | {row['batch_ms_median']} ms | {row['reports_per_second']:,} |")
    lines += ["", "Monitor pass over one hour of rollups (2 releases x 4 tag sets x 60 minutes x assigned or not):", "",
              "| devices' hourly reports | stored as | rollup rows | groups judged | pass (median of 3) |", "|---|---|---|---|---|"]
    for row in results:
        if "pass_seconds_median" in row:
            lines.append(f"| {row['devices']:,} | {row['filled']} | {row['rollup_rows']} | {row['groups']} | {row['pass_seconds_median']} s |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--quick", action="store_true", help="5 s ingest runs, no PostgreSQL, monitor up to 10^5")
    parser.add_argument("--before", type=Path, help="an edgekit source tree to run the same ingest load against")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("the ingest benchmark needs wrk: apt-get install wrk")
    seconds = 5 if args.quick else args.seconds
    results = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgekit-bench-telemetry-")))
        postgres = None
        if not args.quick:
            sys.path.insert(0, str(ROOT / "tests"))
            from tests_support import postgres_server

            postgres = stack.enter_context(postgres_server())
        trees = [(args.before, "before")] if args.before else []
        trees.append((ROOT, ""))
        cases = [(1, None)] + ([(1, postgres), (2, postgres)] if postgres else [])
        for workers, database_url in cases:
            for source, label in trees:  # before and after back to back, under the same machine load
                if database_url:
                    _reset_postgres(database_url)
                results.append(ingest_run(work, workers, database_url, seconds, args.connections, source, label))
                print(json.dumps(results[-1]), flush=True)
        for database_url in [None] + ([postgres] if postgres else []):
            if database_url:
                _reset_postgres(database_url)
            results.append(writer_capacity(work, database_url))
            print(json.dumps(results[-1]), flush=True)
        if args.before and not (args.before / "edgekit" / "server" / "ingest" / "rollups.py").exists():  # a tree from before rollups
            for reports in (1_000, 10_000, 100_000):
                results.append(monitor_pass_before(args.before, reports))
                print(json.dumps(results[-1]), flush=True)
        for devices in (1_000, 10_000, 100_000) + (() if args.quick else (1_000_000,)):
            results.append(monitor_pass(work, devices, direct=devices > 10_000))
            print(json.dumps(results[-1]), flush=True)
    load = os.getloadavg()[0]
    print(write_results(args.out, "fleet_telemetry_quick" if args.quick else "fleet_telemetry", results, markdown, load=f"{load:.1f}").read_text())


def _reset_postgres(url: str) -> None:
    """An empty database for each run (a home's init refuses a database that holds a repository)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


if __name__ == "__main__":
    main()
