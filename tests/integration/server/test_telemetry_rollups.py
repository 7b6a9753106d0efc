"""Telemetry at fleet scale against real servers: reports from many devices at once are summed
into per-minute rollups in batches, and every report that got a 202 is in them — on SQLite with
one worker, on PostgreSQL with two, and while a worker is SIGKILLed and PostgreSQL restarts.
A home made with the first schema is upgraded by the migrations without losing anything."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from edgekit_runtime.archive import pack
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError
from tests_support import (
    edgekit_script,
    init_server,
    pi4_onnx,
    postgres_server,
    restart_postgres,
    start_server,
)

from edgekit.fleet.client import AdminClient
from edgekit.fleet.telemetry_load import enroll, send
from edgekit.server.db import (
    Database,
    Device,
    DriftPoint,
    Release,
    ReleaseBaseline,
    Rollout,
    TelemetryReport,
    TelemetryRollup,
    utcnow,
)
from edgekit.server.ingest.rollups import Accepted
from edgekit.server.ingest.telemetry import RollupWriter
from edgekit.server.migrate import head, revision, upgrade
from edgekit.server.monitoring.monitor import Monitor
from edgekit.server.settings import ServerSettings

MODEL, PROFILE, TARGET = "fleet", "raspberry-pi-4b", "fleet/1/onnx.tar"
LOAD_ENV = {"EDGEKIT_IP_RATE_PER_SECOND": "100000", "EDGEKIT_IP_BURST": "100000", "EDGEKIT_DEVICE_RATE_PER_SECOND": "1000",
            "EDGEKIT_DEVICE_BURST": "1000", "EDGEKIT_MONITOR_SECONDS": "3600"}


@pytest.fixture(scope="module")
def artifact(trained_bundle, tmp_path_factory) -> Path:
    return pi4_onnx(trained_bundle, tmp_path_factory.mktemp("rollups"), "onnx")[0]


def _serve(home: Path, artifact: Path, workers: int, *init_options: str):
    admin_key = init_server(home, *init_options)["admin_key"]
    process, url = start_server(home, {**LOAD_ENV, "EDGEKIT_WORKERS": str(workers)})
    admin = AdminClient(url, admin_key)
    upload = admin.upload(pack(artifact))
    admin.request("POST", "/v1/admin/releases", json={"model": MODEL, "upload": upload["sha256"], "profiles": [PROFILE]})
    admin.request("POST", "/v1/admin/rollouts", json={"model": MODEL, "stages": [100]})
    admin.close()
    return process, url, admin_key


def _stored(database_url: str) -> tuple[int, int]:
    """(reports, rows) summed over every rollup of the release."""
    database = Database(database_url)
    with database.session() as session:
        sums = list(session.scalars(select(TelemetryRollup.sums).where(TelemetryRollup.release == TARGET)))
    database.engine.dispose()
    return sum(entry["reports"] for entry in sums), sum(entry["rows"] for entry in sums)


async def _fleet(url: str, admin_key: str, devices: int):
    async with httpx.AsyncClient(timeout=30) as client:
        return await enroll(client, url, admin_key, devices, PROFILE, MODEL, TARGET, lambda index: [f"site-{index % 3}"])


def test_every_report_accepted_on_sqlite_is_in_the_rollups(artifact, tmp_path):
    process, url, admin_key = _serve(tmp_path / "home", artifact, 1)
    try:
        devices = asyncio.run(_fleet(url, admin_key, 40))
        result = asyncio.run(send([url], devices, TARGET, 1000, 48, seconds=60))
        assert result.answers == {"202": 1000}, result.answers
        reports, rows = _stored(f"sqlite:///{tmp_path / 'home' / 'server.db'}")
        assert (reports, rows) == (result.accepted_reports, result.accepted_rows)
        database = Database(f"sqlite:///{tmp_path / 'home' / 'server.db'}")
        with database.session() as session:
            groups = session.scalar(select(func.count()).select_from(TelemetryRollup))
            raw = session.scalar(select(func.count()).select_from(TelemetryReport))
            seen = session.scalar(select(func.count()).select_from(Device).where(Device.last_seen.is_not(None)))
        database.engine.dispose()
        assert groups <= 3 * 3 and raw == 0 and seen == 40  # 3 tag sets x the minutes of the run; no raw reports by default
    finally:
        process.terminate()
        process.wait(timeout=30)


def _workers(server: int) -> list[int]:
    """The uvicorn worker processes of ``edgekit server run`` (its children but multiprocessing's resource tracker)."""
    with open(f"/proc/{server}/task/{server}/children") as children:
        pids = [int(pid) for pid in children.read().split()]
    workers = []
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if b"resource_tracker" not in command:
            workers.append(pid)
    return workers


def test_two_workers_on_postgresql_lose_nothing_accepted_through_a_killed_worker_and_a_database_restart(artifact, tmp_path):
    with postgres_server() as database_url:
        process, url, admin_key = _serve(tmp_path / "home", artifact, 2, "--db", database_url)
        try:
            devices = asyncio.run(_fleet(url, admin_key, 40))
            calm = asyncio.run(send([url], devices, TARGET, 1000, 48, seconds=60))
            assert calm.answers == {"202": 1000}, calm.answers
            assert _stored(database_url) == (calm.accepted_reports, calm.accepted_rows)

            workers = _workers(process.pid)
            assert len(workers) == 2

            def faults() -> None:
                time.sleep(1.0)
                os.kill(workers[0], signal.SIGKILL)
                time.sleep(1.0)
                restart_postgres(database_url)

            injector = threading.Thread(target=faults)
            injector.start()
            stormy = asyncio.run(send([url], devices, TARGET, 100_000, 32, seconds=5, timeout=10))
            injector.join()
            reports, rows = _stored(database_url)
            stored = (reports - calm.accepted_reports, rows - calm.accepted_rows)
            # every 202 is stored; a report whose batch committed but whose worker died before answering is stored unanswered
            assert stored[0] >= stormy.accepted_reports and stored[1] >= stormy.accepted_rows, (stored, stormy.answers)
            assert stored[0] <= stormy.sent
            assert stormy.answers.get("500") is None, stormy.answers
            assert sum(count for answer, count in stormy.answers.items() if answer != "202") > 0, stormy.answers  # the faults hit

            deadline = time.monotonic() + 30  # the killed worker is replaced and the pool reconnects: the fleet recovers
            while time.monotonic() < deadline and len(_workers(process.pid)) < 2:
                time.sleep(0.2)
            after = asyncio.run(send([url], devices, TARGET, 200, 16, seconds=30))
            assert after.answers == {"202": 200}, after.answers
        finally:
            process.terminate()
            process.wait(timeout=30)


BASELINE = {"features": {"features": [{"name": "x", "kind": "numeric", "counts": [100] * 10, "missing": 0}]}, "predictions": {}}


def _old_home(database_url: str) -> Database:
    """A database at the first schema (0001) with a release, its baseline, a rollout, devices and raw reports."""
    database = Database(database_url)
    upgrade(database, "0001")
    now = utcnow()
    with database.engine.begin() as connection:
        connection.execute(insert(Release.__table__), [{"id": 1, "model": "old", "version": 1, "target": "onnx", "profiles": [PROFILE],
                                                        "target_path": "old/1/onnx.tar", "sha256": "0" * 64, "length": 1, "artifact": {},
                                                        "parity": {}, "bench": {}, "pins": [], "created": now, "created_by": "test"}])
        connection.execute(insert(ReleaseBaseline.__table__), [{"release_id": 1, "baseline": BASELINE}])
        connection.execute(insert(Rollout.__table__), [{"id": 1, "release_id": 1, "state": "active", "stages": [100], "stage": 0,
                                                        "salt": "s" * 16, "profiles": [], "tags": [], "history": [], "created": now}])
        connection.execute(insert(Device.__table__), [
            {"id": f"dev-{index}", "profile": PROFILE, "tags": [f"site-{index % 2}"], "token_hash": f"{index:064d}",
             "token_expires": now + timedelta(days=1), "revoked": False, "enrolled": now, "installed": "old/1/onnx.tar",
             "model": "old"} for index in range(10)])
        connection.execute(insert(TelemetryReport.__table__), [
            {"device_id": f"dev-{index % 10}", "received": now - timedelta(seconds=index), "release": "old/1/onnx.tar",
             "payload": {"counters": {"rows": 10, "histogram_rows": 10}, "features": {"x": {"counts": [1] * 10, "missing": 0}}}}
            for index in range(120)])
    return database


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_home_with_the_first_schema_is_upgraded_and_its_telemetry_rolled_up(engine, tmp_path):
    with postgres_server() if engine == "postgresql" else nullcontext(f"sqlite:///{tmp_path / 'old.db'}") as database_url:
        database = _old_home(database_url)
        assert revision(database) == "0001"
        assert upgrade(database) == {"from": "0001", "to": head()}
        assert upgrade(database) == {"from": head(), "to": head()}  # nothing twice
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(Device)) == 10
            assert session.scalar(select(func.count()).select_from(TelemetryReport)) == 120  # kept for the monitor to prune
            rollups = list(session.scalars(select(TelemetryRollup)))
        assert sum(row.reports for row in rollups) == 120 and sum(row.sums["rows"] for row in rollups) == 1200
        assert all(row.assigned for row in rollups) and {tuple(row.tags) for row in rollups} == {("site-0",), ("site-1",)}
        assert all(row.writer == "" for row in rollups)  # rolled up by the migration, not by a server process
        settings = ServerSettings(home=tmp_path, token_secret="x" * 40, db_url=database_url)
        result = Monitor(settings, database, lambda session: None).run_pass(force=True)
        assert result["groups"] == 3  # everyone, site-0, site-1
        with database.session() as session:
            points = {(point.cohort, point.rows) for point in session.scalars(select(DriftPoint))}
            assert session.scalar(select(func.count()).select_from(TelemetryReport)) == 0  # past the debugging window (0 s)
        assert points == {("*", 1200), ("site-0", 600), ("site-1", 600)}
        database.engine.dispose()


