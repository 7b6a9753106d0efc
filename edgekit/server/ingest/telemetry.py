"""Writing a batch of accepted telemetry reports: one transaction adds the batch's sums to the
minute's rollup rows, marks the devices seen and, when the debugging window is on
(``raw_telemetry_seconds``), keeps the raw reports. Every server process writes the same rows, so
each batch takes the ``telemetry`` lock row first (a row lock in PostgreSQL, the write lock in
SQLite) and reads, adds and writes under it: no two batches add to a row at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from ..db import Database, Device, Lock, TelemetryReport, TelemetryRollup
from ..settings import ServerSettings
from .assignment import Assignments
from .rollups import Accepted, RollupKey, added, summed


def write_telemetry(database: Database, settings: ServerSettings, batch: list[Accepted], assignments: Assignments | None = None) -> None:
    with database.session() as session:  # a transaction of its own: under SQLite a read before the write lock would spoil it
        assigned = (assignments or Assignments())(session, {report.release for report in batch})
    groups = summed(batch, assigned, seconds=settings.rollup_seconds)  # outside the lock: other processes' batches wait only for the read-add-write
    with database.session() as session:
        session.execute(update(Lock).where(Lock.name == "telemetry").values(taken=Lock.taken + 1))
        stored = {_key(row): row for row in session.execute(
            select(TelemetryRollup.id, TelemetryRollup.minute, TelemetryRollup.release, TelemetryRollup.profile,
                   TelemetryRollup.tags, TelemetryRollup.assigned, TelemetryRollup.sums)
            .where(TelemetryRollup.minute.in_({key.minute for key in groups}),
                   TelemetryRollup.release.in_({key.release for key in groups})))}
        changed, new = [], []
        for key, totals in groups.items():
            row = stored.get(key)
            total = added(row.sums if row is not None else None, totals)
            if row is not None:
                changed.append({"id": row.id, "reports": total.reports, "sums": total.as_json()})
            else:
                new.append({"minute": key.minute, "release": key.release, "profile": key.profile, "tags": list(key.tags),
                            "tag_key": key.tag_key, "assigned": key.assigned, "reports": total.reports, "sums": total.as_json()})
        if changed:
            session.execute(update(TelemetryRollup), changed)
        if new:
            session.execute(insert(TelemetryRollup), new)
        seen: dict[str, datetime] = {}
        for report in batch:
            seen[report.device_id] = max(report.received, seen.get(report.device_id, report.received))
        session.execute(update(Device), [{"id": device_id, "last_seen": at} for device_id, at in sorted(seen.items())])
        if settings.raw_telemetry_seconds > 0:
            session.execute(insert(TelemetryReport), [
                {"device_id": report.device_id, "received": report.received, "release": report.release or None,
                 "payload": report.payload} for report in batch])


def _key(row) -> RollupKey:
    return RollupKey(row.minute, row.release, row.profile, tuple(row.tags), bool(row.assigned))
