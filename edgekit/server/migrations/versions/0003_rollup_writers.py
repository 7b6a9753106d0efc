"""Rollup rows per server process: a ``writer`` column joins the rollups' unique key, so each
process adds its batches to rows of its own without a lock (ingest/telemetry.py). Rows written
before keep the empty writer.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GROUP = ["minute", "release", "profile", "tag_key", "assigned"]


def upgrade() -> None:
    op.add_column("telemetry_rollups", sa.Column("writer", sa.String(length=32), nullable=False, server_default=""))
    op.drop_index("ix_rollup_group", table_name="telemetry_rollups")
    op.create_index("ix_rollup_group", "telemetry_rollups", [*GROUP, "writer"], unique=True)
    op.execute("DELETE FROM locks WHERE name = 'telemetry'")  # the lock batches took before


def downgrade() -> None:
    """Merge each group's rows of every writer into one (the old unique key), then drop the column."""
    from edgekit.server.monitoring.totals import Totals

    rollups = sa.table("telemetry_rollups", sa.column("id", sa.Integer), *(sa.column(name) for name in GROUP),
                       sa.column("reports", sa.BigInteger), sa.column("sums", sa.JSON))
    connection = op.get_bind()
    merged: dict[tuple, tuple[int, Totals]] = {}
    surplus = []
    for row in connection.execute(sa.select(rollups).order_by(rollups.c.id)):
        group = tuple(getattr(row, name) for name in GROUP)
        if group in merged:
            merged[group][1].merge(Totals.from_json(row.sums))
            surplus.append(row.id)
        else:
            merged[group] = (row.id, Totals.from_json(row.sums))
    for row_id, totals in merged.values():
        connection.execute(sa.update(rollups).where(rollups.c.id == row_id).values(reports=totals.reports, sums=totals.as_json()))
    if surplus:
        connection.execute(sa.delete(rollups).where(rollups.c.id.in_(surplus)))
    op.drop_index("ix_rollup_group", table_name="telemetry_rollups")
    with op.batch_alter_table("telemetry_rollups") as batch:
        batch.drop_column("writer")
    op.create_index("ix_rollup_group", "telemetry_rollups", GROUP, unique=True)
    op.execute("INSERT INTO locks (name, taken) VALUES ('telemetry', 0)")