def test_server_migrate_reports_the_revision_and_refuses_what_is_not_a_home(tmp_path):
    init_server(tmp_path / "home")
    migrated = subprocess.run([edgekit_script(), "server", "migrate", "--home", str(tmp_path / "home"), "--json"],
                              capture_output=True, text=True, check=False)
    assert migrated.returncode == 0 and json.loads(migrated.stdout) == {"from": head(), "to": head()}, migrated.stderr
    missing = subprocess.run([edgekit_script(), "server", "migrate", "--home", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "not an edgekit server home" in missing.stderr, missing.stderr


def _batch(count: int, at: datetime = datetime(2026, 1, 1, 12, 0, 30)) -> list[Accepted]:
    """``count`` reports received at ``at`` (a fixed time: batches written across a minute's end would split the rows)."""
    return [Accepted(f"dev-{index}", PROFILE, (f"site-{index % 2}",), TARGET,
                     {"counters": {"rows": 10, "histogram_rows": 10}, "features": {"x": {"counts": [1] * 10, "missing": 0}}}, at)
            for index in range(count)]


def test_a_batch_that_fails_to_commit_counts_nothing_and_each_process_adds_to_rows_of_its_own(tmp_path):
    """The batch writer keeps its rows' sums in memory (ingest/telemetry.py): a batch whose
    transaction fails (here the devices table is gone while it writes) must leave them as committed,
    so the next batch adds to what the database holds; a second writer (another server process)
    writes rows of its own, and the rows of both add up to every committed report."""
    database_url = f"sqlite:///{tmp_path / 'rollups.db'}"
    database = Database(database_url)
    upgrade(database)
    settings = ServerSettings(home=tmp_path, token_secret="x" * 40, db_url=database_url)
    first, second = RollupWriter(database, settings), RollupWriter(database, settings)
    first.write(_batch(3))
    with database.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE devices RENAME TO devices_away")
    with pytest.raises(OperationalError):
        first.write(_batch(5))
    with database.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE devices_away RENAME TO devices")
    first.write(_batch(7))
    first.write(_batch(1, datetime(2026, 1, 1, 12, 30)))  # half an hour on: the writer forgets the 12:00 rows ...
    first.write(_batch(2, datetime(2026, 1, 1, 12, 0, 40)))  # ... and finds them again for a late batch
    second.write(_batch(11))
    with database.session() as session:
        rows = session.execute(select(TelemetryRollup.writer, TelemetryRollup.tags, TelemetryRollup.reports, TelemetryRollup.sums)).all()
    database.engine.dispose()
    assert sorted((writer == first.writer, tuple(tags), reports) for writer, tags, reports, _ in rows) == [
        (False, ("site-0",), 6), (False, ("site-1",), 5), (True, ("site-0",), 1), (True, ("site-0",), 7), (True, ("site-1",), 5)]
    assert sum(sums["rows"] for *_, sums in rows) == 10 * (3 + 7 + 1 + 2 + 11) and all(sums["reports"] == reports for *_, reports, sums in rows)


def test_downgrading_the_rollup_writers_merges_each_groups_rows_and_upgrading_again_keeps_them(tmp_path):
    from alembic import command

    from edgekit.server.migrate import _config

    database_url = f"sqlite:///{tmp_path / 'rollups.db'}"
    database = Database(database_url)
    upgrade(database)
    settings = ServerSettings(home=tmp_path, token_secret="x" * 40, db_url=database_url)
    for _ in range(3):  # three server processes, the same minute and groups
        RollupWriter(database, settings).write(_batch(4))
    with database.engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
        merged = connection.exec_driver_sql("SELECT tags, reports FROM telemetry_rollups ORDER BY tags").all()
    assert revision(database) == "0002" and [(json.loads(tags), reports) for tags, reports in merged] == [(["site-0"], 6), (["site-1"], 6)]
    upgrade(database)
    with database.session() as session:
        assert session.scalar(select(func.sum(TelemetryRollup.reports))) == 12
    database.engine.dispose()
