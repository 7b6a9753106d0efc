"""Writing batches of accepted telemetry reports: one transaction adds a batch's sums to the
rollup rows of their bucket (``rollup_seconds``), marks the devices seen and, when the debugging window is on
(``raw_telemetry_seconds``), keeps the raw reports.

Each server process writes rollup rows of its own (the ``writer`` column, new at every start) and
keeps the sums of its rows of the last few minutes in memory, so a batch takes no lock and never
waits for another process's batch: it inserts or overwrites its own few rows, and reads only when
a bucket is new to it. The monitor sums rows over buckets anyway, so it sums over writers too."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ..db import Database, Device, TelemetryReport, TelemetryRollup
from ..monitoring.totals import Totals
from ..settings import ServerSettings
from .assignment import Assignments
from .rollups import Accepted, RollupKey, added, summed

ROLLUPS, DEVICES = TelemetryRollup.__table__, Device.__table__
# Core statements built once: this runs for every batch, and the ORM's bulk paths cost more than the writes
OVERWRITE_ROLLUP = update(ROLLUPS).where(and_(
    ROLLUPS.c.writer == bindparam("b_writer"), ROLLUPS.c.minute == bindparam("b_minute"), ROLLUPS.c.release == bindparam("b_release"),
    ROLLUPS.c.profile == bindparam("b_profile"), ROLLUPS.c.tag_key == bindparam("b_tag_key"),
    ROLLUPS.c.assigned == bindparam("b_assigned"))).values(reports=bindparam("b_reports"), sums=bindparam("b_sums"))
# one statement for the batch's devices, seen when its newest report arrived (milliseconds apart):
# a row per device would be an executemany costing more than the rest of the batch on PostgreSQL
MARK_SEEN = update(DEVICES).where(DEVICES.c.id.in_(bindparam("b_ids", expanding=True))).values(last_seen=bindparam("b_at"))
# a batch's reports arrived seconds before its write: rows whose bucket ended longer ago get no more reports
KEPT_SECONDS = 180


class RollupWriter:
    """``write(batch)`` for one server process."""

    def __init__(self, database: Database, settings: ServerSettings, assignments: Assignments | None = None) -> None:
        self.database, self.settings = database, settings
        self.assignments = assignments or Assignments()
        self.writer = uuid.uuid4().hex
        self._sums: dict[RollupKey, Totals] = {}  # this writer's rows of the last KEPT_SECONDS, as committed

    def write(self, batch: list[Accepted]) -> None:
        with self.database.session() as session:  # a transaction of its own: under SQLite a read before the writes would spoil it
            assigned = self.assignments(session, {report.release for report in batch})
        groups = summed(batch, assigned, seconds=self.settings.rollup_seconds)
        with self.database.session() as session:
            # first: under SQLite this takes the write lock, so the read below cannot spoil the transaction
            session.execute(MARK_SEEN, {"b_ids": sorted({report.device_id for report in batch}),
                                        "b_at": max(report.received for report in batch)})
            missed = {key for key in groups if key not in self._sums}
            stored = {**self._sums, **(self._stored(session, missed) if missed else {})}
            written = {key: added(stored.get(key), totals) for key, totals in groups.items()}  # the memory is updated only after the commit
            overwritten = [_row(self.writer, key, total) for key, total in written.items() if key in stored]
            if overwritten:  # the statement's parameters are prefixed: Core keeps them apart from the columns they set
                session.execute(OVERWRITE_ROLLUP, [{f"b_{name}": value for name, value in row.items()} for row in overwritten])
            new = [_row(self.writer, key, total) for key, total in written.items() if key not in stored]
            if new:
                session.execute(insert(ROLLUPS), new)
            if self.settings.raw_telemetry_seconds > 0:
                session.execute(insert(TelemetryReport), [
                    {"device_id": report.device_id, "received": report.received, "release": report.release or None,
                     "payload": report.payload} for report in batch])
        self._sums.update(written)
        # key.minute is the bucket's start: a row is forgotten once its bucket ended KEPT_SECONDS before the newest began
        oldest = max(key.minute for key in self._sums) - timedelta(seconds=KEPT_SECONDS + self.settings.rollup_seconds)
        for key in [key for key in self._sums if key.minute < oldest]:
            del self._sums[key]

    def _stored(self, session: Session, keys: set[RollupKey]) -> dict[RollupKey, Totals]:
        """This writer's rows for ``keys`` that are no longer (or not yet) in memory: a new bucket's
        first batch finds none; a batch holding reports of an older bucket finds what it wrote."""
        rows = session.execute(select(ROLLUPS.c.minute, ROLLUPS.c.release, ROLLUPS.c.profile, ROLLUPS.c.tags, ROLLUPS.c.assigned,
                                      ROLLUPS.c.sums)
                               .where(ROLLUPS.c.writer == self.writer, ROLLUPS.c.minute.in_({key.minute for key in keys})))
        found = {RollupKey(row.minute, row.release, row.profile, tuple(row.tags), bool(row.assigned)): row.sums for row in rows}
        return {key: Totals.from_json(sums) for key, sums in found.items() if key in keys}


def _row(writer: str, key: RollupKey, total: Totals) -> dict:
    return {"writer": writer, "minute": key.minute, "release": key.release, "profile": key.profile, "tags": list(key.tags),
            "tag_key": key.tag_key, "assigned": key.assigned, "reports": total.reports, "sums": total.as_json()}
