"""Bringing a server's database to the newest schema with Alembic (``migrations/``), one process
at a time.

- a new database gets every migration from the first (``server init``);
- a home made before Alembic (tables, no ``alembic_version``) is brought to the first schema as
  edgekit did then (missing tables, missing nullable columns), stamped at it, then upgraded;
- any other database gets the migrations it lacks.

``edgekit server migrate`` runs it, and so does every command that opens a home (``server run``
in its parent process, before any worker starts; workers never migrate). Two processes upgrading
at once take turns: PostgreSQL's advisory lock, or a file lock beside a SQLite database.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from .db import Base, Database

FIRST = "0001"
# the tables of the first schema (0001), the ones a home made before Alembic may lack columns of
FIRST_TABLES = frozenset({"alerts", "api_keys", "audit_log", "device_events", "devices", "drift_points", "enrollment_tokens",
                          "idempotent_answers", "locks", "release_baselines", "releases", "rollout_gates", "rollouts",
                          "telemetry", "tuf_metadata"})
ADVISORY_KEY = 0x6564_6765_6B69_74  # "edgekit": one PostgreSQL advisory lock for every migrating process


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, to: str = "head") -> dict[str, str | None]:
    """Upgrade to ``to``; returns the revision before and after (equal when there was nothing to do)."""
    with _one_at_a_time(database):
        before = revision(database)
        config = _config()
        if before is None and set(inspect(database.engine).get_table_names()) & FIRST_TABLES:  # made before Alembic
            Base.metadata.create_all(database.engine, tables=[table for table in Base.metadata.sorted_tables
                                                              if table.name in FIRST_TABLES])
            database.add_missing_columns(set(FIRST_TABLES))
            with database.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.stamp(config, FIRST)
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, to)
        database.add_locks()
        return {"from": before, "to": revision(database)}


@contextmanager
def _one_at_a_time(database: Database) -> Iterator[None]:
    url = database.engine.url
    if url.get_backend_name() == "postgresql":
        with database.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                connection.commit()
    elif url.database and url.database != ":memory:":
        with open(f"{url.database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
    else:
        yield
