"""Telemetry rollups: per-minute sums per release x profile x device tag set x assigned
(ingest/), which the monitor reads instead of every raw report. The raw reports already stored
are rolled up here, the ``assigned`` flag computed against the rules current at the upgrade, and
kept for the monitor to prune past ``raw_telemetry_seconds``.

It reads the raw reports through today's models (db.py) and sums them with today's code: a later
migration that changes the devices, releases, rollouts or telemetry tables must freeze the
columns this one reads (the upgrade test from 0001 catches it); the rollups it writes are frozen below.

Revision ID: 0002
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op
from sqlalchemy import select
from sqlalchemy.orm import Session

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PAGE = 5000
# the table as this revision makes it (0003 adds a column): inserts name only these columns
ROLLUPS_0002 = sa.table("telemetry_rollups", sa.column("minute", sa.DateTime), sa.column("release", sa.String),
                        sa.column("profile", sa.String), sa.column("tags", sa.JSON), sa.column("tag_key", sa.String),
                        sa.column("assigned", sa.Boolean), sa.column("reports", sa.BigInteger), sa.column("sums", sa.JSON))


def upgrade() -> None:
    op.create_table(
        "telemetry_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("release", sa.String(length=300), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("tag_key", sa.String(length=64), nullable=False),
        sa.Column("assigned", sa.Boolean(), nullable=False),
        sa.Column("reports", sa.BigInteger(), nullable=False),
        sa.Column("sums", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollup_group", "telemetry_rollups", ["minute", "release", "profile", "tag_key", "assigned"], unique=True)
    _roll_up_stored_reports(Session(bind=op.get_bind()))


def _roll_up_stored_reports(session: Session) -> None:
    from edgekit.server.db import Device, TelemetryReport
    from edgekit.server.ingest.assignment import assignment
    from edgekit.server.ingest.rollups import Accepted, summed
    from edgekit.server.monitoring.totals import Totals

    paths = set(session.scalars(select(TelemetryReport.release).distinct()))
    assigned = assignment(session, {path for path in paths if path})
    groups: dict = defaultdict(Totals)
    last = 0
    while True:
        page = session.execute(
            select(TelemetryReport.id, TelemetryReport.device_id, TelemetryReport.release, TelemetryReport.payload,
                   TelemetryReport.received, Device.profile, Device.tags)
            .join(Device, Device.id == TelemetryReport.device_id).where(TelemetryReport.id > last)
            .order_by(TelemetryReport.id).limit(PAGE)).all()
        if not page:
            break
        reports = [Accepted(device_id, profile, tuple(tags or ()), release or "", payload, received)
                   for _, device_id, release, payload, received, profile, tags in page]
        for key, totals in summed(reports, assigned, seconds=60).items():  # this revision's one-minute buckets
            groups[key].merge(totals)
        last = page[-1][0]
    if groups:
        session.execute(sa.insert(ROLLUPS_0002), [
            {"minute": key.minute, "release": key.release, "profile": key.profile, "tags": list(key.tags), "tag_key": key.tag_key,
             "assigned": key.assigned, "reports": totals.reports, "sums": totals.as_json()} for key, totals in groups.items()])
    session.flush()


def downgrade() -> None:
    op.drop_index("ix_rollup_group", table_name="telemetry_rollups")
    op.drop_table("telemetry_rollups")
